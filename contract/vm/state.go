package vm

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/phala-go/phala/contract/gas"
)

// callState is everything the host functions of one call (or of _initialize) share. It lives
// in the context passed to wazero, so nested calls into other instances each see their own.
type callState struct {
	cfg      *Config
	host     Host // nil during _initialize
	entry    Entry
	readOnly bool
	meter    *gas.Meter
	input    []byte
	output   []byte
	result   []byte // the result register: storage_get, storage_next, call
	abort    error  // why a host function stopped the call

	block *Block
	rand  *[32]byte

	// Virtual clocks: realtime = block time + elapsed, monotonic = monoBase + elapsed.
	monoBase uint64
	elapsed  uint64
	rng      *rand.ChaCha8

	stdout, stderr []byte
}

type stateKey struct{}

// initMonoBase is the monotonic clock when _initialize starts; every call continues from where
// _initialize left it, so the runtime never sees time go backwards.
const initMonoBase = 1_000_000_000

// charge takes amount from the call's budget.
func (s *callState) charge(amount uint64) error {
	if amount == 0 {
		return nil
	}
	if err := s.meter.Charge(amount); err != nil {
		return fmt.Errorf("%w: %w", ErrOutOfGas, err)
	}
	return nil
}

func (s *callState) blockInfo() Block {
	if s.block == nil {
		b := s.host.Block()
		s.block = &b
	}
	return *s.block
}

func (s *callState) randomness() [32]byte {
	if s.rand == nil {
		r := s.host.Randomness()
		s.rand = &r
	}
	return *s.rand
}

// random returns the stream random_get reads: ChaCha8 keyed by SHA-256 of a label and, in a
// call, the contract's randomness for the block, the entry point and SHA-256 of the input. So
// it is the same on every replica, differs between calls with different inputs, and is as
// unpredictable to outsiders as Host.Randomness. During _initialize the key is fixed: the Go
// runtime's hash seeds end up in the snapshot, identical everywhere.
func (s *callState) random() *rand.ChaCha8 {
	if s.rng == nil {
		h := sha256.New()
		if s.host == nil {
			h.Write([]byte("phala/vm/random_get/init"))
		} else {
			r := s.randomness()
			in := sha256.Sum256(s.input)
			h.Write([]byte("phala/vm/random_get/call"))
			h.Write(r[:])
			h.Write([]byte{byte(s.entry)})
			h.Write(in[:])
		}
		s.rng = rand.NewChaCha8([32]byte(h.Sum(nil)))
	}
	return s.rng
}

// panicText returns ": " and the first line of what the contract wrote to stderr (Go's panic
// message), or "".
func (s *callState) panicText() string {
	line, _, _ := bytes.Cut(bytes.TrimSpace(s.stderr), []byte("\n"))
	if len(line) == 0 {
		return ""
	}
	return ": " + string(bytes.ToValidUTF8(line, []byte("?")))
}

// sat adds without wrapping.
func sat(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

// unixNano is t as nanoseconds since 1970, 0 for the zero time, clamped to int64.
func unixNano(t time.Time) int64 {
	switch {
	case t.IsZero():
		return 0
	case t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}
