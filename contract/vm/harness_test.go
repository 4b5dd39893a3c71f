package vm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/phala-go/phala/contract/gas"
)

// The example contracts and the probe contract (testdata/probe), built once by TestMain.
var contracts = map[string][]byte{}

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "vm-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	builds := []struct{ name, module, pkg string }{
		{"token", "../../examples/contracts", "./token"},
		{"auction", "../../examples/contracts", "./auction"},
		{"vote", "../../examples/contracts", "./vote"},
		{"orderbook", "../../examples/contracts", "./orderbook"},
		{"probe", "testdata/probe", "."},
	}
	for _, b := range builds {
		out := filepath.Join(dir, b.name+".wasm")
		cmd := exec.Command("go", "build", "-buildvcs=false", "-buildmode=c-shared", "-trimpath", "-o", out, b.pkg)
		cmd.Dir = b.module
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		if msg, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", b.name, err, msg)
			return 1
		}
		if contracts[b.name], err = os.ReadFile(out); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	cacheDir = filepath.Join(dir, "cache")
	code := m.Run()
	sharedMu.Lock()
	for _, e := range sharedEngines {
		e.Close(context.Background())
	}
	sharedMu.Unlock()
	return code
}

// cacheDir is the compilation cache of the shared compiler engine; a "restarted" engine in
// the determinism test opens it again.
var cacheDir string

var (
	sharedMu      sync.Mutex
	sharedEngines = map[bool]*Engine{}
	sharedCodes   = map[string]*Code{}
)

// testConfig is DefaultConfig with QueryWait 0, so an overloaded query fails at once.
func testConfig(interpreter bool) Config {
	cfg := DefaultConfig()
	cfg.Interpreter = interpreter
	cfg.QueryWait = 0
	if !interpreter {
		cfg.CacheDir = cacheDir
	}
	return cfg
}

// engine returns the shared compiler (or interpreter) engine.
func engine(t testing.TB, interpreter bool) *Engine {
	t.Helper()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if e := sharedEngines[interpreter]; e != nil {
		return e
	}
	e, err := NewEngine(context.Background(), testConfig(interpreter))
	if err != nil {
		t.Fatal(err)
	}
	sharedEngines[interpreter] = e
	return e
}

// code returns the shared Code of a test contract on the compiler engine.
func code(t testing.TB, name string) *Code {
	t.Helper()
	e := engine(t, false)
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if c := sharedCodes[name]; c != nil {
		return c
	}
	c, err := e.Load(context.Background(), contracts[name])
	if err != nil {
		t.Fatalf("loading %s: %v", name, err)
	}
	sharedCodes[name] = c
	return c
}

