package contracts

import (
	"encoding/binary"
	"encoding/json"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/phala-go/phala/chain/amount"
	"github.com/phala-go/phala/chain/errcode"
	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/store"
)

// State layout:
//
//	contracts/params                      Params
//	contracts/code/<hash>                 Code
//	contracts/wasm/<hash>                 the stored (compressed) code
//	contracts/contract/<id>               Contract
//	contracts/by_cluster/<cluster>/<id>   membership index
//	contracts/queue/<cluster>             RequestQueue
//	contracts/req_height/<cluster>/<seq>  height of the block that set request seq (kept: a
//	                                      worker joining a cluster replays its requests)
//	contracts/pending/<cluster>/<seq>     Pending, until the report
var (
	keyParams           = []byte(Name + "/params")
	prefixCode          = []byte(Name + "/code/")
	prefixWasm          = []byte(Name + "/wasm/")
	prefixContract      = []byte(Name + "/contract/")
	prefixByCluster     = []byte(Name + "/by_cluster/")
	prefixQueue         = []byte(Name + "/queue/")
	prefixRequestHeight = []byte(Name + "/req_height/")
	prefixPending       = []byte(Name + "/pending/")
)

func join(prefix []byte, parts ...[]byte) []byte {
	k := slices.Clone(prefix)
	for i, p := range parts {
		if i > 0 {
			k = append(k, '/')
		}
		k = append(k, p...)
	}
	return k
}

