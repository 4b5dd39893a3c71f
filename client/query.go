package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/modules/contracts"
	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/chain/store"
	"github.com/phala-go/phala/crypto/envelope"
	"github.com/phala-go/phala/crypto/keys"
	"github.com/phala-go/phala/pruntime/api"
	"github.com/phala-go/phala/pruntime/api/apiconnect"
)

// Signed, encrypted queries straight to a worker of a contract's cluster (docs/queries.md).
// The workers, their endpoints and their encryption keys come from verified chain state, and
// the answer opens only under the reply key of the envelope sealed to the worker's registered
// key: neither the node nor the worker's host can read or forge it.

// Query defaults and limits.
const (
	// MaxSessionTTL bounds a session certificate's life.
	MaxSessionTTL = 30 * 24 * time.Hour
	// DefaultQueryTTL is how long a signed query stays valid when QueryOptions.TTL is 0; at most
	// MaxQueryTTL (workers refuse queries expiring more than 10 minutes past their verified time).
	DefaultQueryTTL = time.Minute
	MaxQueryTTL     = 5 * time.Minute
	// InstantiationCommand names the instantiation's receipt in QueryReceipt.
	InstantiationCommand = ^uint64(0)
	// workersTTL is how long a contract's resolved workers are reused.
	workersTTL  = time.Minute
	maxAnswer   = envelope.MaxSize
	queryNonceN = 24
)

var (
	// ErrNoQueryWorker: no active worker of the contract's cluster publishes a query endpoint.
	ErrNoQueryWorker = errors.New("no active worker of the contract's cluster publishes a query endpoint")
	// ErrQueryUnanswered: every worker tried failed to answer; the error joins their reasons.
	ErrQueryUnanswered = errors.New("no worker answered the query")
	// ErrBadQueryAnswer: a worker's answer does not open under the query's reply key, or is malformed.
	ErrBadQueryAnswer = errors.New("worker's answer does not authenticate")
	// ErrBadSession: a stored session is malformed or its certificate does not verify.
	ErrBadSession = errors.New("invalid query session")
)

// ContractQueryError is a query the contract (or the VM) failed: Class is the outcome class
// ("contract_error", "out_of_gas", "trap", ...), Message the contract's or the VM's text.
type ContractQueryError struct {
	Class   string
	Message string
	Height  int64
}

func (e *ContractQueryError) Error() string {
	return fmt.Sprintf("contract query failed (%s) at height %d: %s", e.Class, e.Height, e.Message)
}

// QuerySigner signs queries: an account key (AccountSigner) or a Session.
type QuerySigner interface {
	// Account is the account the contract sees as the caller.
	Account() keys.PublicKey
	signQuery(q *api.Query) (*api.SignedQuery, error)
}

type accountSigner struct{ key keys.PrivateKey }

// AccountSigner signs every query with the account key itself.
func AccountSigner(k keys.PrivateKey) QuerySigner { return accountSigner{k} }

func (a accountSigner) Account() keys.PublicKey { return a.key.Public() }
func (a accountSigner) signQuery(q *api.Query) (*api.SignedQuery, error) {
	return api.SignQuery(q, a.key, nil)
}

// Session is an ed25519 key an account certified to sign queries on its behalf until ExpiresAt:
// the account (a wallet) signs once per session instead of once per query.
type Session struct {
	seed    [32]byte
	key     keys.PrivateKey
	account keys.PublicKey
	chainID string
	expires time.Time
	cert    *api.Certificate
}

// NewSession makes a session key and has account certify it for ttl from now (block time: the
// worker compares with its latest verified block's).
func NewSession(account keys.PrivateKey, chainID string, ttl time.Duration, now time.Time) (*Session, error) {
	if ttl <= 0 || ttl > MaxSessionTTL {
		return nil, fmt.Errorf("%w: a session lasts more than 0 and at most %s, not %s", ErrBadSession, MaxSessionTTL, ttl)
	}
	var seed [32]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, err
	}
	key := keys.Ed25519FromSeed(seed)
	expires := now.Add(ttl).Truncate(time.Second)
	cert, err := api.NewCertificate(account, key.Public(), expires.Unix(), chainID)
	if err != nil {
		return nil, err
	}
	return &Session{seed: seed, key: key, account: account.Public(), chainID: chainID, expires: expires, cert: cert}, nil
}

