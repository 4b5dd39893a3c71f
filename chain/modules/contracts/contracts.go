package contracts

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/phala-go/phala/chain/amount"
	"github.com/phala-go/phala/chain/errcode"
	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/modules/accounts"
	"github.com/phala-go/phala/chain/modules/mq"
	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/contract/vm"
	"github.com/phala-go/phala/crypto/envelope"
	"github.com/phala-go/phala/crypto/keys"
)

// Name is the module's name in genesis, queries and keys.
const Name = "contracts"

// Error codes; stable across releases.
var (
	ErrInvalidCode        = errcode.New(Name, 1, "invalid contract code")
	ErrCodeNotFound       = errcode.New(Name, 2, "code not found")
	ErrContractNotFound   = errcode.New(Name, 3, "contract not found")
	ErrContractExists     = errcode.New(Name, 4, "contract already exists")
	ErrNotActive          = errcode.New(Name, 5, "contract not active")
	ErrPlainRefused       = errcode.New(Name, 6, "the contract accepts encrypted commands only")
	ErrStaleKey           = errcode.New(Name, 7, "not sealed to the newest key")
	ErrGasLimit           = errcode.New(Name, 8, "gas limit out of range")
	ErrPayloadTooLarge    = errcode.New(Name, 9, "payload too large")
	ErrInvalidParams      = errcode.New(Name, 10, "invalid params")
	ErrBadReport          = errcode.New(Name, 11, "invalid cluster report")
	ErrNotFound           = errcode.New(Name, 12, "not found")
	ErrInvalidGenesis     = errcode.New(Name, 13, "invalid genesis")
	ErrInvalidInstantiate = errcode.New(Name, 14, "invalid instantiation")
	ErrInvalidDeposit     = errcode.New(Name, 15, "invalid deposit")
)

// Topics of the contracts module.
const (
	// TopicRequest carries the chain's requests to clusters (module origin).
	TopicRequest = "phala/contracts/request"
	// TopicReport carries a cluster's answer to a request (cluster origin).
	TopicReport = "phala/contracts/report"
)

// PublicEventPrefix marks the events a contract publishes: the others stay in the receipt only
// the command's sender can read.
const PublicEventPrefix = "public/"

// Hard limits that no params may exceed.
const (
	// MaxStoredCodeSize bounds an upload: it must fit a transaction (tx.MaxBytes).
	MaxStoredCodeSize = 3 << 20
	// MaxCodeSize bounds uncompressed code.
	MaxCodeSize = 32 << 20
	MaxSaltLen  = 64
	// MaxReportEvents bounds the events one report publishes, MaxReportOutbound the messages and
	// transfers it sends.
	MaxReportEvents   = 64
	MaxReportOutbound = 64
)

// escrowAccount holds the prepaid gas of pending requests.
var escrowAccount = accounts.ModuleAccount([8]byte{'p', 'h', 'a', 'l', 'a', '/', 'c', 't'})

// EscrowAccount is the account that holds prepaid gas until the cluster reports.
func EscrowAccount() keys.AccountID { return escrowAccount }

// Module is the contracts module.
type Module struct {
	queue *mq.Module
}

// New returns the module; it enqueues its requests on queue.
func New(queue *mq.Module) *Module { return &Module{queue: queue} }

func (*Module) Name() string { return Name }

func (m *Module) Register(r *module.Router) {
	module.Handle(r, false, upload)
	module.Handle(r, false, m.instantiate)
	module.Handle(r, false, m.execute)
	module.Handle(r, false, m.deposit)
	module.Handle(r, true, setParams)
}

// ContractID is the id of a contract: SHA-256 over a domain and the length-prefixed deployer,
// code hash, cluster and salt, so the same deployer can place the same code in the same cluster
// several times with different salts, and anyone can compute the id before instantiation.
func ContractID(deployer keys.AccountID, codeHash, cluster, salt []byte) [32]byte {
	h := sha256.New()
	for _, part := range [][]byte{[]byte("phala/contract/v1"), deployer[:], codeHash, cluster, salt} {
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(part))))
		h.Write(part)
	}
	return [32]byte(h.Sum(nil))
}

