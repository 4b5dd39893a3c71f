package module

import (
	"errors"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

var errUnknownFields = errors.New("unknown fields")

// StrictUnmarshal decodes b into m and refuses unknown fields anywhere in the message tree.
func StrictUnmarshal(b []byte, m proto.Message) error {
	if err := proto.Unmarshal(b, m); err != nil {
		return err
	}
	return checkNoUnknown(m.ProtoReflect())
}

func checkNoUnknown(m protoreflect.Message) error {
	if len(m.GetUnknown()) > 0 {
		return errUnknownFields
	}
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := 0; i < l.Len() && err == nil; i++ {
				err = checkNoUnknown(l.Get(i).Message())
			}
		case fd.IsMap():
			// The chain's messages have no map fields: maps have no canonical order.
			err = errors.New("map fields are not allowed")
		case fd.Message() != nil:
			err = checkNoUnknown(v.Message())
		}
		return err == nil
	})
	return err
}

// Marshal encodes m deterministically, for state.
func Marshal(m proto.Message) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		// Only messages with invalid UTF-8 strings fail to encode; state values are built by
		// handlers from validated input, so this is a bug.
		panic("module: encode " + string(m.ProtoReflect().Descriptor().FullName()) + ": " + err.Error())
	}
	return b
}