// load loads a test contract on engine e as a new Code; closed at the end of the test.
func load(t testing.TB, e *Engine, name string) *Code {
	t.Helper()
	c, err := e.Load(context.Background(), contracts[name])
	if err != nil {
		t.Fatalf("loading %s: %v", name, err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// store is the storage of one contract, shared by the hosts of its calls. sent counts the
// messages the contract has sent over its life (the next message's number).
type store struct {
	mu   sync.RWMutex
	data map[string][]byte
	sent uint64
}

func newStore() *store { return &store{data: map[string][]byte{}} }

func (s *store) snapshot() map[string][]byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return maps.Clone(s.data)
}

// memHost is an in-memory Host. Writes go straight to the store; call (below) undoes them
// when the result has an error, as pRuntime does.
type memHost struct {
	st       *store
	caller   Caller
	self     [32]byte
	block    Block
	readOnly bool
	// callFn answers Call (nil: ErrNotSupported).
	callFn func(contract [32]byte, input []byte, gasLimit uint64) ([]byte, uint64, error)
	// entered and release, when set, make Get signal and then wait (concurrency tests).
	entered chan struct{}
	release chan struct{}
	// outboundErr, when set, is what Send and Transfer return.
	outboundErr error

	mu        sync.Mutex
	events    []string
	logs      []string
	writes    int
	messages  []message
	transfers []transfer
}

// message is a message a call sent (Host.Send).
type message struct {
	number   uint64
	to       [32]byte
	input    string
	gasLimit uint64
}

// transfer is a transfer a call queued (Host.Transfer).
type transfer struct {
	to     [32]byte
	amount string
}

func newHost(st *store, caller string) *memHost {
	return &memHost{
		st:     st,
		caller: Caller{Kind: CallerAccount, ID: sha256.Sum256([]byte(caller))},
		self:   sha256.Sum256([]byte("contract:self")),
		block:  Block{Height: 1, Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
}

func account(name string) [32]byte { return sha256.Sum256([]byte(name)) }

func (h *memHost) Get(key []byte) ([]byte, error) {
	if h.entered != nil {
		h.entered <- struct{}{}
		<-h.release
	}
	h.st.mu.RLock()
	defer h.st.mu.RUnlock()
	v, ok := h.st.data[string(key)]
	if !ok {
		return nil, nil
	}
	return append([]byte{}, v...), nil
}

func (h *memHost) Set(key, value []byte) error {
	h.mu.Lock()
	h.writes++
	h.mu.Unlock()
	h.st.mu.Lock()
	defer h.st.mu.Unlock()
	h.st.data[string(key)] = value
	return nil
}

func (h *memHost) Remove(key []byte) error {
	h.mu.Lock()
	h.writes++
	h.mu.Unlock()
	h.st.mu.Lock()
	defer h.st.mu.Unlock()
	delete(h.st.data, string(key))
	return nil
}

func (h *memHost) Next(prefix, after []byte) ([]byte, []byte, bool, error) {
	h.st.mu.RLock()
	defer h.st.mu.RUnlock()
	for _, k := range slices.Sorted(maps.Keys(h.st.data)) {
		if bytes.HasPrefix([]byte(k), prefix) && (after == nil || k > string(after)) {
			return []byte(k), append([]byte{}, h.st.data[k]...), true, nil
		}
	}
	return nil, nil, false, nil
}

func (h *memHost) Caller() Caller { return h.caller }
func (h *memHost) Self() [32]byte { return h.self }
func (h *memHost) Block() Block   { return h.block }

func (h *memHost) Emit(topic string, data []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.writes++
	h.events = append(h.events, topic+"="+string(data))
	return nil
}

func (h *memHost) Randomness() [32]byte {
	return sha256.Sum256(fmt.Appendf(nil, "randomness/%x/%d", h.self, h.block.Height))
}

func (h *memHost) Log(msg string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.logs = append(h.logs, msg)
}

func (h *memHost) Call(contract [32]byte, input []byte, gasLimit uint64) ([]byte, uint64, error) {
	if h.callFn == nil {
		return nil, 0, ErrNotSupported
	}
	return h.callFn(contract, input, gasLimit)
}

func (h *memHost) ReadOnly() bool { return h.readOnly }

func (h *memHost) Send(contract [32]byte, input []byte, gasLimit uint64) (uint64, error) {
	if h.outboundErr != nil {
		return 0, h.outboundErr
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.writes++
	h.st.mu.Lock()
	n := h.st.sent
	h.st.sent++
	h.st.mu.Unlock()
	h.messages = append(h.messages, message{number: n, to: contract, input: string(input), gasLimit: gasLimit})
	return n, nil
}

func (h *memHost) Transfer(to [32]byte, amount string) error {
	if h.outboundErr != nil {
		return h.outboundErr
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.writes++
	h.transfers = append(h.transfers, transfer{to: to, amount: amount})
	return nil
}

// call runs one call and, like pRuntime, discards its writes, messages and transfers when it
// failed (a discarded message's number is used again).
func call(c *Code, h *memHost, entry Entry, input string, gasLimit uint64) Result {
	before := h.st.snapshot()
	h.st.mu.RLock()
	sent := h.st.sent
	h.st.mu.RUnlock()
	h.mu.Lock()
	messages, transfers := len(h.messages), len(h.transfers)
	h.mu.Unlock()
	res := c.Call(context.Background(), h, entry, []byte(input), gasLimit)
	if res.Err != nil {
		h.st.mu.Lock()
		h.st.data, h.st.sent = before, sent
		h.st.mu.Unlock()
		h.mu.Lock()
		h.messages, h.transfers = h.messages[:messages], h.transfers[:transfers]
		h.mu.Unlock()
	}
	return res
}

// mustCall fails the test unless the call succeeds.
func mustCall(t testing.TB, c *Code, h *memHost, entry Entry, input string) string {
	t.Helper()
	res := call(c, h, entry, input, 1<<32)
	if res.Err != nil {
		t.Fatalf("%s %s: %v (logs %q)", entry, input, res.Err, h.logs)
	}
	return string(res.Output)
}

// testMemory is a guestMemory over a byte slice.
type testMemory []byte

func (m testMemory) Read(off, n uint32) ([]byte, bool) {
	if uint64(off)+uint64(n) > uint64(len(m)) {
		return nil, false
	}
	return m[off : off+n], true
}

func (m testMemory) Write(off uint32, v []byte) bool {
	if uint64(off)+uint64(len(v)) > uint64(len(m)) {
		return false
	}
	copy(m[off:], v)
	return true
}

// fakeGlobal and fakeModule let tests build a gas.Meter without an instance.
type fakeGlobal struct {
	api.MutableGlobal
	t api.ValueType
	v uint64
}

func (g *fakeGlobal) Type() api.ValueType { return g.t }
func (g *fakeGlobal) Get() uint64         { return g.v }
func (g *fakeGlobal) Set(v uint64)        { g.v = v }
func (g *fakeGlobal) String() string      { return fmt.Sprint(g.v) }

type fakeModule struct {
	api.Module
	globals map[string]api.Global
}

func (m *fakeModule) ExportedGlobal(name string) api.Global { return m.globals[name] }

func fakeMeter(t testing.TB, budget uint64) *gas.Meter {
	t.Helper()
	m, err := gas.NewMeter(&fakeModule{globals: map[string]api.Global{
		gas.GasGlobalExport:   &fakeGlobal{t: api.ValueTypeI64},
		gas.DepthGlobalExport: &fakeGlobal{t: api.ValueTypeI32, v: 1000},
	}})
	if err != nil {
		t.Fatal(err)
	}
	m.Reset(budget)
	return m
}

// errorIs reports whether err matches all of targets.
func errorIs(err error, targets ...error) bool {
	for _, t := range targets {
		if !errors.Is(err, t) {
			return false
		}
	}
	return err != nil
}
