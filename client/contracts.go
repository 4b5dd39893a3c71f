package client

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/proto"

	"github.com/phala-go/phala/chain/modules/contracts"
	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/crypto/envelope"
	"github.com/phala-go/phala/crypto/keys"
)

// DefaultGasLimit is the gas limit of an instantiation or a command when none is given: 10^9
// gas, about half a second of Wasm, prepaying 0.1 PHA at the default price. The cluster's report
// refunds what the call did not use (a token transfer uses about 0.55 million).
const DefaultGasLimit uint64 = 1_000_000_000

var (
	// ErrNoKey is returned when a cluster or contract has published no encryption key to seal to.
	ErrNoKey = errors.New("no published encryption key")
	// ErrInstantiationFailed is returned when the cluster reported the instantiation as failed;
	// the error names the outcome class; the deployer's receipt has the details.
	ErrInstantiationFailed = errors.New("contract instantiation failed")
	// ErrNoAnswer is returned when the context ends before the cluster reported.
	ErrNoAnswer = errors.New("the cluster has not answered yet")
	// ErrMalformedEvent is returned when the node's events lack an attribute the chain emits.
	ErrMalformedEvent = errors.New("malformed event from the node")
)

// pollInterval paces the waits for a cluster's report: about a block.
const pollInterval = 200 * time.Millisecond

// InstantiateOptions tune Instantiate; the zero value seals init and uses DefaultGasLimit.
type InstantiateOptions struct {
	// Plain sends init unencrypted: it becomes public on chain.
	Plain bool
	// AllowPlain lets the contract accept unencrypted commands.
	AllowPlain bool
	// GasLimit is prepaid at the gas price; 0 means DefaultGasLimit.
	GasLimit uint64
	Tx       TxOptions
}

// ExecuteOptions tune Execute; the zero value seals the input and uses DefaultGasLimit.
type ExecuteOptions struct {
	// Plain sends the input unencrypted, which only contracts deployed with AllowPlain accept.
	Plain bool
	// GasLimit is prepaid at the gas price; 0 means DefaultGasLimit.
	GasLimit uint64
	Tx       TxOptions
}

// Execution is a command's outcome as its cluster reported it.
type Execution struct {
	Contract [32]byte
	Command  uint64
	// Outcome is "ok" or the failure class ("decrypt", "out_of_gas", "trap", "contract_error",
	// "limit", "abi", "invalid"); the sender's receipt has the details.
	Outcome string
	GasUsed uint64
	// Height and TxHash locate the transaction that delivered the report.
	Height int64
	TxHash string
	// Events are the events the command published (public topics).
	Events []ContractEvent
	// Sent are the messages the command sent (its own and those of contracts it called), in
	// order, as the chain routed them with the report.
	Sent []SentMessage
}

// SentMessage is a message a contract sent, as the chain routed it.
type SentMessage struct {
	From, To [32]byte
	Number   uint64
	// Bounced is why the chain sent the message back at once (no active contract at the
	// address, the sender's account cannot pay its gas, ...); "" when it was queued for the
	// receiver's cluster (WaitDelivered follows it there).
	Bounced string
}

// Delivery is what became of a contract message at its receiver.
type Delivery struct {
	From, To [32]byte
	Number   uint64
	// Outcome is the receiver's, as for a command: "ok", or the failure class (the message
	// then bounced to its sender).
	Outcome string
	// Height and TxHash locate the transaction that delivered the receiver's report.
	Height int64
	TxHash string
}

// ContractEvent is an event a contract published.
type ContractEvent struct {
	Topic string
	Data  []byte
}

// UploadCode uploads wasm, compressed with zstd; the code hash (contracts.CodeHash) is returned
// even when the upload fails. As with Submit, a refusal before inclusion is the error and
// TxResult is nil; a failure in the block returns TxResult and its Err.
func (c *Client) UploadCode(ctx context.Context, key keys.PrivateKey, wasm []byte, opts TxOptions) ([32]byte, *TxResult, error) {
	hash := contracts.CodeHash(wasm)
	stored, compression, err := compressCode(wasm)
	if err != nil {
		return hash, nil, err
	}
	res, err := c.Submit(ctx, key, opts, &contracts.MsgUploadCode{Code: stored, Compression: compression})
	if err != nil {
		return hash, nil, err
	}
	return hash, res, res.Err
}