func (s *Session) Account() keys.PublicKey { return s.account }

// ExpiresAt is when the certificate expires (block time).
func (s *Session) ExpiresAt() time.Time { return s.expires }

// ChainID is the chain the certificate is for.
func (s *Session) ChainID() string { return s.chainID }

func (s *Session) signQuery(q *api.Query) (*api.SignedQuery, error) {
	return api.SignQuery(q, s.key, s.cert)
}

// sessionFile is a stored session: the session key's seed (a secret: store it readable by its
// owner only) and the certificate. Never the account key.
type sessionFile struct {
	Version     int    `json:"version"`
	Seed        []byte `json:"seed"`
	Certificate []byte `json:"certificate"`
}

// MarshalBinary encodes the session for a cache file. It holds the session's secret key.
func (s *Session) MarshalBinary() ([]byte, error) {
	return json.Marshal(sessionFile{Version: 1, Seed: s.seed[:], Certificate: module.Marshal(s.cert)})
}

// ParseSession decodes a stored session, checking that its certificate certifies its key.
func ParseSession(b []byte) (*Session, error) {
	var f sessionFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSession, err)
	}
	if dec.More() || f.Version != 1 || len(f.Seed) != 32 {
		return nil, fmt.Errorf("%w: want a version 1 session with a 32-byte seed", ErrBadSession)
	}
	var cert api.Certificate
	if err := module.StrictUnmarshal(f.Certificate, &cert); err != nil {
		return nil, fmt.Errorf("%w: certificate: %v", ErrBadSession, err)
	}
	key := keys.Ed25519FromSeed([32]byte(f.Seed))
	var body api.CertificateBody
	if err := module.StrictUnmarshal(cert.GetBody(), &body); err != nil {
		return nil, fmt.Errorf("%w: certificate body: %v", ErrBadSession, err)
	}
	// A query signed by the session verifies exactly as a worker verifies it.
	probe, err := api.SignQuery(&api.Query{}, key, &cert)
	if err != nil {
		return nil, err
	}
	signer, err := probe.Verify(body.GetChainId())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSession, err)
	}
	return &Session{seed: [32]byte(f.Seed), key: key, account: signer.Account, chainID: body.GetChainId(),
		expires: time.Unix(body.GetExpiresAt(), 0), cert: &cert}, nil
}

// QueryOptions tune one query.
type QueryOptions struct {
	// MinHeight: only a worker that verified at least this height may answer (read your writes:
	// the height of the block with your command).
	MinHeight int64
	// GasLimit bounds the query; 0: the worker's maximum.
	GasLimit uint64
	// TTL is how long the signed query stays valid (0: DefaultQueryTTL; at most MaxQueryTTL).
	TTL time.Duration
}

// QueryClient queries contracts on the workers of their clusters. It is safe for concurrent
// use; it uses its Verifier one read at a time, and nothing else may use that Verifier
// concurrently (the light client verifies one header at a time).
type QueryClient struct {
	v      *Verifier
	signer QuerySigner
	http   connect.HTTPClient

	// mu guards workers and the use of v.
	mu      sync.Mutex
	workers map[[32]byte]*resolvedWorkers
}

// NewQueryClient queries as signer, finding workers through v (verified state). httpClient nil
// means a client with a 30-second timeout.
func NewQueryClient(v *Verifier, signer QuerySigner, httpClient *http.Client) *QueryClient {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	return &QueryClient{v: v, signer: signer, http: httpClient, workers: map[[32]byte]*resolvedWorkers{}}
}

// Query runs a contract's query entry point with input as the signer's account on a worker of
// the contract's cluster, and returns the output and the verified height it reflects. A query
// the contract fails is a *ContractQueryError.
func (c *QueryClient) Query(ctx context.Context, contract [32]byte, input []byte, opts QueryOptions) ([]byte, int64, error) {
	res, err := c.ask(ctx, contract, &api.Query{Kind: &api.Query_Input{Input: input}}, opts)
	if err != nil {
		return nil, 0, err
	}
	if e := res.GetError(); e != nil {
		return nil, res.GetHeight(), &ContractQueryError{Class: e.GetClass(), Message: e.GetMessage(), Height: res.GetHeight()}
	}
	return res.GetOutput(), res.GetHeight(), nil
}

