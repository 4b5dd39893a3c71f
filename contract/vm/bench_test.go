package vm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/phala-go/phala/crypto/keys"
)

// pair runs a and b alternately b.N times and reports the best time of each and the ratio
// b/a: interleaving and taking minimums keeps the ratio meaningful on a busy machine.
func pair(b *testing.B, nameA, nameB string, fa, fb func()) {
	b.Helper()
	var best [2]time.Duration
	b.ResetTimer()
	for range b.N {
		for k, f := range []func(){fa, fb} {
			start := time.Now()
			f()
			if d := time.Since(start); best[k] == 0 || d < best[k] {
				best[k] = d
			}
		}
	}
	b.ReportMetric(float64(best[0].Nanoseconds()), nameA+"-ns")
	b.ReportMetric(float64(best[1].Nanoseconds()), nameB+"-ns")
	b.ReportMetric(float64(best[1])/float64(best[0]), "ratio")
}

// nativeBurn is the probe contract's loop, compiled natively.
func nativeBurn(n int64) int64 {
	h := uint64(14695981039346656037)
	for i := int64(0); i < n; i++ {
		h ^= uint64(i)
		h *= 1099511628211
	}
	return int64(h)
}

// nativeHandle is what the SDK does for one message, natively: split the envelope, decode the
// body strictly, run the handler, encode the result.
func nativeHandle(input []byte, handler func(json.RawMessage) (any, error)) ([]byte, error) {
	var env map[string]json.RawMessage
	if err := json.Unmarshal(input, &env); err != nil || len(env) != 1 {
		return nil, fmt.Errorf("malformed message: %v", err)
	}
	for _, body := range env {
		r, err := handler(body)
		if err != nil {
			return nil, err
		}
		return json.Marshal(r)
	}
	return nil, nil
}

