package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/phala-go/phala/contract/vm"
)

// The VM-level measurements of `phala bench contracts`: a contract call against native Go,
// metered against unmetered Wasm, and what starting a call costs.

// measureCallOverhead runs the token's transfer runs times as a contract call (Code.Call with an
// in-memory Host) and as native Go over the same kind of store, alternately.
func measureCallOverhead(ctx context.Context, e *vm.Engine, token []byte, runs int) (CallOverhead, error) {
	c, err := e.Load(ctx, token)
	if err != nil {
		return CallOverhead{}, err
	}
	defer c.Close(ctx)
	alice, bob := benchAddress("alice"), benchAddress("bob")
	st := memStore{}
	init := fmt.Sprintf(`{"name":"Bench","symbol":"B","mint":[{"to":%q,"amount":%d}]}`, alice, uint64(1)<<62)
	if res := c.Call(ctx, st.host(alice), vm.EntryInstantiate, []byte(init), 1<<32); res.Err != nil {
		return CallOverhead{}, fmt.Errorf("%w: instantiating the token: %w", ErrFailed, res.Err)
	}
	input := fmt.Appendf(nil, `{"transfer":{"to":%q,"amount":1}}`, bob)
	h := st.host(alice)
	var gas uint64
	native, wasm, err := interleave(runs, func() error {
		return nativeTransfer(h, input)
	}, func() error {
		res := c.Call(ctx, h, vm.EntryExecute, input, 1<<32)
		gas = res.GasUsed
		return res.Err
	})
	if err != nil {
		return CallOverhead{}, fmt.Errorf("%w: transfer: %w", ErrFailed, err)
	}
	// Both moved one unit per run from Alice to Bob.
	var bal uint64
	if err := json.Unmarshal(st["balance/"+bob.String()], &bal); err != nil || bal != uint64(2*runs) {
		return CallOverhead{}, fmt.Errorf("%w: Bob holds %d after %d native and %d contract transfers of 1 (%v)", ErrFailed, bal, runs, runs, err)
	}
	o := CallOverhead{Runs: runs, Native: timing(native), Wasm: timing(wasm), WasmGas: gas}
	o.Ratio = ratio(o.Wasm.Median, o.Native.Median)
	return o, nil
}

// measureStart times the snapshot restore against instantiation with _initialize on the token,
// runs times each, and an empty command (the probe's loop of no iterations) through Code.Call,
// calls times.
func measureStart(ctx context.Context, e *vm.Engine, token, probe []byte, runs, calls int) (StartCost, error) {
	c, err := e.Load(ctx, token)
	if err != nil {
		return StartCost{}, err
	}
	defer c.Close(ctx)
	sr, err := c.MeasureStart(ctx, runs)
	if err != nil {
		return StartCost{}, err
	}
	s := StartCost{Runs: runs, EmptyRuns: calls, SnapshotBytes: c.SnapshotSize(), Restore: timing(sr.Restore), Instantiate: timing(sr.Instantiate)}
	s.Ratio = ratio(s.Restore.Median, s.Instantiate.Median)

	p, err := e.Load(ctx, probe)
	if err != nil {
		return StartCost{}, err
	}
	defer p.Close(ctx)
	h := memStore{}.host(benchAddress("alice"))
	input := []byte(`{"loop":{"n":0}}`)
	empty := make([]time.Duration, 0, calls)
	for range calls {
		start := time.Now()
		res := p.Call(ctx, h, vm.EntryExecute, input, 1<<32)
		empty = append(empty, time.Since(start))
		if res.Err != nil {
			return StartCost{}, fmt.Errorf("%w: empty command: %w", ErrFailed, res.Err)
		}
		s.EmptyCommandGas = res.GasUsed
	}
	s.EmptyCommand = timing(empty)
	return s, nil
}

// measureMetering runs the probe's burn export metered and unmetered.
func measureMetering(ctx context.Context, e *vm.Engine, probe []byte, iterations int64, runs int) (Metering, error) {
	r, err := e.MeasureMetering(ctx, probe, "burn", uint64(iterations), runs)
	if err != nil {
		return Metering{}, err
	}
	m := Metering{Iterations: iterations, Runs: runs, Unmetered: timing(r.Unmetered), Metered: timing(r.Metered),
		GasPerIteration: float64(r.GasUsed) / float64(max(iterations, 1))}
	m.Ratio = ratio(m.Metered.Median, m.Unmetered.Median)
	return m, nil
}

// interleave runs a and b alternately n times each (alternating which goes first) and returns
// each one's durations.
func interleave(n int, a, b func() error) (da, db []time.Duration, err error) {
	da, db = make([]time.Duration, 0, n), make([]time.Duration, 0, n)
	timed := func(f func() error, out *[]time.Duration) error {
		start := time.Now()
		err := f()
		*out = append(*out, time.Since(start))
		return err
	}
	for i := range n {
		first, second := func() error { return timed(a, &da) }, func() error { return timed(b, &db) }
		if i%2 == 1 {
			first, second = second, first
		}
		if err := first(); err != nil {
			return nil, nil, err
		}
		if err := second(); err != nil {
			return nil, nil, err
		}
	}
	return da, db, nil
}

