package gas

import (
	"fmt"
	"unicode/utf8"
)

// reader decodes the primitive encodings of the binary format. LEB128 integers may carry
// padding bytes up to their maximum length (the Go linker pads call targets), but unused
// high bits must be zero or sign bits, as the spec requires.
type reader struct {
	b   []byte
	pos int
}

func (r *reader) errf(format string, args ...any) error {
	return fmt.Errorf("%w: at byte %d: %s", ErrMalformed, r.pos, fmt.Sprintf(format, args...))
}

func (r *reader) eof() bool { return r.pos >= len(r.b) }

func (r *reader) byte() (byte, error) {
	if r.pos >= len(r.b) {
		return 0, r.errf("unexpected end")
	}
	c := r.b[r.pos]
	r.pos++
	return c, nil
}

func (r *reader) bytes(n uint32) ([]byte, error) {
	if uint64(n) > uint64(len(r.b)-r.pos) {
		return nil, r.errf("length %d runs past the end", n)
	}
	s := r.b[r.pos : r.pos+int(n)]
	r.pos += int(n)
	return s, nil
}

func (r *reader) u32() (uint32, error) {
	var v uint32
	for i := 0; i < 5; i++ {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		if i == 4 && c&0xF0 != 0 {
			return 0, r.errf("u32 overflows")
		}
		v |= uint32(c&0x7F) << (7 * i)
		if c&0x80 == 0 {
			return v, nil
		}
	}
	return 0, r.errf("u32 too long")
}

// sleb reads a signed LEB128 of at most bits bits (32, 33 or 64).
func (r *reader) sleb(bits uint) (int64, error) {
	var v int64
	var shift uint
	maxBytes := int((bits + 6) / 7)
	for i := 0; i < maxBytes; i++ {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		if i == maxBytes-1 {
			// The last byte holds the remaining payload bits; the rest must repeat the sign.
			payload := bits - shift
			if c&0x80 != 0 {
				return 0, r.errf("s%d too long", bits)
			}
			rest := c >> (payload - 1) & (0x7F >> (payload - 1))
			if rest != 0 && rest != 0x7F>>(payload-1) {
				return 0, r.errf("s%d overflows", bits)
			}
		}
		v |= int64(c&0x7F) << shift
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return v, nil
		}
	}
	return 0, r.errf("s%d too long", bits)
}

func (r *reader) name() (string, error) {
	n, err := r.u32()
	if err != nil {
		return "", err
	}
	b, err := r.bytes(n)
	if err != nil {
		return "", err
	}
	if !utf8.Valid(b) {
		return "", r.errf("name is not valid UTF-8")
	}
	return string(b), nil
}

// count reads a vector length and bounds it by the bytes left (each entry takes at least
// minSize bytes) and by limit, so hostile counts cannot force large allocations.
func (r *reader) count(what string, minSize int, limit uint32) (uint32, error) {
	n, err := r.u32()
	if err != nil {
		return 0, err
	}
	if n > limit {
		return 0, fmt.Errorf("%w: %d %s (limit %d)", ErrLimit, n, what, limit)
	}
	if uint64(n)*uint64(minSize) > uint64(len(r.b)-r.pos) {
		return 0, r.errf("%d %s do not fit in the remaining %d bytes", n, what, len(r.b)-r.pos)
	}
	return n, nil
}
