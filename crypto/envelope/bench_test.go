package envelope

import (
	"strconv"
	"testing"
)

var benchSizes = []int{256, 64 << 10}

func sizeName(n int) string {
	if n >= 1<<10 {
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}

func BenchmarkSeal(b *testing.B) {
	for _, kem := range kems {
		pub := mustDerive(b, kem, seq32()).Public()
		for _, n := range benchSizes {
			b.Run(kem.String()+"/"+sizeName(n), func(b *testing.B) {
				msg := make([]byte, n)
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := Seal(pub, PurposeCommand, testContext, testAAD, msg); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	for _, kem := range kems {
		k := mustDerive(b, kem, seq32())
		for _, n := range benchSizes {
			b.Run(kem.String()+"/"+sizeName(n), func(b *testing.B) {
				env, err := Seal(k.Public(), PurposeCommand, testContext, testAAD, make([]byte, n))
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := Open(k, PurposeCommand, testContext, testAAD, env); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkDeriveKey(b *testing.B) {
	for _, kem := range kems {
		b.Run(kem.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DeriveKey(kem, seq32()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkReplySeal(b *testing.B) {
	k := mustDerive(b, X25519, seq32())
	env, _, err := SealWithReply(k.Public(), PurposeQuery, nil, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	_, rs, err := OpenWithReply(k, PurposeQuery, nil, nil, env)
	if err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, 256)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rs.Seal(nil, msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPublicKeyUnmarshal(b *testing.B) {
	for _, kem := range kems {
		enc, err := mustDerive(b, kem, seq32()).Public().MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		b.Run(kem.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var p PublicKey
				if err := p.UnmarshalBinary(enc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
