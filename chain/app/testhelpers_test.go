package app

import "encoding/binary"

func u64be(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }
