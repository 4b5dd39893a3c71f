package ss58

// Bitcoin's base58 alphabet, the one SS58 uses.
const alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// maxEncodedLen bounds the strings Decode looks at: a 2-byte prefix, a 32-byte
// id and a 2-byte checksum (36 bytes) need at most 50 base58 digits. The bound
// keeps the quadratic base conversion cheap on hostile input.
const maxEncodedLen = 64

var decodeTable = func() [256]int8 {
	var t [256]int8
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = int8(i)
	}
	return t
}()

// base58Limb is 58^5: the encoder works on 64-bit limbs of five base58 digits each, five times
// fewer steps than digit by digit (addresses are encoded for every transfer event).
const base58Limb = 58 * 58 * 58 * 58 * 58

func base58Encode(in []byte) string {
	zeros := 0
	for zeros < len(in) && in[zeros] == 0 {
		zeros++
	}
	// Each limb holds log2(58^5) > 29 bits, so this is enough limbs.
	limbs := make([]uint64, 0, (len(in)-zeros)*8/29+1)
	for _, b := range in[zeros:] {
		carry := uint64(b)
		for i := range limbs {
			x := limbs[i]<<8 + carry
			limbs[i], carry = x%base58Limb, x/base58Limb
		}
		for carry > 0 {
			limbs = append(limbs, carry%base58Limb)
			carry /= base58Limb
		}
	}
	digits := make([]byte, 0, len(limbs)*5)
	for _, l := range limbs {
		for range 5 {
			digits = append(digits, byte(l%58))
			l /= 58
		}
	}
	for len(digits) > 0 && digits[len(digits)-1] == 0 {
		digits = digits[:len(digits)-1] // leading zero digits of the top limb
	}
	out := make([]byte, zeros+len(digits))
	for i := 0; i < zeros; i++ {
		out[i] = alphabet[0]
	}
	for i, d := range digits {
		out[len(out)-1-i] = alphabet[d]
	}
	return string(out)
}

// base58Decode reports false for characters outside the alphabet.
func base58Decode(s string) ([]byte, bool) {
	zeros := 0
	for zeros < len(s) && s[zeros] == alphabet[0] {
		zeros++
	}
	bytes := make([]byte, 0, len(s))
	for i := zeros; i < len(s); i++ {
		v := decodeTable[s[i]]
		if v < 0 {
			return nil, false
		}
		carry := int(v)
		for j := range bytes {
			carry += int(bytes[j]) * 58
			bytes[j] = byte(carry)
			carry >>= 8
		}
		for carry > 0 {
			bytes = append(bytes, byte(carry))
			carry >>= 8
		}
	}
	out := make([]byte, zeros+len(bytes))
	for i, b := range bytes {
		out[len(out)-1-i] = b
	}
	return out, true
}
