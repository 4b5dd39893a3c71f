package registry

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/phala-go/phala/chain/errcode"
	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/store"
	"github.com/phala-go/phala/tee"
)

var (
	keyParams      = []byte(Name + "/params")
	keyTEE         = []byte(Name + "/tee")
	keyGatekeepers = []byte(Name + "/gatekeepers")
	prefixWorker   = []byte(Name + "/w/")
	prefixRuntime  = []byte(Name + "/rt/")
)

func workerKey(identity []byte) []byte { return append(slices.Clone(prefixWorker), identity...) }

// WorkerKey is the state key of a worker, for proofs.
func WorkerKey(identity []byte) []byte { return workerKey(identity) }

func runtimeKey(k tee.Kind, measurement []byte) []byte {
	key := append(slices.Clone(prefixRuntime), k...)
	return append(append(key, '/'), measurement...)
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

// GetTEESettings reads the genesis TEE settings.
func GetTEESettings(r store.Reader) *TEESettings {
	var s TEESettings
	mustDecode(r.Get(keyTEE), &s)
	return &s
}

// GetGatekeepers reads the gatekeeper set.
func GetGatekeepers(r store.Reader) *Gatekeepers {
	var g Gatekeepers
	mustDecode(r.Get(keyGatekeepers), &g)
	return &g
}

// IsGatekeeper reports whether a worker is in the gatekeeper set.
func IsGatekeeper(r store.Reader, worker []byte) bool {
	return slices.ContainsFunc(GetGatekeepers(r).GetWorkers(), func(k []byte) bool { return string(k) == string(worker) })
}

// GetWorker reads a registered worker (active or not).
func GetWorker(r store.Reader, identity []byte) (*Worker, error) {
	b := r.Get(workerKey(identity))
	if b == nil {
		return nil, errcode.Wrapf(ErrWorkerNotFound, "%X: register it first (pherry does on start)", identity)
	}
	var w Worker
	mustDecode(b, &w)
	return &w, nil
}

func getRuntime(r store.Reader, k tee.Kind, measurement []byte) (*Runtime, error) {
	b := r.Get(runtimeKey(k, measurement))
	if b == nil {
		return nil, errcode.Wrapf(ErrRuntimeNotFound, "%s measurement %X", k, measurement)
	}
	var rt Runtime
	mustDecode(b, &rt)
	return &rt, nil
}

// Genesis is the registry section of the genesis file.
type Genesis struct {
	TEE      GenesisTEE       `json:"tee"`
	Params   GenesisParams    `json:"params"`
	Runtimes []GenesisRuntime `json:"runtimes"`
}

// GenesisTEE fixes, for the life of the chain, whether simulated or debug TEEs are accepted.
type GenesisTEE struct {
	AllowSim        bool        `json:"allow_sim"`
	SimPlatformKeys []hexString `json:"sim_platform_keys"`
	AllowDebug      bool        `json:"allow_debug"`
}

// GenesisParams are the initial governed params.
type GenesisParams struct {
	MinRuntimeVersion        uint32 `json:"min_runtime_version"`
	AttestationValidity      uint64 `json:"attestation_validity_seconds"`
	FreshnessBlocks          uint32 `json:"freshness_blocks"`
	MaxConfidence            uint32 `json:"max_confidence"`
	GatekeeperMaxConfidence  uint32 `json:"gatekeeper_max_confidence"`
	TDXMinTCBEvaluationDataN uint32 `json:"tdx_min_tcb_evaluation_data_number"`
	SNPMinTCB                uint64 `json:"snp_min_tcb"`
}

// GenesisRuntime allows a runtime build from genesis; the measurement is "<kind>:<hex>".
type GenesisRuntime struct {
	Measurement string `json:"measurement"`
	Version     uint32 `json:"version"`
}

// DefaultParams re-attest daily, accept evidence naming one of the last 600 blocks, and let only
// confidence 1-2 workers become gatekeepers.
func DefaultParams() GenesisParams {
	return GenesisParams{
		MinRuntimeVersion:       1,
		AttestationValidity:     86_400,
		FreshnessBlocks:         600,
		MaxConfidence:           uint32(tee.ConfidenceWorst),
		GatekeeperMaxConfidence: 2,
	}
}

// hexString is bytes written as hex in JSON.
type hexString []byte

func (h hexString) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h)), nil }
func (h *hexString) UnmarshalText(b []byte) error {
	v, err := hex.DecodeString(string(b))
	*h = v
	return err
}

// SimKey converts a sim platform key for the genesis.
func SimKey(k ed25519.PublicKey) hexString { return hexString(k) }

