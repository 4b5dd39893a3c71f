package pruntime

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"connectrpc.com/connect"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"

	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/modules/contracts"
	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/contract/vm"
	"github.com/phala-go/phala/crypto/envelope"
	"github.com/phala-go/phala/crypto/keys"
	"github.com/phala-go/phala/pruntime/api"
	"github.com/phala-go/phala/pruntime/api/apiconnect"
)

// queryNet is a cluster of w1 and w2 running the token (Bob 990 after his command 0, a
// transfer of 10 to Dave; Charlie 500), and w3 registered outside the cluster.
type queryNet struct {
	*keyNet
	contract []byte
	// command is Bob's transfer.
	command uint64
}

func newQueryNet(t testing.TB) *queryNet {
	wasm, err := tokenWasm()
	require.NoError(t, err)
	n := newKeyNet(t)
	for _, name := range []string{"g1", "w1", "w2", "w3"} {
		n.open(name)
	}
	n.block()
	n.register("g1", "w1", "w2", "w3")
	n.govern(&registry.MsgRegisterGatekeeper{Worker: n.id("g1")})
	n.settle()
	n.govern(&registry.MsgCreateCluster{Workers: [][]byte{n.id("w1"), n.id("w2")}})
	n.settle()
	cluster := registry.ClusterID(1)
	bob, charlie, dave := account(t, "Bob"), account(t, "Charlie"), account(t, "Dave")
	enc, err := zstd.NewWriter(nil)
	require.NoError(t, err)
	n.block(n.w.signWithFee("Bob", uploadFee, &contracts.MsgUploadCode{Code: enc.EncodeAll(wasm, nil), Compression: contracts.CompressionZstd}))
	hash := contracts.CodeHash(wasm)
	id := contracts.ContractID(bob, hash[:], cluster, []byte("q"))
	cl, err := registry.GetCluster(n.chainState(), cluster)
	require.NoError(t, err)
	init := fmt.Sprintf(`{"name":"Secret","symbol":"SEC","mint":[{"to":%q,"amount":1000},{"to":%q,"amount":500}]}`, hexAddr(bob), hexAddr(charlie))
	n.block(n.w.sign("Bob", &contracts.MsgInstantiate{CodeHash: hash[:], Cluster: cluster, Salt: []byte("q"),
		Init: sealFor(t, cl.GetKeys()[0].GetEncryptionKeys(), envelope.X25519, id[:], bob, init), Encrypted: true, KeyGeneration: 1, GasLimit: 2_000_000_000}))
	n.settle()
	keys := n.contract(id[:]).GetKeys()
	transfer := fmt.Sprintf(`{"transfer":{"to":%q,"amount":10}}`, hexAddr(dave))
	n.block(n.w.sign("Bob", &contracts.MsgExecute{Contract: id[:], Payload: sealFor(t, keys[0].GetEncryptionKeys(), envelope.X25519, id[:], bob, transfer),
		Encrypted: true, KeyGeneration: 1, GasLimit: 1_000_000_000}))
	n.settle()
	return &queryNet{keyNet: n, contract: id[:], command: 0}
}