// QueryReceipt reads the receipt of a command (InstantiationCommand: the instantiation's) the
// signer's account sent, with the verified height it reflects.
func (c *QueryClient) QueryReceipt(ctx context.Context, contract [32]byte, command uint64, opts QueryOptions) (*api.Receipt, int64, error) {
	res, err := c.ask(ctx, contract, &api.Query{Kind: &api.Query_Receipt{Receipt: command}}, opts)
	if err != nil {
		return nil, 0, err
	}
	if res.GetReceipt() == nil {
		return nil, res.GetHeight(), fmt.Errorf("%w: no receipt in the answer", ErrBadQueryAnswer)
	}
	return res.GetReceipt(), res.GetHeight(), nil
}

// queryTarget is a worker to ask, from verified state.
type queryTarget struct {
	identity []byte
	endpoint string
	key      envelope.PublicKey
}

type resolvedWorkers struct {
	targets []queryTarget
	// chainTime is the verified block time when they were read, at fetched (local clock): a
	// query's expiry is chainTime + time since fetched + TTL, so the local clock's offset does
	// not matter.
	chainTime time.Time
	fetched   time.Time
}

// ask sends what (its kind) to the contract's workers until one answers.
func (c *QueryClient) ask(ctx context.Context, contract [32]byte, what *api.Query, opts QueryOptions) (*api.QueryResult, error) {
	ttl := opts.TTL
	if ttl == 0 {
		ttl = DefaultQueryTTL
	}
	if ttl < 0 || ttl > MaxQueryTTL {
		return nil, fmt.Errorf("query TTL %s: want at most %s", ttl, MaxQueryTTL)
	}
	if s, ok := c.signer.(*Session); ok && s.chainID != c.v.c.chainID {
		return nil, fmt.Errorf("%w: the session is for chain %q, the node runs %q", ErrBadSession, s.chainID, c.v.c.chainID)
	}
	rw, err := c.resolve(ctx, contract)
	if err != nil {
		return nil, err
	}
	expires := rw.chainTime.Add(time.Since(rw.fetched) + ttl).Unix()
	var errs []error
	for _, i := range mrand.Perm(len(rw.targets)) {
		t := rw.targets[i]
		res, err := c.askWorker(ctx, t, contract, what, opts, expires)
		if err == nil {
			return res, nil
		}
		err = fmt.Errorf("worker %X at %s: %w", t.identity[:4], t.endpoint, err)
		if ctx.Err() != nil || !retryable(err) {
			return nil, err
		}
		errs = append(errs, err)
	}
	c.forget(contract)
	return nil, fmt.Errorf("%w: %w", ErrQueryUnanswered, errors.Join(errs...))
}

// retryable says whether another worker may answer where this one did not. Refusals of the
// signature, the session or the sender are the same everywhere.
func retryable(err error) bool {
	switch connect.CodeOf(err) {
	case connect.CodeUnauthenticated, connect.CodePermissionDenied:
		return false
	}
	return true
}

// askWorker sends one signed query to t and opens its answer.
func (c *QueryClient) askWorker(ctx context.Context, t queryTarget, contract [32]byte, what *api.Query, opts QueryOptions, expires int64) (*api.QueryResult, error) {
	q := &api.Query{Contract: contract[:], Kind: what.GetKind(), GasLimit: opts.GasLimit, MinHeight: opts.MinHeight, ExpiresAt: expires,
		Worker: t.identity, Nonce: make([]byte, queryNonceN)}
	if _, err := rand.Read(q.Nonce); err != nil {
		return nil, err
	}
	sq, err := c.signer.signQuery(q)
	if err != nil {
		return nil, err
	}
	env, opener, err := envelope.SealWithReply(t.key, envelope.PurposeQuery, contract[:], nil, module.Marshal(sq))
	if err != nil {
		return nil, err
	}
	svc := apiconnect.NewQueryServiceClient(c.http, t.endpoint, connect.WithReadMaxBytes(maxAnswer))
	resp, err := svc.Query(ctx, connect.NewRequest(&api.QueryRequest{Contract: contract[:], Envelope: env}))
	if err != nil {
		return nil, err
	}
	res, err := openQueryResult(opener, contract, resp.Msg.GetReply())
	if err != nil {
		return nil, err
	}
	if res.GetHeight() < opts.MinHeight {
		return nil, fmt.Errorf("%w: answered from height %d, below min_height %d", ErrBadQueryAnswer, res.GetHeight(), opts.MinHeight)
	}
	return res, nil
}

