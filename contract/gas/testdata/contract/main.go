// Command contract is a test contract for package gas: built in TestMain with
// GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared, then metered and run on both engines.
package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"math"
	"sort"
	"strconv"
)

func main() {}

//go:wasmimport env consume
func consume(units uint32)

// burn is a tight compute loop (FNV-1a style).
//
//go:wasmexport burn
func burn(n int32) int64 {
	h := uint64(14695981039346656037)
	for i := int32(0); i < n; i++ {
		h ^= uint64(i)
		h *= 1099511628211
	}
	return int64(h)
}

//go:wasmexport fib
func fib(n int32) int32 {
	if n < 2 {
		return n
	}
	return fib(n-1) + fib(n-2)
}

// recurse descends n frames through a function the compiler cannot inline.
//
//go:wasmexport recurse
func recurse(n int32) int32 { return down(n) }

//go:noinline
func down(n int32) int32 {
	if n <= 0 {
		return 0
	}
	return down(n-1) + 1
}

var sink []byte

// bulk allocates n bytes, fills and copies them: memclr and memmove are memory.fill and
// memory.copy on wasm.
//
//go:wasmexport bulk
func bulk(n int32) int32 {
	a := make([]byte, n)
	for i := range a {
		a[i] = byte(i)
	}
	b := make([]byte, n)
	copy(b, a)
	clear(a)
	sink = b
	s := int32(0)
	for _, v := range b {
		s += int32(v)
	}
	return s
}

// floats exercises float arithmetic and conversions; it returns the bits of the result.
//
//go:wasmexport floats
func floats(x float64, n int32) int64 {
	acc := x
	for i := int32(1); i <= n; i++ {
		f := float64(i)
		acc = math.Sqrt(acc*acc+f) / 1.5
		acc += math.Floor(acc) - math.Ceil(acc/3) + math.Trunc(f/7)
		acc = math.Max(acc, float64(float32(acc)/2))
		acc = math.Min(acc, 1e12)
	}
	return int64(math.Float64bits(acc)) ^ int64(int32(acc)) ^ int64(uint64(acc))
}

// hostcalls calls the host n times, each asking the host to charge units.
//
//go:wasmexport hostcalls
func hostcalls(n int32, units uint32) int32 {
	for i := int32(0); i < n; i++ {
		consume(units)
	}
	return n
}

// hashes hashes a buffer of n bytes rounds times: a realistic compute loop.
//
//go:wasmexport hashes
func hashes(n, rounds int32) int32 {
	buf := make([]byte, n)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	var sum [32]byte
	for r := int32(0); r < rounds; r++ {
		sum = sha256.Sum256(buf)
		copy(buf, sum[:])
	}
	return int32(binary.LittleEndian.Uint32(sum[:]))
}

// sorts sorts n pseudo-random integers and folds them into a checksum.
//
//go:wasmexport sorts
func sorts(n int32) int64 {
	xs := make([]int, n)
	x := uint32(12345)
	for i := range xs {
		x = x*1664525 + 1013904223
		xs[i] = int(x >> 8)
	}
	sort.Ints(xs)
	var c int64
	for i, v := range xs {
		c = c*31 + int64(v) + int64(i)
	}
	return c
}

type record struct {
	Name  string            `json:"name"`
	Count int               `json:"count"`
	Tags  []string          `json:"tags"`
	Attrs map[string]string `json:"attrs"`
}

// jsons round-trips n records through encoding/json and returns the encoded length.
//
//go:wasmexport jsons
func jsons(n int32) int32 {
	rs := make([]record, n)
	for i := range rs {
		rs[i] = record{Name: "r" + strconv.Itoa(i), Count: i, Tags: []string{"a", "b"}, Attrs: map[string]string{"k": strconv.Itoa(i * i)}}
	}
	b, err := json.Marshal(rs)
	if err != nil {
		panic(err)
	}
	var back []record
	if err := json.Unmarshal(b, &back); err != nil {
		panic(err)
	}
	if len(back) != len(rs) {
		panic("length mismatch")
	}
	return int32(len(b))
}

// crash panics; the Go runtime then exits the module through proc_exit.
//
//go:wasmexport crash
func crash() { panic("boom") }

// trap divides by zero through a call the compiler cannot fold: a plain Wasm trap path.
//
//go:wasmexport divide
func divide(a, b int32) int32 { return a / b }

//go:wasmexport noop
func noop() {}