// minCompressedCode is the size below which code is stored uncompressed: the chain reads code
// back with its exact size as the zstd memory bound, which tiny frames (under about 1 KiB)
// exceed, and compressing them saves nothing worth a fee.
const minCompressedCode = 4 << 10

// compressCode returns code as uploaded and its compression. zstd's best level: a Go contract
// (3.5 MB) takes about 0.35 s and comes out 6% smaller than at the next level, and an upload's
// fee grows with its size. One encoder per call with concurrency 1: no goroutine outlives it.
func compressCode(wasm []byte) ([]byte, string, error) {
	if len(wasm) < minCompressedCode {
		return wasm, contracts.CompressionNone, nil
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, "", fmt.Errorf("zstd: %w", err)
	}
	defer enc.Close()
	stored := enc.EncodeAll(wasm, nil)
	if len(stored) >= len(wasm) {
		return wasm, contracts.CompressionNone, nil
	}
	return stored, contracts.CompressionZstd, nil
}

// Instantiate creates a contract from uploaded code in a cluster and waits, polling the chain
// until ctx ends, for the cluster's report. init is the instantiate message (JSON for SDK
// contracts); unless opts.Plain it is sealed to the cluster's newest published key (X-Wing when
// published), bound to the contract id and the deployer. It returns the contract as the chain
// holds it: ACTIVE, or FAILED with ErrInstantiationFailed, or still PENDING with ErrNoAnswer
// when ctx ended first; nil when the transaction did not succeed or the contract was unreadable.
func (c *Client) Instantiate(ctx context.Context, key keys.PrivateKey, codeHash, cluster, salt, init []byte, opts InstantiateOptions) (*contracts.Contract, *TxResult, error) {
	deployer := key.Public().AccountID()
	res, err := c.submitFresh(ctx, key, opts.Tx, func() (proto.Message, error) {
		var ck *registry.ClusterKey
		if !opts.Plain {
			var err error
			if ck, err = c.ClusterKeys(ctx, cluster); err != nil {
				return nil, err
			}
		}
		msg, _, err := instantiateMsg(deployer, codeHash, cluster, salt, init, ck, opts)
		return msg, err
	})
	if err != nil {
		return nil, nil, err
	}
	if res.Err != nil {
		return nil, res, res.Err
	}
	id := contracts.ContractID(deployer, codeHash, cluster, salt)
	ct, err := c.waitReady(ctx, id[:])
	return ct, res, err
}

// submitFresh submits the message build makes, and once more with a rebuilt one when the chain
// refused it, before or in the block, as sealed to a key that was replaced meanwhile (a cluster
// moves to a new key generation when a worker leaves it).
func (c *Client) submitFresh(ctx context.Context, key keys.PrivateKey, opts TxOptions, build func() (proto.Message, error)) (*TxResult, error) {
	for attempt := 0; ; attempt++ {
		msg, err := build()
		if err != nil {
			return nil, err
		}
		res, err := c.Submit(ctx, key, opts, msg)
		stale := errors.Is(err, contracts.ErrStaleKey) || (err == nil && errors.Is(res.Err, contracts.ErrStaleKey))
		if !stale || attempt > 0 {
			return res, err
		}
	}
}

// instantiateMsg builds the instantiation, sealing init to ck unless opts.Plain, and returns
// the contract id it will have.
func instantiateMsg(deployer keys.AccountID, codeHash, cluster, salt, init []byte, ck *registry.ClusterKey, opts InstantiateOptions) (*contracts.MsgInstantiate, [32]byte, error) {
	id := contracts.ContractID(deployer, codeHash, cluster, salt)
	msg := &contracts.MsgInstantiate{CodeHash: codeHash, Cluster: cluster, Salt: salt, Init: init, GasLimit: gasLimit(opts.GasLimit),
		AllowPlain: opts.AllowPlain}
	if opts.Plain {
		return msg, id, nil
	}
	if ck == nil || string(ck.GetCluster()) != string(cluster) {
		return nil, id, fmt.Errorf("%w: no key of cluster %s to seal the init message to", ErrNoKey, registry.ClusterLabel(cluster))
	}
	env, err := sealCommand(ck.GetEncryptionKeys(), id[:], deployer, init)
	if err != nil {
		return nil, id, fmt.Errorf("cluster %s key generation %d: %w", registry.ClusterLabel(cluster), ck.GetGeneration(), err)
	}
	msg.Init, msg.Encrypted, msg.KeyGeneration = env, true, ck.GetGeneration()
	return msg, id, nil
}