func (m *MsgUploadCode) ValidateBasic() error {
	switch m.GetCompression() {
	case CompressionNone, CompressionZstd, CompressionGzip:
	default:
		return errcode.Wrapf(ErrInvalidCode, "compression %q, want zstd, gzip or none", m.GetCompression())
	}
	if n := len(m.GetCode()); n == 0 || n > MaxStoredCodeSize {
		return errcode.Wrapf(ErrInvalidCode, "%d bytes, want 1..%d", n, MaxStoredCodeSize)
	}
	return nil
}

func upload(ctx *module.Context, caller module.Caller, msg *MsgUploadCode) error {
	p := GetParams(ctx)
	if uint64(len(msg.GetCode())) > p.GetMaxStoredCodeSize() {
		return errcode.Wrapf(ErrInvalidCode, "%d bytes stored, the limit is %d: compress it (zstd)", len(msg.GetCode()), p.GetMaxStoredCodeSize())
	}
	wasm, err := Decompress(msg.GetCompression(), msg.GetCode(), p.GetMaxCodeSize())
	if err != nil {
		return err
	}
	if err := vm.Validate(wasm); err != nil {
		return errcode.Wrapf(ErrInvalidCode, "%v", err)
	}
	hash := CodeHash(wasm)
	if ctx.Get(codeKey(hash[:])) != nil {
		ctx.Emit("code_uploaded", module.Attr("code_hash", hex.EncodeToString(hash[:])), module.Attr("existing", "true"))
		return nil
	}
	c := &Code{Hash: hash[:], Size: uint64(len(wasm)), Compression: msg.GetCompression(), StoredSize: uint64(len(msg.GetCode())),
		Uploader: caller.Account[:], Height: ctx.Height}
	ctx.Set(codeKey(hash[:]), module.Marshal(c))
	ctx.Set(wasmKey(hash[:]), msg.GetCode())
	ctx.Emit("code_uploaded", module.Attr("code_hash", hex.EncodeToString(hash[:])), module.Attr("size", strconv.FormatUint(c.Size, 10)))
	return nil
}

func (m *MsgInstantiate) ValidateBasic() error {
	if len(m.GetCodeHash()) != 32 {
		return errcode.Wrapf(ErrInvalidInstantiate, "code hash of %d bytes, want 32", len(m.GetCodeHash()))
	}
	if len(m.GetCluster()) != registry.ClusterIDLen {
		return errcode.Wrapf(ErrInvalidInstantiate, "cluster id of %d bytes, want %d", len(m.GetCluster()), registry.ClusterIDLen)
	}
	if len(m.GetSalt()) > MaxSaltLen {
		return errcode.Wrapf(ErrInvalidInstantiate, "salt of %d bytes, at most %d", len(m.GetSalt()), MaxSaltLen)
	}
	if m.GetGasLimit() == 0 {
		return errcode.Wrapf(ErrGasLimit, "a gas limit is required")
	}
	return checkPayload(m.GetInit(), m.GetEncrypted())
}

func (m *MsgExecute) ValidateBasic() error {
	if len(m.GetContract()) != 32 {
		return errcode.Wrapf(ErrContractNotFound, "contract id of %d bytes, want 32", len(m.GetContract()))
	}
	if m.GetGasLimit() == 0 {
		return errcode.Wrapf(ErrGasLimit, "a gas limit is required")
	}
	return checkPayload(m.GetPayload(), m.GetEncrypted())
}

// checkPayload checks an encrypted payload is an envelope (the workers open it).
func checkPayload(payload []byte, encrypted bool) error {
	if !encrypted {
		return nil
	}
	if _, err := envelope.KEMOf(payload); err != nil {
		return errcode.Wrapf(ErrPayloadTooLarge, "encrypted payload is not an envelope: %v", err)
	}
	return nil
}