func seqBytes(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func codeKey(hash []byte) []byte                   { return join(prefixCode, hash) }
func wasmKey(hash []byte) []byte                   { return join(prefixWasm, hash) }
func contractKey(id []byte) []byte                 { return join(prefixContract, id) }
func clusterContractKey(cluster, id []byte) []byte { return join(prefixByCluster, cluster, id) }
func queueKey(cluster []byte) []byte               { return join(prefixQueue, cluster) }
func requestHeightKey(cluster []byte, seq uint64) []byte {
	return join(prefixRequestHeight, cluster, seqBytes(seq))
}
func pendingKey(cluster []byte, seq uint64) []byte {
	return join(prefixPending, cluster, seqBytes(seq))
}

func mustDecode(b []byte, m proto.Message) {
	if err := module.StrictUnmarshal(b, m); err != nil {
		panic(&store.FatalError{Err: err})
	}
}

// GetParams reads the governed params.
func GetParams(r store.Reader) *Params {
	var p Params
	mustDecode(r.Get(keyParams), &p)
	return &p
}

// GetCode reads uploaded code's record.
func GetCode(r store.Reader, hash []byte) (*Code, error) {
	b := r.Get(codeKey(hash))
	if b == nil {
		return nil, errcode.Wrapf(ErrCodeNotFound, "%X", hash)
	}
	var c Code
	mustDecode(b, &c)
	return &c, nil
}

// GetWasm returns uploaded code, decompressed.
func GetWasm(r store.Reader, hash []byte) ([]byte, error) {
	c, err := GetCode(r, hash)
	if err != nil {
		return nil, err
	}
	return Decompress(c.GetCompression(), r.Get(wasmKey(hash)), c.GetSize())
}

// GetContract reads a contract.
func GetContract(r store.Reader, id []byte) (*Contract, error) {
	b := r.Get(contractKey(id))
	if b == nil {
		return nil, errcode.Wrapf(ErrContractNotFound, "%X", id)
	}
	var c Contract
	mustDecode(b, &c)
	return &c, nil
}

func putContract(kv store.KV, c *Contract) { kv.Set(contractKey(c.GetId()), module.Marshal(c)) }

// GetQueue reads a cluster's request counters.
func GetQueue(r store.Reader, cluster []byte) *RequestQueue {
	var q RequestQueue
	mustDecode(r.Get(queueKey(cluster)), &q)
	return &q
}

// RequestHeight is the height of the block that set a cluster's request seq.
func RequestHeight(r store.Reader, cluster []byte, seq uint64) (int64, bool) {
	b := r.Get(requestHeightKey(cluster, seq))
	if len(b) != 8 {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(b)), true
}

// ClusterContracts lists a cluster's contracts in id order.
func ClusterContracts(r store.Reader, cluster []byte) [][]byte { return clusterContracts(r, cluster) }

func clusterContracts(r store.Reader, cluster []byte) [][]byte {
	prefix := append(join(prefixByCluster, cluster), '/')
	it := r.Iterator(prefix, store.PrefixEnd(prefix))
	defer it.Close()
	var out [][]byte
	for ; it.Valid(); it.Next() {
		out = append(out, slices.Clone(it.Key()[len(prefix):]))
	}
	return out
}

// Genesis is the contracts section of the genesis file; an absent section means the defaults.
type Genesis struct {
	Params GenesisParams `json:"params"`
}

// GenesisParams are the initial params.
type GenesisParams struct {
	GasPrice          amount.Amount `json:"gas_price"`
	MaxGas            uint64        `json:"max_gas"`
	MaxStoredCodeSize uint64        `json:"max_stored_code_size"`
	MaxCodeSize       uint64        `json:"max_code_size"`
	MaxPayload        uint64        `json:"max_payload"`
	BounceGas         uint64        `json:"bounce_gas"`
}

// DefaultParams: one unit of gas is about one Wasm instruction (0.5 ns); at 100 units
// (10^-10 PHA) per gas a token transfer (about 0.55 million gas) costs about 0.00006 PHA. Up to 10^10 gas per
// command; code up to 3 MiB compressed, 32 MiB uncompressed; payloads up to 32 KiB; bounces
// run with 10^8 gas.
func DefaultParams() GenesisParams {
	return GenesisParams{GasPrice: amount.FromUint64(100), MaxGas: 10_000_000_000, MaxStoredCodeSize: MaxStoredCodeSize,
		MaxCodeSize: MaxCodeSize, MaxPayload: 32 << 10, BounceGas: 100_000_000}
}

func (*Module) InitGenesis(ctx *module.Context, raw json.RawMessage) error {
	g := Genesis{Params: DefaultParams()}
	if len(raw) > 0 {
		if err := module.DecodeGenesis(raw, &g); err != nil {
			return errcode.Wrapf(ErrInvalidGenesis, "%v", err)
		}
	}
	p := &Params{GasPrice: g.Params.GasPrice.String(), MaxGas: g.Params.MaxGas, MaxStoredCodeSize: g.Params.MaxStoredCodeSize,
		MaxCodeSize: g.Params.MaxCodeSize, MaxPayload: g.Params.MaxPayload, BounceGas: g.Params.BounceGas}
	if err := validateParams(p); err != nil {
		return err
	}
	ctx.Set(keyParams, module.Marshal(p))
	return nil
}

// Query paths.
const (
	QueryParams    = "params"    // answer: Params
	QueryCode      = "code"      // data: code hash; answer: Code
	QueryCodes     = "codes"     // answer: Codes
	QueryContract  = "contract"  // data: contract id; answer: Contract
	QueryContracts = "contracts" // data: a cluster id, or nothing for all; answer: Contracts
	QueryQueue     = "queue"     // data: cluster id; answer: RequestQueue
)

func (*Module) Query(r store.Reader, path string, data []byte) ([]byte, error) {
	switch path {
	case QueryParams:
		return module.Marshal(GetParams(r)), nil
	case QueryCode:
		c, err := GetCode(r, data)
		if err != nil {
			return nil, err
		}
		return module.Marshal(c), nil
	case QueryCodes:
		var out Codes
		it := r.Iterator(prefixCode, store.PrefixEnd(prefixCode))
		defer it.Close()
		for ; it.Valid(); it.Next() {
			var c Code
			mustDecode(it.Value(), &c)
			out.Codes = append(out.Codes, &c)
		}
		return module.Marshal(&out), nil
	case QueryContract:
		c, err := GetContract(r, data)
		if err != nil {
			return nil, err
		}
		return module.Marshal(c), nil
	case QueryContracts:
		var out Contracts
		if len(data) > 0 {
			for _, id := range clusterContracts(r, data) {
				c, err := GetContract(r, id)
				if err != nil {
					return nil, err
				}
				out.Contracts = append(out.Contracts, c)
			}
			return module.Marshal(&out), nil
		}
		it := r.Iterator(prefixContract, store.PrefixEnd(prefixContract))
		defer it.Close()
		for ; it.Valid(); it.Next() {
			var c Contract
			mustDecode(it.Value(), &c)
			out.Contracts = append(out.Contracts, &c)
		}
		return module.Marshal(&out), nil
	case QueryQueue:
		return module.Marshal(GetQueue(r, data)), nil
	}
	return nil, errcode.Wrapf(ErrNotFound, "no query %q", path)
}