// waitReady polls a contract until its cluster reported the instantiation.
func (c *Client) waitReady(ctx context.Context, id []byte) (*contracts.Contract, error) {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		ct, err := c.Contract(ctx, id)
		if err != nil && ctx.Err() == nil {
			return nil, err
		}
		switch {
		case err != nil:
		case ct.GetStatus() == contracts.Contract_STATUS_ACTIVE:
			return ct, nil
		case ct.GetStatus() == contracts.Contract_STATUS_FAILED:
			return ct, fmt.Errorf("%w: outcome %q", ErrInstantiationFailed, ct.GetError())
		}
		select {
		case <-ctx.Done():
			return ct, fmt.Errorf("%w: contract %X is still pending (%v); check it later", ErrNoAnswer, id, ctx.Err())
		case <-tick.C:
		}
	}
}

// Execute sends a command to a contract and returns its number (receipts and WaitExecuted
// look it up by it). input is the command (JSON for SDK contracts); unless opts.Plain it is
// sealed to the contract's newest key (X-Wing when published), bound to the contract id and
// the sender. The command runs when its cluster gets to it: WaitExecuted waits for the outcome.
func (c *Client) Execute(ctx context.Context, key keys.PrivateKey, contract, input []byte, opts ExecuteOptions) (uint64, *TxResult, error) {
	sender := key.Public().AccountID()
	res, err := c.submitFresh(ctx, key, opts.Tx, func() (proto.Message, error) {
		ct, err := c.Contract(ctx, contract)
		if err != nil {
			return nil, err
		}
		return executeMsg(sender, ct, input, opts)
	})
	if err != nil {
		return 0, nil, err
	}
	if res.Err != nil {
		return 0, res, res.Err
	}
	v, ok := res.Attr("contract_command", "command")
	n, err := strconv.ParseUint(v, 10, 64)
	if !ok || err != nil {
		return 0, res, fmt.Errorf("%w: transaction %s has no contract_command number", ErrMalformedEvent, res.Hash)
	}
	return n, res, nil
}

// executeMsg builds a command to ct, sealed to its newest key unless opts.Plain. It refuses
// early what the chain would refuse anyway.
func executeMsg(sender keys.AccountID, ct *contracts.Contract, input []byte, opts ExecuteOptions) (*contracts.MsgExecute, error) {
	if ct.GetStatus() != contracts.Contract_STATUS_ACTIVE {
		return nil, fmt.Errorf("%w: %X is %s", contracts.ErrNotActive, ct.GetId(), ct.GetStatus())
	}
	msg := &contracts.MsgExecute{Contract: ct.GetId(), Payload: input, GasLimit: gasLimit(opts.GasLimit)}
	if opts.Plain {
		if !ct.GetAllowPlain() {
			return nil, fmt.Errorf("%w: %X was deployed without allow_plain", contracts.ErrPlainRefused, ct.GetId())
		}
		return msg, nil
	}
	ks := ct.GetKeys()
	if len(ks) == 0 {
		return nil, fmt.Errorf("%w: contract %X has no keys", ErrNoKey, ct.GetId())
	}
	newest := ks[len(ks)-1]
	env, err := sealCommand(newest.GetEncryptionKeys(), ct.GetId(), sender, input)
	if err != nil {
		return nil, fmt.Errorf("contract %X key generation %d: %w", ct.GetId(), newest.GetClusterGeneration(), err)
	}
	msg.Payload, msg.Encrypted, msg.KeyGeneration = env, true, newest.GetClusterGeneration()
	return msg, nil
}

// sealCommand seals a command (or init message) to the X-Wing key of ks, or its X25519 key when
// it has no X-Wing key: purpose phala/command/v1, context the contract id, associated data the
// sender's account id, as the workers open it.
func sealCommand(ks []*registry.EncryptionKey, contract []byte, sender keys.AccountID, plaintext []byte) ([]byte, error) {
	var pub *envelope.PublicKey
	for _, want := range []envelope.KEM{envelope.XWing, envelope.X25519} {
		for _, k := range ks {
			if pub == nil && envelope.KEM(k.GetKem()) == want {
				pub = &envelope.PublicKey{KEM: want, Key: k.GetPublicKey()}
			}
		}
	}
	if pub == nil {
		return nil, fmt.Errorf("%w: neither an X-Wing nor an X25519 key among %d", ErrNoKey, len(ks))
	}
	return envelope.Seal(*pub, envelope.PurposeCommand, contract, sender[:], plaintext)
}

