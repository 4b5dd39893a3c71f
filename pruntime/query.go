package pruntime

import (
	"bytes"
	"container/heap"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/modules/mq"
	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/contract/vm"
	"github.com/phala-go/phala/crypto/envelope"
	"github.com/phala-go/phala/crypto/keys"
	"github.com/phala-go/phala/pruntime/api"
	"github.com/phala-go/phala/pruntime/api/apiconnect"
)

// Signed, encrypted queries (docs/queries.md): a user seals a signed query to this worker's
// registered key; the worker checks it against its verified state only (the host controls the
// clock, so time is the latest verified block's), runs the contract's query entry point (or
// reads a receipt) as the signing account, and seals the answer under the envelope's reply key.

// Query policy.
const (
	// MaxQueryWindow is how far past the latest verified block time a query may expire: it
	// bounds how long the replay cache keeps a nonce.
	MaxQueryWindow = 10 * time.Minute
	// MaxQueryGas caps a query's gas (and is the budget of a query asking for 0).
	MaxQueryGas uint64 = 1_000_000_000
	// QueryTimeout bounds a query's wait for a contract instance.
	QueryTimeout = 10 * time.Second
	// MaxQueryRequestBytes bounds a QueryRequest on the public listener: the largest signed query
	// in an X-Wing envelope, and the contract id.
	MaxQueryRequestBytes = api.MaxSignedQuery + 4<<10
	// Replay cache bounds: live nonces per signer and per worker. A full cache refuses queries
	// (resource_exhausted) rather than forget a nonce before its query expires.
	maxNoncesPerSigner = 4096
	maxNonces          = 1 << 18
)

// Query refusals. Each maps to one Connect code (queryCode).
var (
	// ErrQueryEnvelope: the envelope is malformed or does not open with this worker's key of
	// its KEM, for this contract (invalid_argument).
	ErrQueryEnvelope = errors.New("query envelope does not open with this worker's key for this contract")
	// ErrQueryWrongWorker: the query names another worker (permission_denied).
	ErrQueryWrongWorker = errors.New("query is meant for another worker")
	// ErrQueryWrongContract: the signed query names another contract than its envelope
	// (permission_denied).
	ErrQueryWrongContract = errors.New("signed query names another contract than the request")
	// ErrSessionExpired: the session certificate expired at the verified time (unauthenticated).
	ErrSessionExpired = errors.New("session certificate expired: create a new session")
	// ErrQueryExpired: the query expired at the verified time (unauthenticated).
	ErrQueryExpired = errors.New("query expired: sign it again")
	// ErrQueryWindow: the query expires more than MaxQueryWindow after the verified time
	// (invalid_argument); a worker far behind the chain says this too.
	ErrQueryWindow = errors.New("query expires too far past the worker's verified time")
	// ErrQueryReplayed: the signer's nonce was used before (permission_denied).
	ErrQueryReplayed = errors.New("query nonce already used: sign a new query")
	// ErrReplayCacheFull: too many live queries to remember another (resource_exhausted).
	ErrReplayCacheFull = errors.New("too many live queries: retry later or another worker")
	// ErrWorkerBehind: the verified height is below the query's min_height (failed_precondition).
	ErrWorkerBehind = errors.New("worker is behind: retry another worker or later")
	// ErrNotSender: a receipt is readable by its command's sender only (permission_denied).
	ErrNotSender = errors.New("only the command's sender (the deployer for the instantiation) may read its receipt")
	// ErrNotRegistered: SetEndpoint before the verified state has this worker registered
	// (failed_precondition).
	ErrNotRegistered = errors.New("worker not registered in the verified state yet: register and sync first")
)