func devKey(t testing.TB, name string) keys.PrivateKey {
	k, err := keys.FromURI(keys.Sr25519, "//"+name)
	require.NoError(t, err)
	return k
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

func sessionKey(t testing.TB) keys.PrivateKey {
	return keys.Ed25519FromSeed([32]byte(randomBytes(t, 32)))
}

// now is a worker's verified time.
func (n *queryNet) now(worker string) int64 {
	_, _, now, err := n.rts[worker].verifiedClock()
	require.NoError(n.t, err)
	return now
}

// newQuery is a valid balance query to worker, expiring in a minute.
func (n *queryNet) newQuery(worker string) *api.Query {
	return &api.Query{Contract: n.contract, Kind: &api.Query_Input{Input: []byte(`{"balance":{}}`)}, Nonce: randomBytes(n.t, 16),
		ExpiresAt: n.now(worker) + 60, Worker: n.id(worker)}
}

func (n *queryNet) sign(q *api.Query, key keys.PrivateKey, cert *api.Certificate) *api.SignedQuery {
	sq, err := api.SignQuery(q, key, cert)
	require.NoError(n.t, err)
	return sq
}

func (n *queryNet) certificate(account keys.PrivateKey, session keys.PrivateKey, expiresAt int64, chainID string) *api.Certificate {
	c, err := api.NewCertificate(account, session.Public(), expiresAt, chainID)
	require.NoError(n.t, err)
	return c
}

// sealTo seals a signed query to a worker's registered key of kem, as clients do.
func (n *queryNet) sealTo(worker string, kem envelope.KEM, contract []byte, sq *api.SignedQuery) (*api.QueryRequest, *envelope.ReplyOpener) {
	w, err := registry.GetWorker(n.chainState(), n.id(worker))
	require.NoError(n.t, err)
	for _, k := range w.GetInfo().GetEncryptionKeys() {
		if envelope.KEM(k.GetKem()) == kem {
			env, opener, err := envelope.SealWithReply(envelope.PublicKey{KEM: kem, Key: k.GetPublicKey()}, envelope.PurposeQuery, contract, nil, module.Marshal(sq))
			require.NoError(n.t, err)
			return &api.QueryRequest{Contract: contract, Envelope: env}, opener
		}
	}
	n.t.Fatalf("worker %s has no %s key", worker, kem)
	return nil, nil
}

func openResult(t testing.TB, opener *envelope.ReplyOpener, contract []byte, resp *api.QueryResponse) *api.QueryResult {
	plain, err := opener.Open(contract, resp.GetReply())
	require.NoError(t, err)
	var res api.QueryResult
	require.NoError(t, module.StrictUnmarshal(plain, &res))
	return &res
}

func balanceIn(t testing.TB, res *api.QueryResult) uint64 {
	require.Nil(t, res.GetError())
	var b struct {
		Balance uint64 `json:"balance"`
	}
	require.NoError(t, json.Unmarshal(res.GetOutput(), &b))
	return b.Balance
}

// TestQuery: signed, encrypted queries answer as the signing account, through the account key
// or a session; every refusal has its own error and code and consumes nothing; contract errors
// travel in the sealed answer; a tampered answer does not open.
func TestQuery(t *testing.T) {
	n := newQueryNet(t)
	ctx := context.Background()
	w1 := n.rts["w1"]
	chainID := n.w.chain.ChainID
	bob, charlie, dave := devKey(t, "Bob"), devKey(t, "Charlie"), devKey(t, "Dave")
	mux := http.NewServeMux()
	mux.Handle(QueryHandler(w1))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	remote := apiconnect.NewQueryServiceClient(srv.Client(), srv.URL)

	// The account key itself, over both KEMs and over HTTP.
	for _, kem := range []envelope.KEM{envelope.X25519, envelope.XWing} {
		req, opener := n.sealTo("w1", kem, n.contract, n.sign(n.newQuery("w1"), bob, nil))
		resp, err := w1.Query(ctx, req)
		require.NoError(t, err, kem)
		res := openResult(t, opener, n.contract, resp)
		require.Equal(t, uint64(990), balanceIn(t, res), "the contract sees Bob as the caller")
		require.Equal(t, w1.Info().VerifiedHeight, res.GetHeight())
		require.NotZero(t, res.GetGasUsed())
	}
	req, opener := n.sealTo("w1", envelope.X25519, n.contract, n.sign(n.newQuery("w1"), bob, nil))
	resp, err := remote.Query(ctx, connect.NewRequest(req))
	require.NoError(t, err)
	require.Equal(t, uint64(990), balanceIn(t, openResult(t, opener, n.contract, resp.Msg)))

	// A session: Charlie certifies an ed25519 key once; the contract sees Charlie.
	session := sessionKey(t)
	cert := n.certificate(charlie, session, n.now("w1")+3600, chainID)
	req, opener = n.sealTo("w1", envelope.X25519, n.contract, n.sign(n.newQuery("w1"), session, cert))
	resp2, err := w1.Query(ctx, req)
	require.NoError(t, err)
	require.Equal(t, uint64(500), balanceIn(t, openResult(t, opener, n.contract, resp2)))

	// A failing query is an answer, sealed: the RPC succeeds.
	q := n.newQuery("w1")
	q.Kind = &api.Query_Input{Input: []byte(`{"no_such_query":{}}`)}
	req, opener = n.sealTo("w1", envelope.X25519, n.contract, n.sign(q, bob, nil))
	resp2, err = w1.Query(ctx, req)
	require.NoError(t, err)
	res := openResult(t, opener, n.contract, resp2)
	require.Equal(t, "contract_error", res.GetError().GetClass())
	require.NotEmpty(t, res.GetError().GetMessage())
	require.Empty(t, res.GetOutput())

	// Receipts: Bob's command and the instantiation (Bob deployed), to Bob only.
	receipt := func(command uint64) *api.Query {
		q := n.newQuery("w1")
		q.Kind = &api.Query_Receipt{Receipt: command}
		return q
	}
	for _, command := range []uint64{n.command, InstantiationReceipt} {
		req, opener = n.sealTo("w1", envelope.X25519, n.contract, n.sign(receipt(command), bob, nil))
		resp2, err = w1.Query(ctx, req)
		require.NoError(t, err)
		rc := openResult(t, opener, n.contract, resp2).GetReceipt()
		require.Equal(t, "ok", rc.GetOutcome())
		if command != InstantiationReceipt {
			require.Equal(t, command, rc.GetCommand())
		}
		bobID := bob.Public().AccountID()
		require.Equal(t, bobID[:], rc.GetSender())
	}

	// Refusals, each checked directly (its sentinel) and over HTTP (its code).
	otherContract := randomBytes(t, 32)
	cases := map[string]struct {
		build func() *api.QueryRequest
		err   error
		code  connect.Code
	}{
		"expired certificate": {func() *api.QueryRequest {
			c := n.certificate(charlie, session, n.now("w1"), chainID)
			r, _ := n.sealTo("w1", envelope.X25519, n.contract, n.sign(n.newQuery("w1"), session, c))
			return r
		}, ErrSessionExpired, connect.CodeUnauthenticated},
		"certificate signed by another account": {func() *api.QueryRequest {
			c := n.certificate(dave, session, n.now("w1")+3600, chainID)
			var body api.CertificateBody
			require.NoError(t, module.StrictUnmarshal(c.Body, &body))
			charlieID := charlie.Public().Key
			body.Account.Key = charlieID[:] // claims Charlie, signed by Dave
			c.Body = module.Marshal(&body)
			r, _ := n.sealTo("w1", envelope.X25519, n.contract, n.sign(n.newQuery("w1"), session, c))
			return r
		}, api.ErrBadCertificate, connect.CodeUnauthenticated},
		"certificate for another chain": {func() *api.QueryRequest {
			c := n.certificate(charlie, session, n.now("w1")+3600, "other-chain")
			r, _ := n.sealTo("w1", envelope.X25519, n.contract, n.sign(n.newQuery("w1"), session, c))
			return r
		}, api.ErrBadCertificate, connect.CodeUnauthenticated},
		"query signed by another session key": {func() *api.QueryRequest {
			r, _ := n.sealTo("w1", envelope.X25519, n.contract, n.sign(n.newQuery("w1"), sessionKey(t), cert))
			return r
		}, api.ErrBadQuerySignature, connect.CodeUnauthenticated},
		"query signed by another account": {func() *api.QueryRequest {
			sq := n.sign(n.newQuery("w1"), dave, nil)
			sq.Signer = &api.SignedQuery_Account{Account: &api.PublicKey{Type: uint32(keys.Sr25519), Key: pubBytes(bob)}}
			r, _ := n.sealTo("w1", envelope.X25519, n.contract, sq)
			return r
		}, api.ErrBadQuerySignature, connect.CodeUnauthenticated},
		"meant for another worker": {func() *api.QueryRequest {
			q := n.newQuery("w1")
			q.Worker = n.id("w2")
			r, _ := n.sealTo("w1", envelope.X25519, n.contract, n.sign(q, bob, nil))
			return r
		}, ErrQueryWrongWorker, connect.CodePermissionDenied},
		"signed for another contract": {func() *api.QueryRequest {
			q := n.newQuery("w1")
			q.Contract = otherContract
			r, _ := n.sealTo("w1", envelope.X25519, n.contract, n.sign(q, bob, nil))
			return r
		}, ErrQueryWrongContract, connect.CodePermissionDenied},
		"envelope for another contract": {func() *api.QueryRequest {
			r, _ := n.sealTo("w1", envelope.X25519, otherContract, n.sign(n.newQuery("w1"), bob, nil))
			r.Contract = n.contract
			return r
		}, ErrQueryEnvelope, connect.CodeInvalidArgument},
		"sealed to another worker": {func() *api.QueryRequest {
			r, _ := n.sealTo("w2", envelope.XWing, n.contract, n.sign(n.newQuery("w1"), bob, nil))
			return r
		}, ErrQueryEnvelope, connect.CodeInvalidArgument},
		"tampered envelope": {func() *api.QueryRequest {
			r, _ := n.sealTo("w1", envelope.X25519, n.contract, n.sign(n.newQuery("w1"), bob, nil))
			r.Envelope[len(r.Envelope)-20] ^= 1
			return r
		}, ErrQueryEnvelope, connect.CodeInvalidArgument},
		"truncated envelope": {func() *api.QueryRequest {
			r, _ := n.sealTo("w1", envelope.X25519, n.contract, n.sign(n.newQuery("w1"), bob, nil))
			r.Envelope = r.Envelope[:len(r.Envelope)-1]
			return r
		}, ErrQueryEnvelope, connect.CodeInvalidArgument},
		"short contract id": {func() *api.QueryRequest {
			r, _ := n.sealTo("w1", envelope.X25519, n.contract, n.sign(n.newQuery("w1"), bob, nil))
			r.Contract = r.Contract[:31]
			return r
		}, api.ErrMalformedQuery, connect.CodeInvalidArgument},
		"short nonce": {func() *api.QueryRequest {
			q := n.newQuery("w1")
			q.Nonce = q.Nonce[:15]
			r, _ := n.sealTo("w1", envelope.X25519, n.contract, n.sign(q, bob, nil))
			return r
		}, api.ErrMalformedQuery, connect.CodeInvalidArgument},
		"expired query": {func() *api.QueryRequest {
			q := n.newQuery("w1")
			q.ExpiresAt = n.now("w1")
			r, _ := n.sealTo("w1", envelope.X25519, n.contract, n.sign(q, bob, nil))
			return r
		}, ErrQueryExpired, connect.CodeUnauthenticated},
		"expiry past the window": {func() *api.QueryRequest {
			q := n.newQuery("w1")
			q.ExpiresAt = n.now("w1") + int64(MaxQueryWindow.Seconds()) + 1
			r, _ := n.sealTo("w1", envelope.X25519, n.contract, n.sign(q, bob, nil))
			return r
		}, ErrQueryWindow, connect.CodeInvalidArgument},
		"min_height in the future": {func() *api.QueryRequest {
			q := n.newQuery("w1")
			q.MinHeight = w1.Info().VerifiedHeight + 1
			r, _ := n.sealTo("w1", envelope.X25519, n.contract, n.sign(q, bob, nil))
			return r
		}, ErrWorkerBehind, connect.CodeFailedPrecondition},
		"someone else's receipt": {func() *api.QueryRequest {
			r, _ := n.sealTo("w1", envelope.X25519, n.contract, n.sign(receipt(n.command), charlie, nil))
			return r
		}, ErrNotSender, connect.CodePermissionDenied},
		"someone else's instantiation receipt": {func() *api.QueryRequest {
			r, _ := n.sealTo("w1", envelope.X25519, n.contract, n.sign(receipt(InstantiationReceipt), session, cert))
			return r
		}, ErrNotSender, connect.CodePermissionDenied},
		"receipt of a command not run": {func() *api.QueryRequest {
			r, _ := n.sealTo("w1", envelope.X25519, n.contract, n.sign(receipt(99), bob, nil))
			return r
		}, ErrNoReceipt, connect.CodeNotFound},
		"unknown contract": {func() *api.QueryRequest {
			r, _ := n.sealTo("w1", envelope.X25519, otherContract, n.sign(func() *api.Query {
				q := n.newQuery("w1")
				q.Contract = otherContract
				return q
			}(), bob, nil))
			return r
		}, ErrNotServing, connect.CodeFailedPrecondition},
	}
	for name, tc := range cases {
		_, err := w1.Query(ctx, tc.build())
		require.ErrorIs(t, err, tc.err, name)
		_, err = remote.Query(ctx, connect.NewRequest(tc.build()))
		require.Equal(t, tc.code, connect.CodeOf(err), "%s: %v", name, err)
	}

	// w3 is not in the cluster: it refuses before running anything.
	req, _ = n.sealTo("w3", envelope.X25519, n.contract, n.sign(n.newQuery("w3"), bob, nil))
	_, err = n.rts["w3"].Query(ctx, req)
	require.ErrorIs(t, err, ErrNotServing)

	// A replayed query is refused; refusals consume no nonce: a forgery with Bob's nonce and a
	// query refused for min_height leave the nonce to Bob's genuine query.
	req, _ = n.sealTo("w1", envelope.X25519, n.contract, n.sign(n.newQuery("w1"), bob, nil))
	_, err = w1.Query(ctx, req)
	require.NoError(t, err)
	_, err = w1.Query(ctx, req)
	require.ErrorIs(t, err, ErrQueryReplayed)
	_, err = remote.Query(ctx, connect.NewRequest(req))
	require.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err))

	q = n.newQuery("w1")
	forged := n.sign(q, dave, nil)
	forged.Signer = &api.SignedQuery_Account{Account: &api.PublicKey{Type: uint32(keys.Sr25519), Key: pubBytes(bob)}}
	req, _ = n.sealTo("w1", envelope.X25519, n.contract, forged)
	_, err = w1.Query(ctx, req)
	require.ErrorIs(t, err, api.ErrBadQuerySignature)
	q.MinHeight = w1.Info().VerifiedHeight + 5
	req, _ = n.sealTo("w1", envelope.X25519, n.contract, n.sign(q, bob, nil))
	_, err = w1.Query(ctx, req)
	require.ErrorIs(t, err, ErrWorkerBehind)
	q.MinHeight = 0
	req, opener = n.sealTo("w1", envelope.X25519, n.contract, n.sign(q, bob, nil))
	resp2, err = w1.Query(ctx, req)
	require.NoError(t, err, "the nonce was still Bob's")

	// The answer opens only untampered, under the contract id, from the worker's key.
	reply := resp2.GetReply()
	for _, i := range []int{0, len(reply) / 2, len(reply) - 1} {
		bad := append([]byte(nil), reply...)
		bad[i] ^= 0x80
		_, err := opener.Open(n.contract, bad)
		require.ErrorIs(t, err, envelope.ErrDecrypt)
	}
	_, err = opener.Open(otherContract, reply)
	require.ErrorIs(t, err, envelope.ErrDecrypt)
	require.Equal(t, uint64(990), balanceIn(t, openResult(t, opener, n.contract, resp2)), "failed opens did not advance the reply sequence")
}

