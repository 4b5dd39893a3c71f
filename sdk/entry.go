package sdk

import "encoding/binary"

// decodeEntry splits the storage_next result u32le(len(key)) || key || value.
func decodeEntry(b []byte) (key, value []byte, ok bool) {
	if len(b) < 4 {
		return nil, nil, false
	}
	n := binary.LittleEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) {
		return nil, nil, false
	}
	return b[4 : 4+n], b[4+n:], true
}