func (*Module) InitGenesis(ctx *module.Context, raw json.RawMessage) error {
	var g Genesis
	if err := module.DecodeGenesis(raw, &g); err != nil {
		return errcode.Wrapf(ErrInvalidGenesis, "%v", err)
	}
	s := &TEESettings{AllowSim: g.TEE.AllowSim, AllowDebug: g.TEE.AllowDebug}
	for _, k := range g.TEE.SimPlatformKeys {
		s.SimPlatformKeys = append(s.SimPlatformKeys, k)
	}
	p := &Params{
		MinRuntimeVersion: g.Params.MinRuntimeVersion, AttestationValidity: g.Params.AttestationValidity,
		FreshnessBlocks: g.Params.FreshnessBlocks, MaxConfidence: g.Params.MaxConfidence,
		GatekeeperMaxConfidence: g.Params.GatekeeperMaxConfidence, TdxMinTcbEvaluationDataNumber: g.Params.TDXMinTCBEvaluationDataN,
		SnpMinTcb: g.Params.SNPMinTCB,
	}
	if err := validateParams(p); err != nil {
		return err
	}
	ctx.Set(keyTEE, module.Marshal(s))
	ctx.Set(keyParams, module.Marshal(p))
	if err := Policy(ctx).Validate(); err != nil {
		return errcode.Wrapf(ErrInvalidGenesis, "%v", err)
	}
	ctx.Set(keyGatekeepers, module.Marshal(&Gatekeepers{}))
	for _, rt := range g.Runtimes {
		k, m, err := tee.ParseMeasurement(rt.Measurement)
		if err != nil {
			return errcode.Wrapf(ErrInvalidGenesis, "runtime %q: %v", rt.Measurement, err)
		}
		msg := &MsgAllowRuntime{TeeKind: string(k), Measurement: m, Version: rt.Version}
		if err := msg.ValidateBasic(); err != nil {
			return err
		}
		if err := allowRuntime(ctx, module.CouncilCaller(), msg); err != nil {
			return err
		}
	}
	return nil
}

// Query paths.
const (
	QueryParams      = "params"      // answer: Params
	QueryTEE         = "tee"         // answer: TEESettings
	QueryWorker      = "worker"      // data: identity key; answer: Worker
	QueryWorkers     = "workers"     // answer: Workers, by identity key
	QueryRuntimes    = "runtimes"    // answer: Runtimes
	QueryGatekeepers = "gatekeepers" // answer: Gatekeepers
	QueryMasterKeys  = "master"      // answer: MasterKeys
	QueryTasks       = "tasks"       // answer: GatekeeperTasks
	QueryCluster     = "cluster"     // data: cluster id; answer: Cluster
	QueryClusters    = "clusters"    // answer: Clusters
	QueryClusterOf   = "cluster_of"  // data: worker identity key; answer: Cluster
)

func (*Module) Query(r store.Reader, path string, data []byte) ([]byte, error) {
	switch path {
	case QueryParams:
		return module.Marshal(GetParams(r)), nil
	case QueryTEE:
		return module.Marshal(GetTEESettings(r)), nil
	case QueryGatekeepers:
		return module.Marshal(GetGatekeepers(r)), nil
	case QueryMasterKeys:
		return module.Marshal(GetMasterKeys(r)), nil
	case QueryTasks:
		return module.Marshal(GetTasks(r)), nil
	case QueryCluster:
		c, err := GetCluster(r, data)
		if err != nil {
			return nil, err
		}
		return module.Marshal(c), nil
	case QueryClusterOf:
		id, ok := ClusterOf(r, data)
		if !ok {
			return nil, errcode.Wrapf(ErrNotMember, "worker %X is in no cluster", data)
		}
		c, err := GetCluster(r, id)
		if err != nil {
			return nil, err
		}
		return module.Marshal(c), nil
	case QueryClusters:
		var out Clusters
		it := r.Iterator(prefixCluster, store.PrefixEnd(prefixCluster))
		defer it.Close()
		for ; it.Valid(); it.Next() {
			var c Cluster
			mustDecode(it.Value(), &c)
			out.Clusters = append(out.Clusters, &c)
		}
		return module.Marshal(&out), nil
	case QueryWorker:
		w, err := GetWorker(r, data)
		if err != nil {
			return nil, err
		}
		return module.Marshal(w), nil
	case QueryWorkers:
		var out Workers
		it := r.Iterator(prefixWorker, store.PrefixEnd(prefixWorker))
		defer it.Close()
		for ; it.Valid(); it.Next() {
			var w Worker
			mustDecode(it.Value(), &w)
			out.Workers = append(out.Workers, &w)
		}
		return module.Marshal(&out), nil
	case QueryRuntimes:
		var out Runtimes
		it := r.Iterator(prefixRuntime, store.PrefixEnd(prefixRuntime))
		defer it.Close()
		for ; it.Valid(); it.Next() {
			var rt Runtime
			mustDecode(it.Value(), &rt)
			out.Runtimes = append(out.Runtimes, &rt)
		}
		return module.Marshal(&out), nil
	}
	return nil, errcode.Wrapf(ErrNotFound, "no query %q", path)
}
