package store

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Snapshot streams are a sequence of exported IAVL nodes, each framed as
//
//	uvarint(len(body)) body
//	body = uvarint(len(key)) key | value flag (0: inner node, 1: leaf) | [uvarint(len(value)) value] | varint(version) | height (1 byte)
//
// Importing the nodes in order rebuilds the exact tree, and so its root hash, which a replica
// checks against a verified header's AppHash.

// Limits on exported nodes.
const (
	MaxExportKey   = 4 << 10
	MaxExportValue = 8 << 20
)

// ErrBadExport is returned for a snapshot stream that does not decode.
var ErrBadExport = errors.New("malformed snapshot stream")

// EncodeExportNode frames one node.
func EncodeExportNode(n *ExportNode) []byte {
	body := binary.AppendUvarint(nil, uint64(len(n.Key)))
	body = append(body, n.Key...)
	if n.Value == nil {
		body = append(body, 0)
	} else {
		body = append(body, 1)
		body = binary.AppendUvarint(body, uint64(len(n.Value)))
		body = append(body, n.Value...)
	}
	body = binary.AppendVarint(body, n.Version)
	body = append(body, byte(n.Height))
	return append(binary.AppendUvarint(nil, uint64(len(body))), body...)
}

// ExportDecoder turns a snapshot stream, fed in arbitrary chunks, back into nodes.
type ExportDecoder struct {
	buf []byte
}

// Feed adds a chunk and returns the nodes completed by it.
func (d *ExportDecoder) Feed(chunk []byte) ([]*ExportNode, error) {
	d.buf = append(d.buf, chunk...)
	var out []*ExportNode
	for {
		size, n := uvarint(d.buf)
		if n == 0 {
			return out, nil // need more bytes for the frame length
		}
		if n < 0 || size > MaxExportKey+MaxExportValue+32 {
			return nil, fmt.Errorf("%w: frame length", ErrBadExport)
		}
		if uint64(len(d.buf)-n) < size {
			return out, nil
		}
		node, err := decodeNodeBody(d.buf[n : n+int(size)])
		if err != nil {
			return nil, err
		}
		out = append(out, node)
		d.buf = d.buf[n+int(size):]
	}
}

// Done reports whether the stream ended on a frame boundary.
func (d *ExportDecoder) Done() error {
	if len(d.buf) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrBadExport, len(d.buf))
	}
	return nil
}

// uvarint reads a minimally encoded uvarint (n <= 0 on error), so each node has one encoding.
func uvarint(b []byte) (uint64, int) {
	x, n := binary.Uvarint(b)
	if n > 0 && len(binary.AppendUvarint(nil, x)) != n {
		return 0, -1
	}
	return x, n
}

func varint(b []byte) (int64, int) {
	x, n := binary.Varint(b)
	if n > 0 && len(binary.AppendVarint(nil, x)) != n {
		return 0, -1
	}
	return x, n
}

func decodeNodeBody(b []byte) (*ExportNode, error) {
	bad := func(what string) error { return fmt.Errorf("%w: %s", ErrBadExport, what) }
	kl, n := uvarint(b)
	if n <= 0 || kl > MaxExportKey || uint64(len(b)-n) < kl {
		return nil, bad("key")
	}
	b = b[n:]
	node := &ExportNode{Key: append([]byte{}, b[:kl]...)}
	b = b[kl:]
	if len(b) == 0 {
		return nil, bad("value flag")
	}
	switch b[0] {
	case 0:
		b = b[1:]
	case 1:
		vl, n := uvarint(b[1:])
		if n <= 0 || vl > MaxExportValue || uint64(len(b)-1-n) < vl {
			return nil, bad("value")
		}
		b = b[1+n:]
		node.Value = append([]byte{}, b[:vl]...)
		b = b[vl:]
	default:
		return nil, bad("value flag")
	}
	v, n := varint(b)
	if n <= 0 || v <= 0 {
		return nil, bad("version")
	}
	b = b[n:]
	if len(b) != 1 || (node.Value == nil) == (b[0] == 0) {
		return nil, bad("height (leaves have height 0, inner nodes more)")
	}
	node.Version, node.Height = v, int8(b[0])
	return node, nil
}