// Query answers a signed, encrypted query: every refusal before the contract runs is an
// error (it reveals nothing); whatever the contract answers, errors included, is in the
// sealed reply.
func (r *Runtime) Query(ctx context.Context, req *api.QueryRequest) (*api.QueryResponse, error) {
	contract, env := req.GetContract(), req.GetEnvelope()
	if len(contract) != api.ContractIDLen {
		return nil, fmt.Errorf("%w: contract id of %d bytes, want %d", api.ErrMalformedQuery, len(contract), api.ContractIDLen)
	}
	kem, err := envelope.KEMOf(env)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrQueryEnvelope, err)
	}
	var priv envelope.PrivateKey
	switch kem {
	case envelope.X25519:
		priv = r.keys.x25519
	case envelope.XWing:
		priv = r.keys.xwing
	}
	plain, replier, err := envelope.OpenWithReply(priv, envelope.PurposeQuery, contract, nil, env)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrQueryEnvelope, err)
	}
	sq, q, err := api.DecodeSignedQuery(plain)
	if err != nil {
		return nil, err
	}
	me := r.keys.identity.Public().Key
	if !bytes.Equal(q.GetWorker(), me[:]) {
		return nil, fmt.Errorf("%w: it names %X", ErrQueryWrongWorker, q.GetWorker())
	}
	if !bytes.Equal(q.GetContract(), contract) {
		return nil, fmt.Errorf("%w: %X, not %X", ErrQueryWrongContract, q.GetContract(), contract)
	}
	chainID, height, now, err := r.verifiedClock()
	if err != nil {
		return nil, err
	}
	signer, err := sq.Verify(chainID)
	if err != nil {
		return nil, err
	}
	if signer.Session && signer.SessionExpiresAt <= now {
		return nil, fmt.Errorf("%w: at %d, verified time %d", ErrSessionExpired, signer.SessionExpiresAt, now)
	}
	if q.GetMinHeight() > height {
		return nil, fmt.Errorf("%w: verified height %d, the query wants %d", ErrWorkerBehind, height, q.GetMinHeight())
	}
	if err := r.replay.admit(signer.Key, q.GetNonce(), q.GetExpiresAt(), now); err != nil {
		return nil, err
	}
	res, err := r.answerQuery(ctx, q, signer.Account.AccountID())
	if err != nil {
		return nil, err
	}
	reply, err := replier.Seal(contract, module.Marshal(res))
	if err != nil {
		return nil, err
	}
	return &api.QueryResponse{Reply: reply}, nil
}

// verifiedClock is the chain id, the latest verified height and its block time (unix seconds).
func (r *Runtime) verifiedClock() (string, int64, int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.init == nil || r.replica == nil {
		return "", 0, 0, ErrNotInitialized
	}
	h := r.state.Version()
	if h == 0 {
		return "", 0, 0, ErrNotSynced
	}
	chain, err := r.app.State(h)
	if err != nil {
		return "", 0, 0, err
	}
	_, t, ok := module.RecentBlock(chain, h)
	if !ok {
		return "", 0, 0, fmt.Errorf("%w: no time recorded for height %d", ErrNotSynced, h)
	}
	return r.genesis.Doc.ChainID, h, t.Unix(), nil
}

// answerQuery runs the query as account.
func (r *Runtime) answerQuery(ctx context.Context, q *api.Query, account keys.AccountID) (*api.QueryResult, error) {
	if _, ok := q.GetKind().(*api.Query_Receipt); ok {
		rc, h, err := r.Receipt(q.GetContract(), q.GetReceipt())
		if err != nil {
			return nil, err
		}
		if h < q.GetMinHeight() {
			return nil, fmt.Errorf("%w: verified height %d, the query wants %d", ErrWorkerBehind, h, q.GetMinHeight())
		}
		if !bytes.Equal(rc.GetSender(), account[:]) {
			return nil, ErrNotSender
		}
		return &api.QueryResult{Height: h, Receipt: rc}, nil
	}
	gas := q.GetGasLimit()
	if gas == 0 || gas > MaxQueryGas {
		gas = MaxQueryGas
	}
	ctx, cancel := context.WithTimeout(ctx, QueryTimeout)
	defer cancel()
	ans, err := r.QueryContract(ctx, q.GetContract(), vm.Caller{Kind: vm.CallerAccount, ID: account}, q.GetInput(), gas)
	if err != nil {
		return nil, err
	}
	if ans.Height < q.GetMinHeight() {
		return nil, fmt.Errorf("%w: verified height %d, the query wants %d", ErrWorkerBehind, ans.Height, q.GetMinHeight())
	}
	res := &api.QueryResult{Height: ans.Height, GasUsed: ans.Result.GasUsed}
	switch e := ans.Result.Err; {
	case e == nil:
		res.Output = ans.Result.Output
	case errors.Is(e, vm.ErrOverloaded):
		return nil, e
	default:
		class, herr := outcome(e)
		if herr != nil {
			class = "host"
		}
		res.Error = &api.QueryError{Class: class, Message: e.Error()}
	}
	return res, nil
}