func pubBytes(k keys.PrivateKey) []byte {
	p := k.Public().Key
	return p[:]
}

// TestSetEndpoint: a registered worker publishes its URL once (not again while the message
// waits or once the chain has it), changes and withdraws it; bad URLs and unregistered workers
// are refused.
func TestSetEndpoint(t *testing.T) {
	n := newKeyNet(t)
	for _, name := range []string{"w1", "w2"} {
		n.open(name)
	}
	n.block()
	n.register("w1")
	r := n.rts["w1"]
	onChain := func() string {
		w, err := registry.GetWorker(n.chainState(), n.id("w1"))
		require.NoError(t, err)
		return w.GetEndpoint()
	}

	_, err := n.rts["w2"].SetEndpoint("https://w2.example")
	require.ErrorIs(t, err, ErrNotRegistered)
	require.Equal(t, connect.CodeFailedPrecondition, connect.CodeOf(queryCode(err)))
	_, err = r.SetEndpoint("ftp://w1.example")
	require.ErrorIs(t, err, registry.ErrInvalidEndpoint)
	require.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(queryCode(err)))
	out, err := r.Egress()
	require.NoError(t, err)
	require.Empty(t, out, "refusals send nothing")

	for _, url := range []string{"https://w1.example:8443", "http://10.0.0.1:8100/q", ""} {
		resp, err := r.SetEndpoint(url)
		require.NoError(t, err)
		require.True(t, resp.GetSent(), url)
		resp, err = r.SetEndpoint(url)
		require.NoError(t, err)
		require.False(t, resp.GetSent(), "%s is already waiting in the outbox", url)
		n.settle()
		require.Equal(t, url, onChain())
		resp, err = r.SetEndpoint(url)
		require.NoError(t, err)
		require.False(t, resp.GetSent(), "the chain already has %s", url)
	}
}