func decodeBody(body json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// BenchmarkNativeVsContract compares a contract call with the same logic as a native Go
// function: "loop" runs 100 iterations of the compute loop, "get" reads one stored value.
// The ratio is the per-call overhead of the VM (snapshot restore, metering, JSON in Wasm,
// host calls).
func BenchmarkNativeVsContract(b *testing.B) {
	c := code(b, "probe")
	st := newStore()
	h := newHost(st, "alice")
	mustCall(b, c, h, EntryExecute, `{"set": {"key": "a", "value": "hello"}}`)
	for _, tc := range []struct {
		name    string
		input   string
		entry   Entry
		handler func(json.RawMessage) (any, error)
	}{
		{"loop", `{"loop": {"n": 100}}`, EntryExecute, func(body json.RawMessage) (any, error) {
			var m struct {
				N int64 `json:"n"`
			}
			err := decodeBody(body, &m)
			return nativeBurn(m.N), err
		}},
		{"get", `{"get": {"key": "a"}}`, EntryQuery, func(body json.RawMessage) (any, error) {
			var m struct {
				Key string `json:"key"`
			}
			if err := decodeBody(body, &m); err != nil {
				return nil, err
			}
			v, err := h.Get([]byte(m.Key))
			return string(v), err
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			input := []byte(tc.input)
			pair(b, "native", "contract", func() {
				if _, err := nativeHandle(input, tc.handler); err != nil {
					b.Fatal(err)
				}
			}, func() {
				if res := c.Call(context.Background(), h, tc.entry, input, 1<<32); res.Err != nil {
					b.Fatal(res.Err)
				}
			})
		})
	}
}

// BenchmarkStart measures what it costs to give a call the post-init state: restoring the
// snapshot into a used instance (what every call does), creating a fresh instance from the
// snapshot (after memory growth), and instantiating and running _initialize (the naive way).
func BenchmarkStart(b *testing.B) {
	c := code(b, "probe")
	ctx := context.Background()
	in, err := c.acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer c.put(ctx, in)
	b.Run("restore", func(b *testing.B) {
		b.SetBytes(int64(c.SnapshotSize()))
		for range b.N {
			c.p.restore(in)
		}
	})
	b.Run("fresh-instance", func(b *testing.B) {
		for range b.N {
			fresh, err := c.p.newInstance(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if err := c.p.restoreFresh(fresh); err != nil {
				b.Fatal(err)
			}
			fresh.mod.Close(ctx)
		}
	})
	b.Run("instantiate-and-initialize", func(b *testing.B) {
		for range b.N {
			fresh, err := c.p.newInstance(ctx)
			if err != nil {
				b.Fatal(err)
			}
			s := &callState{cfg: &c.e.cfg, meter: fresh.meter, monoBase: initMonoBase}
			fresh.meter.Reset(c.e.cfg.InitGas)
			if err := fresh.init.CallWithStack(context.WithValue(ctx, stateKey{}, s), nil); err != nil {
				b.Fatal(err)
			}
			fresh.mod.Close(ctx)
		}
	})
}

// BenchmarkMeteredLoop compares the probe's compute loop (10^6 iterations, exported as burn)
// in the VM's metered instance with the same function in an unmetered instance of the
// original module, both on the VM's runtime and host modules.
func BenchmarkMeteredLoop(b *testing.B) {
	ctx := context.Background()
	c := code(b, "probe")
	metered, err := c.acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer c.put(ctx, metered)
	compiled, err := c.e.rt.CompileModule(ctx, contracts["probe"])
	if err != nil {
		b.Fatal(err)
	}
	defer compiled.Close(ctx)
	plain, err := c.e.rt.InstantiateModule(ctx, compiled, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		b.Fatal(err)
	}
	defer plain.Close(ctx)
	s := &callState{cfg: &c.e.cfg, meter: fakeMeter(b, 1<<60), monoBase: initMonoBase}
	if _, err := plain.ExportedFunction("_initialize").Call(context.WithValue(ctx, stateKey{}, s)); err != nil {
		b.Fatal(err)
	}
	fm, fp := metered.mod.ExportedFunction("burn"), plain.ExportedFunction("burn")
	const n = 1_000_000
	var gasUsed uint64
	pair(b, "unmetered", "metered", func() {
		if _, err := fp.Call(ctx, n); err != nil {
			b.Fatal(err)
		}
	}, func() {
		metered.meter.Reset(1 << 40)
		if _, err := fm.Call(ctx, n); err != nil {
			b.Fatal(err)
		}
		gasUsed = 1<<40 - metered.meter.Left()
	})
	b.ReportMetric(float64(gasUsed)/n, "gas/iter")
}

// BenchmarkQuery is the latency of a token balance query through Code.Call, one at a time and
// from parallel goroutines (bounded by QueryInstances).
func BenchmarkQuery(b *testing.B) {
	c := code(b, "token")
	st := newStore()
	mustCall(b, c, newHost(st, "alice"), EntryInstantiate, fmt.Sprintf(`{"name": "T", "symbol": "T", "mint": [{"to": %q, "amount": 100}]}`, addr("alice")))
	input := []byte(`{"balance": {}}`)
	b.Run("serial", func(b *testing.B) {
		h := newHost(st, "alice")
		lat := make([]time.Duration, 0, b.N)
		for range b.N {
			start := time.Now()
			if res := c.Call(context.Background(), h, EntryQuery, input, 1<<32); res.Err != nil {
				b.Fatal(res.Err)
			}
			lat = append(lat, time.Since(start))
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			h := newHost(st, "alice")
			for pb.Next() {
				res := c.Call(context.Background(), h, EntryQuery, input, 1<<32)
				for res.Err != nil {
					if !errorIs(res.Err, ErrOverloaded) {
						b.Fatal(res.Err)
					}
					res = c.Call(context.Background(), h, EntryQuery, input, 1<<32)
				}
			}
		})
	})
}

// BenchmarkCommand is a token transfer through Code.Call, with the gas it uses.
func BenchmarkCommand(b *testing.B) {
	c := code(b, "token")
	st := newStore()
	mustCall(b, c, newHost(st, "alice"), EntryInstantiate, fmt.Sprintf(`{"name": "T", "symbol": "T", "mint": [{"to": %q, "amount": 1000000000}]}`, addr("alice")))
	h := newHost(st, "alice")
	input := []byte(fmt.Sprintf(`{"transfer": {"to": %q, "amount": 1}}`, addr("bob")))
	var res Result
	for range b.N {
		if res = c.Call(context.Background(), h, EntryExecute, input, 1<<32); res.Err != nil {
			b.Fatal(res.Err)
		}
	}
	b.ReportMetric(float64(res.GasUsed), "gas")
}

// BenchmarkLoad is Engine.Load of the probe on a new engine: "cached" with a compilation cache
// that already holds it (a worker restarting), "cold" without one (a first upload). Load
// validates, instruments, compiles and runs _initialize.
func BenchmarkLoad(b *testing.B) {
	ctx := context.Background()
	code(b, "probe") // fills the cache
	for _, cached := range []bool{true, false} {
		name := map[bool]string{true: "cached", false: "cold"}[cached]
		b.Run(name, func(b *testing.B) {
			cfg := testConfig(false)
			if !cached {
				cfg.CacheDir = ""
			}
			for range b.N {
				e, err := NewEngine(ctx, cfg)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := e.Load(ctx, contracts["probe"]); err != nil {
					b.Fatal(err)
				}
				e.Close(ctx)
			}
		})
	}
}

// BenchmarkHostFunctions measures host functions directly (no Wasm call around them), to
// calibrate DefaultHostCosts: ns/op against the gas each one is charged.
func BenchmarkHostFunctions(b *testing.B) {
	ed, sr := signedFixtures(b)
	mem := make([]byte, 8192)
	copy(mem[0:], "key")
	copy(mem[4096:], ed.pub[:])
	copy(mem[4128:], ed.sig)
	copy(mem[4192:], sr.pub[:])
	copy(mem[4224:], sr.sig)
	copy(mem[4288:], "app/v1hello")
	copy(mem[5000:], "1500")
	byName := map[string]*hostFunc{}
	for i := range phalaFuncs {
		byName[phalaFuncs[i].name] = &phalaFuncs[i]
	}
	for i := range wasiFuncs {
		byName[wasiFuncs[i].name] = &wasiFuncs[i]
	}
	for _, tc := range []struct {
		name, fn string
		params   []uint64
	}{
		{"block_height", "block_height", []uint64{0}},
		{"clock_time_get", "clock_time_get", []uint64{1, 0, 64}},
		{"storage_get", "storage_get", []uint64{0, 3}},
		{"storage_set-100B", "storage_set", []uint64{0, 3, 100, 100}},
		{"sha256-1KiB", "hash", []uint64{hashSHA256, 1024, 1024, 0}},
		{"sha3-1KiB", "hash", []uint64{hashSHA3, 1024, 1024, 0}},
		{"verify-ed25519", "verify", []uint64{sigEd25519, 4096, 4288, 6, 4294, 5, 4128, 64}},
		{"verify-sr25519", "verify", []uint64{sigSr25519, 4192, 4288, 6, 4294, 5, 4224, 64}},
		{"send-100B", "send", []uint64{0, 1024, 100, 1_000_000}},
		{"transfer", "transfer", []uint64{0, 5000, 4}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s, h := fuzzState(b, false)
			f := byName[tc.fn]
			st := make([]uint64, 8)
			var gasUsed uint64
			for range b.N {
				copy(st, tc.params)
				h.messages, h.transfers = h.messages[:0], h.transfers[:0]
				s.meter.Reset(1 << 40)
				if err := s.invoke(f, testMemory(mem), st, true); err != nil {
					b.Fatal(err)
				}
				gasUsed = 1<<40 - s.meter.Left()
			}
			if tc.fn == "verify" && st[0] != 1 {
				b.Fatal("the fixture signature does not verify")
			}
			b.ReportMetric(float64(gasUsed), "gas")
		})
	}
}

type sigFixture struct {
	pub [32]byte
	sig []byte
}

// signedFixtures signs "hello" under context "app/v1" with //Alice's ed25519 and sr25519 keys.
func signedFixtures(b *testing.B) (ed, sr sigFixture) {
	for _, k := range []struct {
		t   keys.Type
		out *sigFixture
	}{{keys.Ed25519, &ed}, {keys.Sr25519, &sr}} {
		priv, err := keys.FromURI(k.t, "//Alice")
		if err != nil {
			b.Fatal(err)
		}
		sig, err := priv.Sign("app/v1", []byte("hello"))
		if err != nil {
			b.Fatal(err)
		}
		*k.out = sigFixture{pub: priv.Public().Key, sig: sig}
	}
	return ed, sr
}