// prepay moves gasLimit * price from payer to escrow, after the checks that need params.
func prepay(ctx *module.Context, p *Params, payer keys.AccountID, gasLimit uint64, payloadLen int) (*Escrow, error) {
	if gasLimit > p.GetMaxGas() {
		return nil, errcode.Wrapf(ErrGasLimit, "%d gas, at most %d", gasLimit, p.GetMaxGas())
	}
	if uint64(payloadLen) > p.GetMaxPayload() {
		return nil, errcode.Wrapf(ErrPayloadTooLarge, "%d bytes, at most %d", payloadLen, p.GetMaxPayload())
	}
	price, _ := amount.Parse(p.GetGasPrice()) // validated with the params
	cost, err := price.MulUint64(gasLimit)
	if err != nil {
		return nil, errcode.Wrapf(ErrGasLimit, "gas cost overflows")
	}
	if !cost.IsZero() {
		if err := accounts.Transfer(ctx, payer, escrowAccount, cost); err != nil {
			return nil, fmt.Errorf("prepaying %d gas: %w", gasLimit, err)
		}
	}
	return &Escrow{Payer: payer[:], GasLimit: gasLimit, GasPrice: p.GetGasPrice()}, nil
}

func (m *Module) instantiate(ctx *module.Context, caller module.Caller, msg *MsgInstantiate) error {
	if caller.Council {
		return errcode.Wrapf(ErrInvalidInstantiate, "contracts are deployed by accounts")
	}
	if ctx.Get(codeKey(msg.GetCodeHash())) == nil {
		return errcode.Wrapf(ErrCodeNotFound, "%X: upload it first", msg.GetCodeHash())
	}
	c, err := registry.GetCluster(ctx, msg.GetCluster())
	if err != nil {
		return err
	}
	keys := c.GetKeys()
	if len(keys) == 0 {
		return errcode.Wrapf(ErrNotActive, "cluster %s has no published key yet", registry.ClusterLabel(c.GetId()))
	}
	newest := keys[len(keys)-1].GetGeneration()
	if msg.GetEncrypted() && msg.GetKeyGeneration() != newest {
		return errcode.Wrapf(ErrStaleKey, "init sealed to cluster key generation %d, the newest is %d", msg.GetKeyGeneration(), newest)
	}
	id := ContractID(caller.Account, msg.GetCodeHash(), msg.GetCluster(), msg.GetSalt())
	if ctx.Get(contractKey(id[:])) != nil {
		return errcode.Wrapf(ErrContractExists, "%X: choose another salt", id)
	}
	esc, err := prepay(ctx, GetParams(ctx), caller.Account, msg.GetGasLimit(), len(msg.GetInit()))
	if err != nil {
		return err
	}
	ct := &Contract{Id: id[:], CodeHash: msg.GetCodeHash(), Cluster: msg.GetCluster(), Deployer: caller.Account[:], Salt: msg.GetSalt(),
		Height: ctx.Height, AllowPlain: msg.GetAllowPlain(), Status: Contract_STATUS_PENDING}
	putContract(ctx, ct)
	ctx.Set(clusterContractKey(msg.GetCluster(), id[:]), []byte{1})
	ctx.Emit("contract_instantiated", module.Attr("contract", hex.EncodeToString(id[:])), module.Attr("deployer", caller.Account.String()),
		module.Attr("code_hash", hex.EncodeToString(msg.GetCodeHash())), module.Attr("cluster", registry.ClusterLabel(msg.GetCluster())))
	gen := msg.GetKeyGeneration()
	if !msg.GetEncrypted() {
		gen = newest
	}
	return m.request(ctx, msg.GetCluster(), esc, &Request{Kind: &Request_Instantiate{Instantiate: &InstantiateRequest{
		Contract: id[:], CodeHash: msg.GetCodeHash(), Deployer: caller.Account[:], Init: msg.GetInit(), Encrypted: msg.GetEncrypted(),
		KeyGeneration: gen, GasLimit: msg.GetGasLimit()}}})
}

