package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/modules/contracts"
	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/crypto/envelope"
	"github.com/phala-go/phala/crypto/keys"
	"github.com/phala-go/phala/node/nodetest"
	"github.com/phala-go/phala/pruntime/api"
	"github.com/phala-go/phala/pruntime/api/apiconnect"
)

const queryChain = "phala-test"

func queryDevKey(t testing.TB, name string) keys.PrivateKey {
	k, err := keys.FromURI(keys.Sr25519, "//"+name)
	require.NoError(t, err)
	return k
}

// fakeWorker answers queries as a worker would (the same decoding and signature checks), then
// misbehaves as told.
type fakeWorker struct {
	t        *testing.T
	identity []byte
	x25519   envelope.PrivateKey
	xwing    envelope.PrivateKey
	mode     string
	calls    atomic.Int32
	// seen is the account of the last query.
	seen atomic.Value
}

func newFakeWorker(t *testing.T, mode string) (*fakeWorker, queryTarget) {
	x, err := envelope.GenerateKey(envelope.X25519)
	require.NoError(t, err)
	xw, err := envelope.GenerateKey(envelope.XWing)
	require.NoError(t, err)
	w := &fakeWorker{t: t, identity: bytes.Repeat([]byte{byte(len(mode))}, 32), x25519: x, xwing: xw, mode: mode}
	mux := http.NewServeMux()
	mux.Handle(apiconnect.NewQueryServiceHandler(w))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return w, queryTarget{identity: w.identity, endpoint: srv.URL, key: xw.Public()}
}

func (w *fakeWorker) Query(_ context.Context, req *connect.Request[api.QueryRequest]) (*connect.Response[api.QueryResponse], error) {
	w.calls.Add(1)
	kem, err := envelope.KEMOf(req.Msg.GetEnvelope())
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	priv := w.x25519
	if kem == envelope.XWing {
		priv = w.xwing
	}
	plain, sealer, err := envelope.OpenWithReply(priv, envelope.PurposeQuery, req.Msg.GetContract(), nil, req.Msg.GetEnvelope())
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	sq, q, err := api.DecodeSignedQuery(plain)
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	signer, err := sq.Verify(queryChain)
	if err != nil || !bytes.Equal(q.GetWorker(), w.identity) || q.GetExpiresAt() <= time.Now().Unix() {
		return nil, connect.NewError(connect.CodeUnauthenticated, errors.New("refused"))
	}
	w.seen.Store(signer.Account)
	res := &api.QueryResult{Height: 10, Output: signer.Account.Key[:]}
	switch w.mode {
	case "behind":
		return nil, connect.NewError(connect.CodeFailedPrecondition, errors.New("worker is behind"))
	case "denied":
		return nil, connect.NewError(connect.CodePermissionDenied, errors.New("not the sender"))
	case "failing":
		res = &api.QueryResult{Height: 10, Error: &api.QueryError{Class: "contract_error", Message: "no such query"}}
	case "receipt":
		res = &api.QueryResult{Height: 10, Receipt: &api.Receipt{Command: q.GetReceipt(), Sender: signer.Account.Key[:], Outcome: "ok"}}
	case "low":
		res.Height = 1
	}
	reply, err := sealer.Seal(req.Msg.GetContract(), module.Marshal(res))
	require.NoError(w.t, err)
	switch w.mode {
	case "tampered":
		reply[0] ^= 1
	case "impostor": // a well-formed answer under another query's reply key
		other, err := envelope.GenerateKey(envelope.X25519)
		require.NoError(w.t, err)
		env, _, err := envelope.SealWithReply(other.Public(), envelope.PurposeQuery, req.Msg.GetContract(), nil, []byte("x"))
		require.NoError(w.t, err)
		_, s2, err := envelope.OpenWithReply(other, envelope.PurposeQuery, req.Msg.GetContract(), nil, env)
		require.NoError(w.t, err)
		reply, err = s2.Seal(req.Msg.GetContract(), module.Marshal(res))
		require.NoError(w.t, err)
	}
	return connect.NewResponse(&api.QueryResponse{Reply: reply}), nil
}

// clientFor is a query client whose contract resolves to targets (as verified state would
// give them), on a verifier for queryChain.
func clientFor(signer QuerySigner, contract [32]byte, targets ...queryTarget) *QueryClient {
	c := NewQueryClient(&Verifier{c: &Client{chainID: queryChain}}, signer, nil)
	c.workers[contract] = &resolvedWorkers{targets: targets, chainTime: time.Now(), fetched: time.Now()}
	return c
}