// replayCache remembers the nonces of a worker's live queries per signer, each until its
// query expires by the verified clock. It lives as long as the process, per worker identity,
// so a runtime reopened in the same process keeps refusing the queries it answered.
type replayCache struct {
	mu sync.Mutex
	// now is the latest verified time seen (unix seconds): it never goes back, so a nonce is
	// forgotten only once every query carrying it is refused as expired.
	now       int64
	seen      map[[32]byte]struct{}
	perSigner map[keys.PublicKey]int
	byExpiry  nonceHeap
	// limits: live nonces per signer and in all
	maxPerSigner, max int
}

type liveNonce struct {
	expiresAt int64
	id        [32]byte
	signer    keys.PublicKey
}

type nonceHeap []liveNonce

func (h nonceHeap) Len() int           { return len(h) }
func (h nonceHeap) Less(i, j int) bool { return h[i].expiresAt < h[j].expiresAt }
func (h nonceHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *nonceHeap) Push(x any)        { *h = append(*h, x.(liveNonce)) }
func (h *nonceHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func newReplayCache(perSigner, total int) *replayCache {
	return &replayCache{seen: map[[32]byte]struct{}{}, perSigner: map[keys.PublicKey]int{}, maxPerSigner: perSigner, max: total}
}

// admit checks a query's expiry against the verified time now and records its nonce.
func (c *replayCache) admit(signer keys.PublicKey, nonce []byte, expiresAt, now int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = max(c.now, now)
	for len(c.byExpiry) > 0 && c.byExpiry[0].expiresAt <= c.now {
		n := heap.Pop(&c.byExpiry).(liveNonce)
		delete(c.seen, n.id)
		if c.perSigner[n.signer]--; c.perSigner[n.signer] == 0 {
			delete(c.perSigner, n.signer)
		}
	}
	switch {
	case expiresAt <= c.now:
		return fmt.Errorf("%w: at %d, verified time %d", ErrQueryExpired, expiresAt, c.now)
	case expiresAt > c.now+int64(MaxQueryWindow/time.Second):
		return fmt.Errorf("%w: at %d, verified time %d, at most %s later", ErrQueryWindow, expiresAt, c.now, MaxQueryWindow)
	}
	h := sha256.New()
	h.Write([]byte{byte(signer.Type)})
	h.Write(signer.Key[:])
	h.Write(nonce)
	id := [32]byte(h.Sum(nil))
	if _, ok := c.seen[id]; ok {
		return ErrQueryReplayed
	}
	if c.perSigner[signer] >= c.maxPerSigner || len(c.seen) >= c.max {
		return fmt.Errorf("%w: %d live queries of this signer, %d in all", ErrReplayCacheFull, c.perSigner[signer], len(c.seen))
	}
	c.seen[id] = struct{}{}
	c.perSigner[signer]++
	heap.Push(&c.byExpiry, liveNonce{expiresAt: expiresAt, id: id, signer: signer})
	return nil
}

// SetEndpoint publishes the worker's public query URL, signed by its identity key, unless the
// chain's record, or the last such message still waiting in the outbox, already says url. The
// message joins the outbox at once (not at a block) and is committed with the next block.
func (r *Runtime) SetEndpoint(url string) (_ *api.SetEndpointResponse, err error) {
	if err := registry.ValidateEndpoint(url); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.treeMu.Lock() // writes the trees queries read (see treeMu)
	defer r.treeMu.Unlock()
	if r.init == nil || r.replica == nil {
		return nil, ErrNotInitialized
	}
	defer recoverStorage(&err)
	h := r.state.Version()
	if h == 0 {
		return nil, ErrNotSynced
	}
	chain, err := r.app.State(h)
	if err != nil {
		return nil, err
	}
	id := r.keys.identity.Public().Key
	w, err := registry.GetWorker(chain, id[:])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotRegistered, err)
	}
	current := w.GetEndpoint()
	origin := mq.WorkerOrigin(id[:])
	pending, err := r.outbox(r.state.Working())
	if err != nil {
		return nil, err
	}
	accepted := mq.NextSequence(chain, origin)
	for _, sm := range pending {
		m, err := mq.DecodeMessage(sm.GetMessage())
		if err != nil {
			return nil, err
		}
		if m.GetTopic() != registry.TopicEndpoint || sm.GetSequence() < accepted || !bytes.Equal(m.GetOrigin().ID(), id[:]) || m.GetOrigin().Type() != mq.KindWorker {
			continue
		}
		var e registry.WorkerEndpoint
		if err := module.StrictUnmarshal(m.GetPayload(), &e); err != nil {
			return nil, err
		}
		current = e.GetUrl()
	}
	if current == url {
		return &api.SetEndpointResponse{}, nil
	}
	m := &mq.Message{Origin: origin, Topic: registry.TopicEndpoint, Payload: module.Marshal(&registry.WorkerEndpoint{Url: url})}
	if err := send(r.state.Working(), chain, m, r.keys.identity); err != nil {
		return nil, err
	}
	r.log.Info("publishing the query endpoint", "url", url)
	return &api.SetEndpointResponse{Sent: true}, nil
}