func (m *Module) execute(ctx *module.Context, caller module.Caller, msg *MsgExecute) error {
	if caller.Council {
		return errcode.Wrapf(ErrNotActive, "commands come from accounts")
	}
	ct, err := GetContract(ctx, msg.GetContract())
	if err != nil {
		return err
	}
	if ct.GetStatus() != Contract_STATUS_ACTIVE {
		return errcode.Wrapf(ErrNotActive, "%X is %s", ct.GetId(), ct.GetStatus())
	}
	if !msg.GetEncrypted() && !ct.GetAllowPlain() {
		return errcode.Wrapf(ErrPlainRefused, "seal the payload to the contract's key (phala contract exec does)")
	}
	newest := ct.GetKeys()[len(ct.GetKeys())-1].GetClusterGeneration()
	if msg.GetEncrypted() && msg.GetKeyGeneration() != newest {
		return errcode.Wrapf(ErrStaleKey, "payload sealed to key generation %d, the contract's newest is %d: fetch its keys again", msg.GetKeyGeneration(), newest)
	}
	esc, err := prepay(ctx, GetParams(ctx), caller.Account, msg.GetGasLimit(), len(msg.GetPayload()))
	if err != nil {
		return err
	}
	n := ct.GetCommands()
	ct.Commands++
	putContract(ctx, ct)
	ctx.Emit("contract_command", module.Attr("contract", hex.EncodeToString(ct.GetId())), module.Attr("sender", caller.Account.String()),
		module.Attr("command", strconv.FormatUint(n, 10)))
	return m.request(ctx, ct.GetCluster(), esc, &Request{Kind: &Request_Command{Command: &CommandRequest{
		Contract: ct.GetId(), Sender: caller.Account[:], Payload: msg.GetPayload(), Encrypted: msg.GetEncrypted(),
		KeyGeneration: msg.GetKeyGeneration(), GasLimit: msg.GetGasLimit(), Command: n}}})
}

// request numbers a request within its cluster, records what its report must settle, and
// enqueues it for the cluster's workers.
func (m *Module) request(ctx *module.Context, cluster []byte, esc *Escrow, r *Request) error {
	q := GetQueue(ctx, cluster)
	r.Cluster, r.Seq, r.Height, r.Time = cluster, q.GetNext(), ctx.Height, ctx.Time.UnixNano()
	q.Next++
	ctx.Set(queueKey(cluster), module.Marshal(q))
	ctx.Set(requestHeightKey(cluster, r.Seq), binary.BigEndian.AppendUint64(nil, uint64(ctx.Height)))
	ctx.Set(pendingKey(cluster, r.Seq), module.Marshal(&Pending{Request: summary(r), Escrow: esc}))
	return m.queue.Enqueue(ctx, &mq.Message{Origin: mq.ModuleOrigin(Name), Topic: TopicRequest, Payload: module.Marshal(r)})
}

// summary is a request without its payload: what the report is checked against.
func summary(r *Request) *Request {
	s := &Request{Cluster: r.GetCluster(), Seq: r.GetSeq(), Height: r.GetHeight(), Time: r.GetTime()}
	switch k := r.GetKind().(type) {
	case *Request_Instantiate:
		s.Kind = &Request_Instantiate{Instantiate: &InstantiateRequest{Contract: k.Instantiate.GetContract(), KeyGeneration: k.Instantiate.GetKeyGeneration()}}
	case *Request_Command:
		s.Kind = &Request_Command{Command: &CommandRequest{Contract: k.Command.GetContract(), Command: k.Command.GetCommand()}}
	case *Request_Message:
		s.Kind = &Request_Message{Message: &MessageRequest{From: k.Message.GetFrom(), To: k.Message.GetTo(), Number: k.Message.GetNumber()}}
	case *Request_Rekey, *Request_Bounce, *Request_Deposit:
		s.Kind = r.GetKind()
	}
	return s
}

// Target is the contract a request runs.
func (r *Request) Target() []byte {
	switch k := r.GetKind().(type) {
	case *Request_Instantiate:
		return k.Instantiate.GetContract()
	case *Request_Command:
		return k.Command.GetContract()
	case *Request_Rekey:
		return k.Rekey.GetContract()
	case *Request_Message:
		return k.Message.GetTo()
	case *Request_Bounce:
		return k.Bounce.GetContract()
	case *Request_Deposit:
		return k.Deposit.GetContract()
	}
	return nil
}

