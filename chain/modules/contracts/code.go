package contracts

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

// Compressions of uploaded code.
const (
	CompressionNone = "none"
	CompressionZstd = "zstd"
	CompressionGzip = "gzip"
)

// Decompress returns the code stored with the given compression, refusing (ErrInvalidCode)
// anything that does not decode or would exceed max bytes; it never allocates much more than
// max, so a small upload cannot expand into a large allocation.
func Decompress(compression string, data []byte, max uint64) ([]byte, error) {
	var out []byte
	var err error
	switch compression {
	case CompressionNone:
		out = data
	case CompressionZstd:
		out, err = unzstd(data, max)
	case CompressionGzip:
		out, err = ungzip(data, max)
	default:
		return nil, fmt.Errorf("%w: compression %q, want zstd, gzip or none", ErrInvalidCode, compression)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidCode, compression, err)
	}
	if uint64(len(out)) > max {
		return nil, fmt.Errorf("%w: %d bytes uncompressed, at most %d", ErrInvalidCode, len(out), max)
	}
	return out, nil
}

func unzstd(data []byte, limit uint64) ([]byte, error) {
	// One decoder per call: the limit is a governed param. With a nil reader and concurrency 1
	// the decoder starts no goroutine.
	// The decoder refuses a frame whose declared window exceeds its memory bound, and encoders
	// declare windows larger than tiny inputs: allow 8 MiB at least. The output is checked
	// against limit afterwards.
	bound := max(limit+1, 8<<20)
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxMemory(bound), zstd.WithDecoderMaxWindow(bound))
	if err != nil {
		return nil, err
	}
	defer d.Close()
	out, err := d.DecodeAll(data, nil)
	if errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) {
		return nil, fmt.Errorf("larger than %d bytes uncompressed", limit)
	}
	return out, err
}

func ungzip(data []byte, max uint64) ([]byte, error) {
	src := bytes.NewReader(data) // a ByteReader: gzip reads no further than its member
	r, err := gzip.NewReader(src)
	if err != nil {
		return nil, err
	}
	r.Multistream(false)
	out, err := io.ReadAll(io.LimitReader(r, int64(max)+1))
	if err != nil {
		return nil, err
	}
	if uint64(len(out)) > max {
		return nil, fmt.Errorf("larger than %d bytes uncompressed", max)
	}
	if src.Len() > 0 {
		return nil, errors.New("trailing data after the gzip member")
	}
	return out, nil
}

// CodeHash is the id of code: SHA-256 of the uncompressed Wasm.
func CodeHash(wasm []byte) [32]byte { return sha256.Sum256(wasm) }