func gasLimit(n uint64) uint64 {
	if n == 0 {
		return DefaultGasLimit
	}
	return n
}

// WaitExecuted waits until ctx ends for the report of a contract's command and returns its
// outcome. It searches the node's transaction index for the contract_executed event of that
// contract and command: the event is emitted once, in the transaction that delivered the
// cluster's report, and stays findable later (unlike a subscription, which misses reports
// that landed before it started; and unlike the queue's counters, it names the command).
// The node must index transactions (the default); a failed command is not an error here:
// read Execution.Outcome.
func (c *Client) WaitExecuted(ctx context.Context, contract []byte, command uint64) (*Execution, error) {
	id := hex.EncodeToString(contract)
	n := strconv.FormatUint(command, 10)
	query := fmt.Sprintf("contract_executed.contract='%s' AND contract_executed.command='%s'", id, n)
	var found *Execution
	err := c.waitEvent(ctx, query, func(r *TxResult) (bool, error) {
		var err error
		found, err = findExecution(r, id, n)
		return found != nil, err
	})
	if errors.Is(err, ErrNoAnswer) {
		return nil, fmt.Errorf("command %d of contract %X: %w", command, contract, err)
	}
	return found, err
}

// waitEvent polls the transaction index with query until match accepts one of the successful
// transactions found, or ctx ends (ErrNoAnswer).
func (c *Client) waitEvent(ctx context.Context, query string, match func(*TxResult) (bool, error)) error {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		found, err := c.searchTxs(ctx, query, match)
		if err != nil && ctx.Err() == nil {
			return err
		}
		if found {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (%v)", ErrNoAnswer, ctx.Err())
		case <-tick.C:
		}
	}
}

// searchTxs runs one transaction search and offers each successful result to match.
func (c *Client) searchTxs(ctx context.Context, query string, match func(*TxResult) (bool, error)) (bool, error) {
	page, perPage := 1, 100
	res, err := c.rpc.TxSearch(ctx, query, false, &page, &perPage, "asc")
	if err != nil {
		return false, fmt.Errorf("searching transactions (%s): %w", query, err)
	}
	for _, found := range res.Txs {
		r, err := c.Tx(ctx, found.Hash.String())
		if err != nil {
			return false, err
		}
		if r.Err != nil {
			continue
		}
		ok, err := match(r)
		if ok || err != nil {
			return ok, err
		}
	}
	return false, nil
}

// findExecution reads command n of contract id (hex) from a report transaction's events: its
// contract_executed event and the contract_event events that directly follow it, which the
// chain emits for the same report.
func findExecution(r *TxResult, id, n string) (*Execution, error) {
	for i, e := range r.Events {
		if e.Type != "contract_executed" || e.Attributes["contract"] != id || e.Attributes["command"] != n {
			continue
		}
		contract, err := hex.DecodeString(id)
		if err != nil || len(contract) != 32 {
			return nil, fmt.Errorf("%w: contract id %q", ErrMalformedEvent, id)
		}
		command, err1 := strconv.ParseUint(n, 10, 64)
		gas, err2 := strconv.ParseUint(e.Attributes["gas_used"], 10, 64)
		outcome := e.Attributes["outcome"]
		if err1 != nil || err2 != nil || outcome == "" {
			return nil, fmt.Errorf("%w: contract_executed in transaction %s", ErrMalformedEvent, r.Hash)
		}
		x := &Execution{Contract: [32]byte(contract), Command: command, Outcome: outcome, GasUsed: gas, Height: r.Height, TxHash: r.Hash}
		rest := r.Events[i+1:]
		for len(rest) > 0 && rest[0].Type == "contract_event" && rest[0].Attributes["contract"] == id {
			data, err := hex.DecodeString(rest[0].Attributes["data"])
			if err != nil {
				return nil, fmt.Errorf("%w: contract_event data in transaction %s", ErrMalformedEvent, r.Hash)
			}
			x.Events = append(x.Events, ContractEvent{Topic: rest[0].Attributes["topic"], Data: data})
			rest = rest[1:]
		}
		if x.Sent, err = sentMessages(r, rest); err != nil {
			return nil, err
		}
		return x, nil
	}
	return nil, nil
}

// reportEvents are the events that open the handling of a cluster's report: what follows one
// belongs to that report until the next.
var reportEvents = map[string]bool{
	"contract_ready": true, "contract_executed": true, "contract_rekeyed": true, "contract_message_delivered": true, "contract_deposit_done": true,
}