// queryCode gives each refusal of the query API (and SetEndpoint) a Connect code a client can
// act on.
func queryCode(err error) error {
	code := connect.CodeInternal
	switch {
	case errors.Is(err, api.ErrMalformedQuery), errors.Is(err, ErrQueryEnvelope), errors.Is(err, ErrQueryWindow),
		errors.Is(err, registry.ErrInvalidEndpoint):
		code = connect.CodeInvalidArgument
	case errors.Is(err, api.ErrBadCertificate), errors.Is(err, api.ErrBadQuerySignature), errors.Is(err, ErrSessionExpired),
		errors.Is(err, ErrQueryExpired):
		code = connect.CodeUnauthenticated
	case errors.Is(err, ErrQueryWrongWorker), errors.Is(err, ErrQueryWrongContract), errors.Is(err, ErrQueryReplayed),
		errors.Is(err, ErrNotSender):
		code = connect.CodePermissionDenied
	case errors.Is(err, ErrWorkerBehind), errors.Is(err, ErrNotServing), errors.Is(err, ErrNotSynced),
		errors.Is(err, ErrNotInitialized), errors.Is(err, ErrNotRegistered):
		code = connect.CodeFailedPrecondition
	case errors.Is(err, ErrNoReceipt):
		code = connect.CodeNotFound
	case errors.Is(err, ErrReplayCacheFull), errors.Is(err, vm.ErrOverloaded):
		code = connect.CodeResourceExhausted
	}
	return connect.NewError(code, err)
}

// QueryHandler serves QueryService: mount it on the worker's public listener (the runtime
// API stays local).
func QueryHandler(r *Runtime) (path string, h http.Handler) {
	return apiconnect.NewQueryServiceHandler(&queryServer{r: r}, connect.WithReadMaxBytes(MaxQueryRequestBytes))
}

type queryServer struct{ r *Runtime }

var _ apiconnect.QueryServiceHandler = (*queryServer)(nil)

func (s *queryServer) Query(ctx context.Context, req *connect.Request[api.QueryRequest]) (*connect.Response[api.QueryResponse], error) {
	resp, err := s.r.Query(ctx, req.Msg)
	if err != nil {
		return nil, queryCode(err)
	}
	return connect.NewResponse(resp), nil
}