func (m *MsgDeposit) ValidateBasic() error {
	if len(m.GetContract()) != 32 {
		return errcode.Wrapf(ErrContractNotFound, "contract id of %d bytes, want 32", len(m.GetContract()))
	}
	if a, err := amount.Parse(m.GetAmount()); err != nil || a.IsZero() {
		return errcode.Wrapf(ErrInvalidDeposit, "amount %q: want a positive amount in the smallest unit", m.GetAmount())
	}
	if m.GetGasLimit() == 0 {
		return errcode.Wrapf(ErrGasLimit, "a gas limit is required")
	}
	return nil
}

// deposit moves funds to a contract's account and has the contract notified; if the contract
// refuses them, the report gives them back.
func (m *Module) deposit(ctx *module.Context, caller module.Caller, msg *MsgDeposit) error {
	if caller.Council {
		return errcode.Wrapf(ErrInvalidDeposit, "deposits come from accounts")
	}
	ct, err := GetContract(ctx, msg.GetContract())
	if err != nil {
		return err
	}
	if ct.GetStatus() != Contract_STATUS_ACTIVE {
		return errcode.Wrapf(ErrNotActive, "%X is %s", ct.GetId(), ct.GetStatus())
	}
	amt, _ := amount.Parse(msg.GetAmount()) // checked by ValidateBasic
	esc, err := prepay(ctx, GetParams(ctx), caller.Account, msg.GetGasLimit(), 0)
	if err != nil {
		return err
	}
	if err := accounts.Transfer(ctx, caller.Account, keys.AccountID(ct.GetId()), amt); err != nil {
		return err
	}
	ctx.Emit("contract_deposit", module.Attr("contract", hex.EncodeToString(ct.GetId())), module.Attr("from", caller.Account.String()),
		module.Attr("amount", amt.String()))
	return m.request(ctx, ct.GetCluster(), esc, &Request{Kind: &Request_Deposit{Deposit: &DepositRequest{
		Contract: ct.GetId(), From: caller.Account[:], Amount: amt.String(), GasLimit: msg.GetGasLimit()}}})
}

func (m *MsgSetParams) ValidateBasic() error { return validateParams(m.GetParams()) }

func validateParams(p *Params) error {
	if p == nil {
		return errcode.Wrapf(ErrInvalidParams, "missing")
	}
	if _, err := amount.Parse(p.GetGasPrice()); err != nil {
		return errcode.Wrapf(ErrInvalidParams, "gas_price: %v", err)
	}
	switch {
	case p.GetMaxGas() == 0:
		return errcode.Wrapf(ErrInvalidParams, "max_gas must be positive")
	case p.GetMaxStoredCodeSize() == 0 || p.GetMaxStoredCodeSize() > MaxStoredCodeSize:
		return errcode.Wrapf(ErrInvalidParams, "max_stored_code_size %d, want 1..%d", p.GetMaxStoredCodeSize(), MaxStoredCodeSize)
	case p.GetMaxCodeSize() == 0 || p.GetMaxCodeSize() > MaxCodeSize:
		return errcode.Wrapf(ErrInvalidParams, "max_code_size %d, want 1..%d", p.GetMaxCodeSize(), MaxCodeSize)
	case p.GetMaxPayload() == 0 || p.GetMaxPayload() > mq.MaxPayload/2:
		return errcode.Wrapf(ErrInvalidParams, "max_payload %d, want 1..%d (a request must fit a message)", p.GetMaxPayload(), mq.MaxPayload/2)
	case p.GetBounceGas() == 0 || p.GetBounceGas() > p.GetMaxGas():
		return errcode.Wrapf(ErrInvalidParams, "bounce_gas %d, want 1..max_gas", p.GetBounceGas())
	}
	return nil
}

func setParams(ctx *module.Context, _ module.Caller, msg *MsgSetParams) error {
	ctx.Set(keyParams, module.Marshal(msg.GetParams()))
	ctx.Emit("contracts_params_set")
	return nil
}
