package sdk

// SignatureContextMax is the longest signature context VerifyEd25519 and VerifySr25519 accept.
const SignatureContextMax = 64

// SignedBytes returns the bytes a Phala-Go signature under context covers:
// byte(len(context)) || context || msg. Wallets and the chain sign the same way, so a
// signature made for one purpose never verifies for another.
func SignedBytes(context string, msg []byte) []byte {
	b := make([]byte, 0, 1+len(context)+len(msg))
	b = append(b, byte(len(context)))
	b = append(b, context...)
	return append(b, msg...)
}

// SHA256 returns the SHA-256 digest of data.
func SHA256(data []byte) [32]byte { return hostHash(hashSHA256, data) }

// SHA3_256 returns the SHA3-256 (FIPS 202) digest of data.
func SHA3_256(data []byte) [32]byte { return hostHash(hashSHA3, data) }

// VerifyEd25519 reports whether sig is pub's ed25519 signature of SignedBytes(context, msg).
// context must be 1 to 64 bytes; otherwise the result is false.
func VerifyEd25519(pub [32]byte, context string, msg, sig []byte) bool {
	return validContext(context) && hostVerify(sigEd25519, pub, context, msg, sig)
}

// VerifySr25519 reports whether sig is pub's sr25519 signature (schnorrkel, Substrate signing
// context "substrate") of SignedBytes(context, msg). context must be 1 to 64 bytes.
func VerifySr25519(pub [32]byte, context string, msg, sig []byte) bool {
	return validContext(context) && hostVerify(sigSr25519, pub, context, msg, sig)
}

func validContext(c string) bool { return len(c) > 0 && len(c) <= SignatureContextMax }

// Algorithm numbers of the hash and verify imports (docs/contract-abi.md).
const (
	hashSHA256 = 1
	hashSHA3   = 2
	sigEd25519 = 1
	sigSr25519 = 2
)