// address is a 32-byte account id as the SDK encodes it in JSON ("0x" and 64 hex digits).
type address [32]byte

func benchAddress(name string) address { return sha256.Sum256([]byte("phala bench " + name)) }

func (a address) String() string { return "0x" + hex.EncodeToString(a[:]) }

func (a address) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

func (a *address) UnmarshalText(b []byte) error {
	h := strings.TrimPrefix(string(b), "0x")
	if len(h) != 64 {
		return fmt.Errorf("address: want 64 hex digits, got %d characters", len(h))
	}
	_, err := hex.Decode(a[:], []byte(h))
	return err
}

// nativeTransfer is the token example's transfer command in native Go, with what the SDK does
// around it: split the {"transfer": {...}} envelope, decode the body strictly, read the two
// JSON-encoded balances from the Host's store and write them back.
func nativeTransfer(h vm.Host, input []byte) error {
	var env map[string]json.RawMessage
	if err := json.Unmarshal(input, &env); err != nil || len(env) != 1 {
		return fmt.Errorf("malformed message (%v)", err)
	}
	body, ok := env["transfer"]
	if !ok {
		return errors.New("no command of that name")
	}
	var msg struct {
		To     address `json:"to"`
		Amount uint64  `json:"amount"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&msg); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	c := h.Caller()
	if c.Kind == vm.CallerNone {
		return errors.New("the caller must be an account or a contract")
	}
	if msg.Amount == 0 || msg.To == (address{}) {
		return errors.New("transfer needs a non-zero amount and recipient")
	}
	from := address(c.ID)
	have, err := loadBalance(h, from)
	if err != nil {
		return err
	}
	if have < msg.Amount {
		return fmt.Errorf("insufficient balance: have %d, want to send %d", have, msg.Amount)
	}
	if msg.To == from {
		return nil
	}
	if err := storeBalance(h, from, have-msg.Amount); err != nil {
		return err
	}
	to, err := loadBalance(h, msg.To)
	if err != nil {
		return err
	}
	return storeBalance(h, msg.To, to+msg.Amount)
}

func loadBalance(h vm.Host, a address) (uint64, error) {
	raw, err := h.Get([]byte("balance/" + a.String()))
	if err != nil || raw == nil {
		return 0, err
	}
	var v uint64
	return v, json.Unmarshal(raw, &v)
}

func storeBalance(h vm.Host, a address, v uint64) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return h.Set([]byte("balance/"+a.String()), b)
}

// memStore is a contract's storage in memory. Calls here never fail unless the benchmark does,
// so writes go straight in: nothing is rolled back.
type memStore map[string][]byte

// host is a Host over s for calls by caller.
func (s memStore) host(caller address) *memHost {
	return &memHost{st: s, caller: vm.Caller{Kind: vm.CallerAccount, ID: caller}, self: benchAddress("contract")}
}

// memHost is an in-memory vm.Host for one caller; not safe for concurrent use.
type memHost struct {
	st     memStore
	caller vm.Caller
	self   [32]byte
}

var _ vm.Host = (*memHost)(nil)

func (h *memHost) Get(key []byte) ([]byte, error) {
	v, ok := h.st[string(key)]
	if !ok {
		return nil, nil
	}
	return slices.Clone(v), nil
}

func (h *memHost) Set(key, value []byte) error {
	h.st[string(key)] = value
	return nil
}

func (h *memHost) Remove(key []byte) error {
	delete(h.st, string(key))
	return nil
}

func (h *memHost) Next(prefix, after []byte) ([]byte, []byte, bool, error) {
	for _, k := range slices.Sorted(maps.Keys(h.st)) {
		if strings.HasPrefix(k, string(prefix)) && (after == nil || k > string(after)) {
			return []byte(k), slices.Clone(h.st[k]), true, nil
		}
	}
	return nil, nil, false, nil
}

func (h *memHost) Caller() vm.Caller { return h.caller }
func (h *memHost) Self() [32]byte    { return h.self }
func (h *memHost) Block() vm.Block {
	return vm.Block{Height: 1, Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}
func (h *memHost) Emit(string, []byte) error { return nil }
func (h *memHost) Randomness() [32]byte      { return sha256.Sum256(h.self[:]) }
func (h *memHost) Log(string)                {}
func (h *memHost) Call([32]byte, []byte, uint64) ([]byte, uint64, error) {
	return nil, 0, vm.ErrNotSupported
}
func (h *memHost) Send([32]byte, []byte, uint64) (uint64, error) {
	return 0, fmt.Errorf("%w: messages", vm.ErrHost)
}
func (h *memHost) Transfer([32]byte, string) error { return fmt.Errorf("%w: transfers", vm.ErrHost) }
func (h *memHost) ReadOnly() bool                  { return false }
