package envelope

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzOpen feeds arbitrary bytes to the envelope decoder (KEMOf, Open,
// OpenWithReply) with keys of both KEMs: no panic, and every refusal is one
// of the package's sentinels.
func FuzzOpen(f *testing.F) {
	keys := make([]PrivateKey, len(kems))
	for i, kem := range kems {
		keys[i] = mustDerive(f, kem, seq32())
		env, err := Seal(keys[i].Public(), PurposeQuery, testContext, testAAD, []byte("seed"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(env)
		f.Add(env[:len(env)-1])
		f.Add(append(bytes.Clone(env), 0))
		f.Add(env[:headerSize+kem.encSize()])
	}
	f.Add([]byte{})
	f.Add([]byte{Version, 0x00, 0x20})
	f.Add([]byte{Version, 0x64, 0x7a})
	f.Add([]byte{2, 0x00, 0x20})
	f.Fuzz(func(t *testing.T, env []byte) {
		in := bytes.Clone(env)
		kem, kemErr := KEMOf(env)
		for _, k := range keys {
			_, err := Open(k, PurposeQuery, testContext, testAAD, env)
			if err == nil {
				if kemErr != nil || kem != k.KEM() {
					t.Fatalf("Open accepted an envelope KEMOf refused (%v) or for another KEM (%s)", kemErr, kem)
				}
				continue
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrWrongKEM) && !errors.Is(err, ErrDecrypt) {
				t.Fatalf("Open returned an error that is no sentinel: %v", err)
			}
			if kemErr != nil && !errors.Is(err, ErrMalformed) {
				t.Fatalf("KEMOf refused (%v) but Open said %v", kemErr, err)
			}
			_, _, rerr := OpenWithReply(k, PurposeQuery, testContext, testAAD, env)
			if rerr == nil || rerr.Error() != err.Error() {
				t.Fatalf("OpenWithReply (%v) disagrees with Open (%v)", rerr, err)
			}
		}
		if kemErr != nil && !errors.Is(kemErr, ErrMalformed) {
			t.Fatalf("KEMOf returned an error that is not ErrMalformed: %v", kemErr)
		}
		if !bytes.Equal(in, env) {
			t.Fatal("the decoder modified its input")
		}
	})
}

// FuzzPublicKey feeds arbitrary bytes to PublicKey.UnmarshalBinary: no
// panic, refusals wrap ErrMalformed, and an accepted key re-encodes to
// exactly the input (one encoding per key).
func FuzzPublicKey(f *testing.F) {
	for _, kem := range kems {
		b, err := mustDerive(f, kem, seq32()).Public().MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)-1])
		top := bytes.Clone(b)
		top[len(top)-1] |= 0x80
		f.Add(top)
	}
	f.Add([]byte{})
	f.Add([]byte{0x00, 0x20})
	f.Add(append([]byte{0x00, 0x20}, make([]byte, 32)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p PublicKey
		if err := p.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("UnmarshalBinary error does not wrap ErrMalformed: %v", err)
			}
			if p.KEM != 0 || p.Key != nil {
				t.Fatal("a refused decode changed the key")
			}
			return
		}
		out, err := p.MarshalBinary()
		if err != nil {
			t.Fatalf("a decoded key does not encode: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("non-canonical encoding accepted: %x re-encodes as %x", b, out)
		}
	})
}