// TestReplayCache: a nonce is refused while its query can still be valid, forgotten only once
// the verified time has passed its expiry, and a full cache refuses rather than forgets.
func TestReplayCache(t *testing.T) {
	c := newReplayCache(2, 3)
	alice, bob, carol := devKey(t, "Alice").Public(), devKey(t, "Bob").Public(), devKey(t, "Carol").Public()
	n1, n2, n3 := []byte("nonce-1........."), []byte("nonce-2........."), []byte("nonce-3.........")
	window := int64(MaxQueryWindow.Seconds())
	steps := []struct {
		name      string
		signer    keys.PublicKey
		nonce     []byte
		expiresAt int64
		now       int64
		err       error
	}{
		{"first", alice, n1, 150, 100, nil},
		{"replayed", alice, n1, 150, 100, ErrQueryReplayed},
		{"replayed with another expiry", alice, n1, 160, 100, ErrQueryReplayed},
		{"another signer, same nonce", bob, n1, 150, 100, nil},
		{"expired", alice, n2, 100, 100, ErrQueryExpired},
		{"past the window", alice, n2, 100 + window + 1, 100, ErrQueryWindow},
		{"at the window", alice, n2, 100 + window, 100, nil},
		{"signer full", alice, n3, 150, 100, ErrReplayCacheFull},
		{"cache full", carol, n3, 150, 100, ErrReplayCacheFull},
		{"the clock never goes back", carol, n3, 120, 50, ErrReplayCacheFull},
		// At 150 the nonces expiring at 150 are forgotten: their queries are refused as expired.
		{"forgotten only once expired", alice, n1, 150, 150, ErrQueryExpired},
		{"room again", alice, n3, 200, 150, nil},
		{"at the window, still remembered", alice, n2, 100 + window, 150, ErrQueryReplayed},
		{"an older verified time does not reopen expired queries", alice, n1, 150, 120, ErrQueryExpired},
	}
	for _, s := range steps {
		err := c.admit(s.signer, s.nonce, s.expiresAt, s.now)
		if s.err == nil {
			require.NoError(t, err, s.name)
		} else {
			require.ErrorIs(t, err, s.err, s.name)
		}
	}
}

