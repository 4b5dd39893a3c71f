package mq

import (
	"encoding/binary"
	"encoding/json"
	"slices"

	"github.com/phala-go/phala/chain/errcode"
	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/store"
)

var (
	prefixIngress  = []byte(Name + "/in/")
	prefixOutbound = []byte(Name + "/out/")
	prefixOutCount = []byte(Name + "/outn/")
)

func ingressKey(o *Origin) []byte { return append(slices.Clone(prefixIngress), module.Marshal(o)...) }

func outboundKey(height int64, i uint32) []byte {
	k := binary.BigEndian.AppendUint64(slices.Clone(prefixOutbound), uint64(height))
	return binary.BigEndian.AppendUint32(k, i)
}

func outboundCountKey(height int64) []byte {
	return binary.BigEndian.AppendUint64(slices.Clone(prefixOutCount), uint64(height))
}

func outboundCount(r store.Reader, height int64) uint32 {
	b := r.Get(outboundCountKey(height))
	if len(b) != 4 {
		return 0
	}
	return binary.BigEndian.Uint32(b)
}

// NextSequence is the sequence number the chain expects next from an off-chain origin.
func NextSequence(r store.Reader, o *Origin) uint64 {
	b := r.Get(ingressKey(o))
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// Outbound returns the messages of a block that workers receive, in order.
func Outbound(r store.Reader, height int64) ([]*Message, error) {
	n := outboundCount(r, height)
	out := make([]*Message, 0, n)
	for i := uint32(0); i < n; i++ {
		var m Message
		if err := module.StrictUnmarshal(r.Get(outboundKey(height, i)), &m); err != nil {
			return nil, &store.FatalError{Err: err}
		}
		out = append(out, &m)
	}
	return out, nil
}

func (*Module) InitGenesis(*module.Context, json.RawMessage) error { return nil }

// Query paths.
const (
	QueryNextSequence = "next_sequence" // data: canonical Origin bytes; answer: 8-byte big-endian sequence
	QueryOutbound     = "outbound"      // data: 8-byte big-endian height; answer: Messages
)

func (*Module) Query(r store.Reader, path string, data []byte) ([]byte, error) {
	switch path {
	case QueryNextSequence:
		var o Origin
		if err := module.StrictUnmarshal(data, &o); err != nil {
			return nil, errcode.Wrapf(ErrInvalidOrigin, "%v", err)
		}
		if err := o.Validate(); err != nil {
			return nil, err
		}
		return binary.BigEndian.AppendUint64(nil, NextSequence(r, &o)), nil
	case QueryOutbound:
		if len(data) != 8 {
			return nil, errcode.Wrapf(ErrNotFound, "query data must be an 8-byte height")
		}
		msgs, err := Outbound(r, int64(binary.BigEndian.Uint64(data)))
		if err != nil {
			return nil, err
		}
		return module.Marshal(&Messages{Messages: msgs}), nil
	}
	return nil, errcode.Wrapf(ErrNotFound, "no query %q", path)
}