// TestQueryWorkers: the client seals to the worker's key, opens only the answer of that key's
// holder, tries the next worker when one fails or is behind, and stops at refusals that every
// worker would make.
func TestQueryWorkers(t *testing.T) {
	ctx := context.Background()
	alice := queryDevKey(t, "Alice")
	aliceKey := alice.Public().Key
	contract := [32]byte{0xc0}
	good, goodT := newFakeWorker(t, "ok")

	cases := map[string]struct {
		modes     []string
		err       error
		code      connect.Code
		goodCalls int32
	}{
		"answers":                        {nil, nil, 0, 1},
		"behind, then another":           {[]string{"behind"}, nil, 0, 1},
		"tampered, then another":         {[]string{"tampered"}, nil, 0, 1},
		"impostor, then another":         {[]string{"impostor"}, nil, 0, 1},
		"below min_height, then another": {[]string{"low"}, nil, 0, 1},
		"only failures":                  {[]string{"behind", "tampered"}, ErrQueryUnanswered, connect.CodeFailedPrecondition, 0},
		"refused everywhere":             {[]string{"denied"}, nil, connect.CodePermissionDenied, 0},
	}
	for name, tc := range cases {
		var targets []queryTarget
		var bad []*fakeWorker
		for _, m := range tc.modes {
			w, tg := newFakeWorker(t, m)
			bad, targets = append(bad, w), append(targets, tg)
		}
		if tc.goodCalls > 0 {
			targets = append(targets, goodT)
		}
		// The bad workers first, whatever the shuffle: run the query until it has tried them.
		c := clientFor(AccountSigner(alice), contract, targets...)
		good.calls.Store(0)
		var out []byte
		var err error
		for attempt := 0; attempt < 50; attempt++ {
			out, _, err = c.Query(ctx, contract, []byte(`{}`), QueryOptions{MinHeight: 5})
			c.workers[contract] = &resolvedWorkers{targets: targets, chainTime: time.Now(), fetched: time.Now()}
			tried := true
			for _, w := range bad {
				tried = tried && w.calls.Load() > 0
			}
			if tried {
				break
			}
		}
		switch {
		case tc.err != nil:
			require.ErrorIs(t, err, tc.err, name)
			require.Equal(t, tc.code, connect.CodeOf(err), name)
		case tc.code != 0:
			require.Equal(t, tc.code, connect.CodeOf(err), name)
			require.NotErrorIs(t, err, ErrQueryUnanswered, "%s: not retried", name)
		default:
			require.NoError(t, err, name)
			require.Equal(t, aliceKey[:], out, "%s: the worker saw Alice", name)
			require.Positive(t, good.calls.Load(), name)
		}
	}

	// A session: the worker sees the account, not the session key.
	bob := queryDevKey(t, "Bob")
	s, err := NewSession(bob, queryChain, time.Hour, time.Now())
	require.NoError(t, err)
	out, h, err := clientFor(s, contract, goodT).Query(ctx, contract, nil, QueryOptions{})
	require.NoError(t, err)
	bobKey := bob.Public().Key
	require.Equal(t, bobKey[:], out)
	require.EqualValues(t, 10, h)
	other, err := NewSession(bob, "other-chain", time.Hour, time.Now())
	require.NoError(t, err)
	_, _, err = clientFor(other, contract, goodT).Query(ctx, contract, nil, QueryOptions{})
	require.ErrorIs(t, err, ErrBadSession, "a session for another chain is refused before sending")

	// What the contract fails is its own error, not retried.
	_, failT := newFakeWorker(t, "failing")
	_, h, err = clientFor(AccountSigner(alice), contract, failT).Query(ctx, contract, nil, QueryOptions{})
	var qe *ContractQueryError
	require.ErrorAs(t, err, &qe)
	require.Equal(t, "contract_error", qe.Class)
	require.EqualValues(t, 10, h)

	// Receipts.
	_, rcT := newFakeWorker(t, "receipt")
	rc, _, err := clientFor(AccountSigner(alice), contract, rcT).QueryReceipt(ctx, contract, InstantiationCommand, QueryOptions{})
	require.NoError(t, err)
	require.Equal(t, InstantiationCommand, rc.GetCommand())
	require.Equal(t, aliceKey[:], rc.GetSender())

	_, _, err = clientFor(AccountSigner(alice), contract, goodT).Query(ctx, contract, nil, QueryOptions{TTL: time.Hour})
	require.Error(t, err, "a TTL past the workers' window")
}

func TestQueryTarget(t *testing.T) {
	x, err := envelope.GenerateKey(envelope.X25519)
	require.NoError(t, err)
	xw, err := envelope.GenerateKey(envelope.XWing)
	require.NoError(t, err)
	id := bytes.Repeat([]byte{1}, 32)
	info := &registry.WorkerInfo{IdentityKey: id, EncryptionKeys: []*registry.EncryptionKey{
		{Kem: uint32(envelope.X25519), PublicKey: x.Public().Key}, {Kem: uint32(envelope.XWing), PublicKey: xw.Public().Key}}}
	tg, err := target(id, &registry.Worker{Info: info, Endpoint: "https://w.example"}, nil)
	require.NoError(t, err)
	require.Equal(t, envelope.XWing, tg.key.KEM, "X-Wing is preferred")
	require.Equal(t, "https://w.example", tg.endpoint)

	info.EncryptionKeys = info.EncryptionKeys[:1]
	tg, err = target(id, &registry.Worker{Info: info, Endpoint: "https://w.example"}, nil)
	require.NoError(t, err)
	require.Equal(t, envelope.X25519, tg.key.KEM)

	_, err = target(id, &registry.Worker{Info: info}, nil)
	require.Error(t, err, "no endpoint")
	_, err = target(id, &registry.Worker{Info: info, Endpoint: "https://w.example"}, registry.ErrWorkerInactive)
	require.ErrorIs(t, err, registry.ErrWorkerInactive)
	info.EncryptionKeys = []*registry.EncryptionKey{{Kem: uint32(envelope.X25519), PublicKey: make([]byte, 32)}}
	_, err = target(id, &registry.Worker{Info: info, Endpoint: "https://w.example"}, nil)
	require.Error(t, err, "an invalid key is not used")
}

func TestSession(t *testing.T) {
	alice := queryDevKey(t, "Alice")
	now := time.Unix(1_800_000_000, 0)
	s, err := NewSession(alice, queryChain, time.Hour, now)
	require.NoError(t, err)
	require.Equal(t, alice.Public(), s.Account())
	require.Equal(t, now.Add(time.Hour), s.ExpiresAt())
	b, err := s.MarshalBinary()
	require.NoError(t, err)
	require.NotContains(t, string(b), "Alice")
	back, err := ParseSession(b)
	require.NoError(t, err)
	require.Equal(t, s.Account(), back.Account())
	require.Equal(t, s.ExpiresAt(), back.ExpiresAt())
	require.Equal(t, queryChain, back.ChainID())
	require.Equal(t, s.key.Public(), back.key.Public())

	for _, ttl := range []time.Duration{0, -time.Second, MaxSessionTTL + time.Second} {
		_, err := NewSession(alice, queryChain, ttl, now)
		require.ErrorIs(t, err, ErrBadSession, ttl)
	}
	var f sessionFile
	require.NoError(t, json.Unmarshal(b, &f))
	other, err := NewSession(alice, queryChain, time.Hour, now)
	require.NoError(t, err)
	bad := map[string]func(sessionFile) sessionFile{
		"another session's seed": func(f sessionFile) sessionFile { f.Seed = other.seed[:]; return f },
		"short seed":             func(f sessionFile) sessionFile { f.Seed = f.Seed[:31]; return f },
		"version":                func(f sessionFile) sessionFile { f.Version = 2; return f },
		"tampered certificate": func(f sessionFile) sessionFile {
			f.Certificate = bytes.Clone(f.Certificate)
			f.Certificate[len(f.Certificate)-1] ^= 1
			return f
		},
		"garbage certificate": func(f sessionFile) sessionFile { f.Certificate = []byte{0xff}; return f },
	}
	for name, mod := range bad {
		enc, err := json.Marshal(mod(f))
		require.NoError(t, err)
		_, err = ParseSession(enc)
		require.ErrorIs(t, err, ErrBadSession, name)
	}
	_, err = ParseSession(append(bytes.TrimSuffix(b, []byte("}")), []byte(`,"extra":1}`)...))
	require.ErrorIs(t, err, ErrBadSession, "unknown field")
}

// TestQueryClientAgainstNode: the contract is looked up in verified state, through proofs.
func TestQueryClientAgainstNode(t *testing.T) {
	n := nodetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := New(ctx, n.RPC)
	require.NoError(t, err)
	v, err := c.NewVerifier(ctx, t.TempDir(), Trust{})
	require.NoError(t, err)
	defer v.Close()
	s, err := NewSession(queryDevKey(t, "Alice"), c.ChainID(), time.Hour, time.Now())
	require.NoError(t, err)
	_, _, err = NewQueryClient(v, s, nil).Query(ctx, [32]byte{0xc0}, []byte(`{}`), QueryOptions{})
	require.ErrorIs(t, err, contracts.ErrContractNotFound, "proven absent")
}

func FuzzDecodeQueryResult(f *testing.F) {
	f.Add(module.Marshal(&api.QueryResult{Height: 3, Output: []byte(`{"balance":1}`), GasUsed: 9}))
	f.Add(module.Marshal(&api.QueryResult{Height: 3, Error: &api.QueryError{Class: "trap", Message: "x"}}))
	f.Add(module.Marshal(&api.QueryResult{Receipt: &api.Receipt{Events: []*api.ContractEvent{{Topic: "t"}}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := decodeQueryResult(b); err != nil {
			require.ErrorIs(t, err, ErrBadQueryAnswer)
		}
	})
}

func FuzzParseSession(f *testing.F) {
	s, err := NewSession(queryDevKey(f, "Alice"), queryChain, time.Hour, time.Unix(1_800_000_000, 0))
	require.NoError(f, err)
	b, err := s.MarshalBinary()
	require.NoError(f, err)
	f.Add(b)
	f.Add([]byte(`{"version":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSession(b)
		if err != nil {
			require.ErrorIs(t, err, ErrBadSession)
			return
		}
		_, err = s.signQuery(&api.Query{})
		require.NoError(t, err)
	})
}