func TestQueryCodes(t *testing.T) {
	for err, code := range map[error]connect.Code{
		fmt.Errorf("x: %w", vm.ErrOverloaded): connect.CodeResourceExhausted,
		ErrReplayCacheFull:                    connect.CodeResourceExhausted,
		ErrWorkerBehind:                       connect.CodeFailedPrecondition,
		ErrQueryWindow:                        connect.CodeInvalidArgument,
		api.ErrMalformedQuery:                 connect.CodeInvalidArgument,
		ErrQueryReplayed:                      connect.CodePermissionDenied,
		ErrSessionExpired:                     connect.CodeUnauthenticated,
		ErrNoReceipt:                          connect.CodeNotFound,
		fmt.Errorf("disk on fire"):            connect.CodeInternal,
	} {
		require.Equal(t, code, connect.CodeOf(queryCode(err)), err.Error())
	}
}

// BenchmarkQuery compares a query through the whole signed, encrypted path (the client's
// signing and sealing, the worker's checks, the contract, the sealed answer and its opening)
// with the contract query alone (QueryContract: no envelope, no signature).
func BenchmarkQuery(b *testing.B) {
	n := newQueryNet(b)
	w1 := n.rts["w1"]
	ctx := context.Background()
	charlie := devKey(b, "Charlie")
	charlieID := charlie.Public().AccountID()
	input := []byte(`{"balance":{}}`)
	worker, now := n.id("w1"), n.now("w1")
	info, err := registry.GetWorker(n.chainState(), worker)
	require.NoError(b, err)
	pub := map[envelope.KEM]envelope.PublicKey{}
	for _, k := range info.GetInfo().GetEncryptionKeys() {
		pub[envelope.KEM(k.GetKem())] = envelope.PublicKey{KEM: envelope.KEM(k.GetKem()), Key: k.GetPublicKey()}
	}

	b.Run("direct", func(b *testing.B) {
		for b.Loop() {
			ans, err := w1.QueryContract(ctx, n.contract, vm.Caller{Kind: vm.CallerAccount, ID: charlieID}, input, MaxQueryGas)
			if err != nil || ans.Result.Err != nil {
				b.Fatal(err, ans.Result.Err)
			}
		}
	})
	signers := 0
	signed := func(b *testing.B, kem envelope.KEM, withSession bool) {
		var key keys.PrivateKey
		var cert *api.Certificate
		used := maxNoncesPerSigner
		for b.Loop() {
			if used == maxNoncesPerSigner { // a new signer before the replay cache's per-signer bound
				b.StopTimer()
				signers++
				used, key, cert = 0, devKey(b, fmt.Sprintf("Charlie//%d", signers)), nil
				if withSession {
					session := sessionKey(b)
					cert = n.certificate(key, session, now+3600, n.w.chain.ChainID)
					key = session
				}
				b.StartTimer()
			}
			used++
			q := &api.Query{Contract: n.contract, Kind: &api.Query_Input{Input: input}, Nonce: randomBytes(b, 16), ExpiresAt: now + 60, Worker: worker}
			sq, err := api.SignQuery(q, key, cert)
			if err != nil {
				b.Fatal(err)
			}
			env, opener, err := envelope.SealWithReply(pub[kem], envelope.PurposeQuery, n.contract, nil, module.Marshal(sq))
			if err != nil {
				b.Fatal(err)
			}
			resp, err := w1.Query(ctx, &api.QueryRequest{Contract: n.contract, Envelope: env})
			if err != nil {
				b.Fatal(err)
			}
			openResult(b, opener, n.contract, resp)
		}
	}
	b.Run("session-x25519", func(b *testing.B) { signed(b, envelope.X25519, true) })
	b.Run("session-xwing", func(b *testing.B) { signed(b, envelope.XWing, true) })
	b.Run("account-sr25519-x25519", func(b *testing.B) { signed(b, envelope.X25519, false) })
}