// openQueryResult opens and decodes a worker's answer.
func openQueryResult(opener *envelope.ReplyOpener, contract [32]byte, reply []byte) (*api.QueryResult, error) {
	plain, err := opener.Open(contract[:], reply)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadQueryAnswer, err)
	}
	return decodeQueryResult(plain)
}

func decodeQueryResult(b []byte) (*api.QueryResult, error) {
	var res api.QueryResult
	if err := module.StrictUnmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadQueryAnswer, err)
	}
	return &res, nil
}

func (c *QueryClient) forget(contract [32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.workers, contract)
}

// resolve finds the contract's cluster's active workers with an endpoint, from verified state.
// It holds c.mu throughout: the light client verifies one header at a time.
func (c *QueryClient) resolve(ctx context.Context, contract [32]byte) (*resolvedWorkers, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rw, ok := c.workers[contract]; ok && time.Since(rw.fetched) < workersTTL {
		return rw, nil
	}
	fetched := time.Now()
	pr := &provenReader{ctx: ctx, v: c.v}
	ct, err := contracts.GetContract(pr, contract[:])
	if err = pr.result(err); err != nil {
		return nil, err
	}
	cl, err := registry.GetCluster(pr, ct.GetCluster())
	if err = pr.result(err); err != nil {
		return nil, err
	}
	header, err := c.v.Header(ctx, pr.height+1)
	if err != nil {
		return nil, err
	}
	block := module.Block{Height: pr.height, Time: header.Time}
	rw := &resolvedWorkers{chainTime: header.Time, fetched: fetched}
	var skipped []error
	for _, id := range cl.GetWorkers() {
		w, err := registry.Active(pr, id, block)
		if pr.err != nil {
			return nil, pr.err
		}
		t, err := target(id, w, err)
		if err != nil {
			skipped = append(skipped, err)
			continue
		}
		rw.targets = append(rw.targets, *t)
	}
	if len(rw.targets) == 0 {
		return nil, fmt.Errorf("%w: cluster %s of contract %X: %w", ErrNoQueryWorker, registry.ClusterLabel(ct.GetCluster()), contract, errors.Join(skipped...))
	}
	c.workers[contract] = rw
	return rw, nil
}

// target is how to query a worker record, preferring its X-Wing key, or why not.
func target(id []byte, w *registry.Worker, active error) (*queryTarget, error) {
	switch {
	case active != nil:
		return nil, fmt.Errorf("worker %X: %w", id, active)
	case w.GetEndpoint() == "":
		return nil, fmt.Errorf("worker %X publishes no endpoint", id)
	}
	var best *queryTarget
	for _, k := range w.GetInfo().GetEncryptionKeys() {
		pub := envelope.PublicKey{KEM: envelope.KEM(k.GetKem()), Key: k.GetPublicKey()}
		if pub.Validate() != nil {
			continue
		}
		if best == nil || pub.KEM == envelope.XWing {
			best = &queryTarget{identity: id, endpoint: w.GetEndpoint(), key: pub}
		}
	}
	if best == nil {
		return nil, fmt.Errorf("worker %X has no usable encryption key", id)
	}
	return best, nil
}

// provenReader reads state through the Verifier: every value is proven against a verified
// header. The first failure sticks (store.Reader has no error results).
type provenReader struct {
	ctx    context.Context
	v      *Verifier
	err    error
	height int64
}

func (p *provenReader) Get(key []byte) []byte {
	if p.err != nil {
		return nil
	}
	pv, err := p.v.Get(p.ctx, key)
	if err != nil {
		p.err = err
		return nil
	}
	p.height = max(p.height, pv.Height)
	return pv.Value
}

// Iterator is not provable key by key: the readers used here never range.
func (p *provenReader) Iterator(_, _ []byte) store.Iterator {
	if p.err == nil {
		p.err = fmt.Errorf("%w: range reads are not supported", ErrUnverified)
	}
	return emptyIterator{}
}

// result is err, or the read failure behind it.
func (p *provenReader) result(err error) error {
	if p.err != nil {
		return p.err
	}
	return err
}

type emptyIterator struct{}

func (emptyIterator) Valid() bool   { return false }
func (emptyIterator) Next()         {}
func (emptyIterator) Key() []byte   { return nil }
func (emptyIterator) Value() []byte { return nil }
func (emptyIterator) Close()        {}