// sentMessages reads the messages routed by one report from the events after its opening event.
func sentMessages(r *TxResult, events []Event) ([]SentMessage, error) {
	var sent []SentMessage
	for _, e := range events {
		if reportEvents[e.Type] {
			break
		}
		switch {
		case e.Type == "contract_message_sent":
			from, err1 := decodeID(e.Attributes["from"])
			to, err2 := decodeID(e.Attributes["to"])
			n, err3 := strconv.ParseUint(e.Attributes["number"], 10, 64)
			if err := errors.Join(err1, err2, err3); err != nil {
				return nil, fmt.Errorf("%w: contract_message_sent in transaction %s: %w", ErrMalformedEvent, r.Hash, err)
			}
			sent = append(sent, SentMessage{From: from, To: to, Number: n})
		case (e.Type == "contract_bounce" || e.Type == "contract_bounce_dropped") && e.Attributes["kind"] == "message":
			for i := range sent {
				if hex.EncodeToString(sent[i].From[:]) == e.Attributes["contract"] && strconv.FormatUint(sent[i].Number, 10) == e.Attributes["number"] {
					sent[i].Bounced = e.Attributes["reason"]
				}
			}
		}
	}
	return sent, nil
}

func decodeID(s string) ([32]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return [32]byte{}, fmt.Errorf("contract id %q: want 64 hex digits", s)
	}
	return [32]byte(b), nil
}

// WaitDelivered waits until the receiver's cluster reports message number of contract from
// (a SentMessage that did not bounce at once), or ctx ends (ErrNoAnswer).
func (c *Client) WaitDelivered(ctx context.Context, from []byte, number uint64) (*Delivery, error) {
	if len(from) != 32 {
		return nil, fmt.Errorf("contract id of %d bytes, want 32", len(from))
	}
	id := hex.EncodeToString(from)
	n := strconv.FormatUint(number, 10)
	query := fmt.Sprintf("contract_message_delivered.from='%s' AND contract_message_delivered.number='%s'", id, n)
	var found *Delivery
	err := c.waitEvent(ctx, query, func(r *TxResult) (bool, error) {
		for _, e := range r.Events {
			if e.Type != "contract_message_delivered" || e.Attributes["from"] != id || e.Attributes["number"] != n {
				continue
			}
			to, err := decodeID(e.Attributes["to"])
			if err != nil || e.Attributes["outcome"] == "" {
				return false, fmt.Errorf("%w: contract_message_delivered in transaction %s", ErrMalformedEvent, r.Hash)
			}
			found = &Delivery{From: [32]byte(from), To: to, Number: number, Outcome: e.Attributes["outcome"], Height: r.Height, TxHash: r.Hash}
			return true, nil
		}
		return false, nil
	})
	if errors.Is(err, ErrNoAnswer) {
		return nil, fmt.Errorf("message %d of contract %X: %w", number, from, err)
	}
	return found, err
}

// Contract reads a contract by id.
func (c *Client) Contract(ctx context.Context, id []byte) (*contracts.Contract, error) {
	var ct contracts.Contract
	if _, err := c.QueryProto(ctx, "/"+contracts.Name+"/"+contracts.QueryContract, id, &ct); err != nil {
		return nil, err
	}
	return &ct, nil
}

// Code reads uploaded code's record by its hash.
func (c *Client) Code(ctx context.Context, hash []byte) (*contracts.Code, error) {
	var code contracts.Code
	if _, err := c.QueryProto(ctx, "/"+contracts.Name+"/"+contracts.QueryCode, hash, &code); err != nil {
		return nil, err
	}
	return &code, nil
}

// ClusterKeys reads a cluster's newest published key generation: its signing key and the
// encryption keys instantiations are sealed to.
func (c *Client) ClusterKeys(ctx context.Context, cluster []byte) (*registry.ClusterKey, error) {
	var cl registry.Cluster
	if _, err := c.QueryProto(ctx, "/"+registry.Name+"/"+registry.QueryCluster, cluster, &cl); err != nil {
		return nil, err
	}
	ks := cl.GetKeys()
	if len(ks) == 0 {
		return nil, fmt.Errorf("%w: cluster %s has no key yet: its gatekeepers have not published one (see `phala cluster show`)",
			ErrNoKey, registry.ClusterLabel(cluster))
	}
	return ks[len(ks)-1], nil
}
