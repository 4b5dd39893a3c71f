package gas

import (
	"context"
	"slices"
	"testing"
	"time"
)

// benchCall runs export name with args on the compiler engine, unmetered and metered in
// turn in every iteration, and reports the ratio of the best metered time to the best
// unmetered time: interleaving and taking minimums keeps the ratio meaningful on a busy
// machine. ns/op is the time of one unmetered plus one metered call.
func benchCall(b *testing.B, name string, args ...uint64) {
	plain := instantiate(b, engines[1], goContract, 1<<40)
	metered := instantiate(b, engines[1], mustInstrument(b, goContract, DefaultConfig()), 1<<40)
	var best [2]time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k, in := range []*instance{plain, metered} {
			start := time.Now()
			if o := in.call(1<<40, name, args...); o.err != nil {
				b.Fatal(o.err)
			}
			if d := time.Since(start); best[k] == 0 || d < best[k] {
				best[k] = d
			}
		}
	}
	b.ReportMetric(float64(best[1])/float64(best[0]), "ratio")
	b.ReportMetric(float64(best[0].Nanoseconds()), "unmetered-ns")
	b.ReportMetric(float64(best[1].Nanoseconds()), "metered-ns")
}

// BenchmarkComputeLoop is the worst case: a loop of a few cheap instructions per iteration.
func BenchmarkComputeLoop(b *testing.B) { benchCall(b, "burn", 1_000_000) }

// BenchmarkComputeLoopLayouts measures the compute loop's overhead over several code
// layouts: the loop's speed on the compiler engine depends on where its machine code lands,
// by up to 2x either way, so one layout says little. Fold limits 56..96 leave burn's own
// code unchanged and move everything around it. Run with -benchtime=30x; it reports the
// lowest, median and highest metered/unmetered ratio of the best time per layout.
func BenchmarkComputeLoopLayouts(b *testing.B) {
	type variant struct {
		in   *instance
		best time.Duration
	}
	vs := []*variant{{in: instantiate(b, engines[1], goContract, 1<<40)}}
	for _, fold := range []uint32{56, 60, 64, 72, 80, 96} {
		cfg := DefaultConfig()
		cfg.FoldLimit = fold
		vs = append(vs, &variant{in: instantiate(b, engines[1], mustInstrument(b, goContract, cfg), 1<<40)})
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, v := range vs {
			if v.in.meter != nil {
				v.in.meter.Reset(1 << 40)
			}
			f := v.in.mod.ExportedFunction("burn")
			start := time.Now()
			if _, err := f.Call(ctx, 1_000_000); err != nil {
				b.Fatal(err)
			}
			if d := time.Since(start); v.best == 0 || d < v.best {
				v.best = d
			}
		}
	}
	var ratios []float64
	for _, v := range vs[1:] {
		ratios = append(ratios, float64(v.best)/float64(vs[0].best))
	}
	slices.Sort(ratios)
	b.ReportMetric(ratios[0], "min-ratio")
	b.ReportMetric(ratios[len(ratios)/2], "median-ratio")
	b.ReportMetric(ratios[len(ratios)-1], "max-ratio")
}

// BenchmarkHash is a realistic compute load: SHA-256 over 4 KiB, 64 times.
func BenchmarkHash(b *testing.B) { benchCall(b, "hashes", 4096, 64) }

// BenchmarkSort sorts 10k integers.
func BenchmarkSort(b *testing.B) { benchCall(b, "sorts", 10_000) }

// BenchmarkJSON round-trips 100 records through encoding/json.
func BenchmarkJSON(b *testing.B) { benchCall(b, "jsons", 100) }

// BenchmarkCallOverhead calls an empty export.
func BenchmarkCallOverhead(b *testing.B) { benchCall(b, "noop") }

// BenchmarkInstrument meters the whole Go test contract, as an upload does.
func BenchmarkInstrument(b *testing.B) {
	cfg := DefaultConfig()
	b.SetBytes(int64(len(goContract)))
	for i := 0; i < b.N; i++ {
		if _, err := Instrument(goContract, cfg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParse validates the whole Go test contract.
func BenchmarkParse(b *testing.B) {
	b.SetBytes(int64(len(goContract)))
	for i := 0; i < b.N; i++ {
		if _, err := Parse(goContract); err != nil {
			b.Fatal(err)
		}
	}
}
