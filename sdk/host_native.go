//go:build !wasip1

package sdk

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/sha3"

	"github.com/phala-go/phala/sdk/internal/abi"
)

// Compiled natively, the SDK calls the in-memory host that package sdktest installs.

func init() { abi.Dispatch = dispatch }

func host() abi.Host {
	if abi.Current == nil {
		panic("sdk: no host: run contracts natively through package sdktest")
	}
	return abi.Current
}

func hostGet(key []byte) ([]byte, bool) { return host().Get(key) }

func hostSet(key, value []byte) { host().Set(key, value) }

func hostRemove(key []byte) { host().Remove(key) }

func hostNext(prefix, after []byte) ([]byte, []byte, bool) { return host().Next(prefix, after) }

func hostCaller() (uint8, [32]byte) { return host().Caller() }

func hostSelf() [32]byte { return host().Self() }

func hostBlock() (uint64, int64) { return host().Block() }

func hostEmit(topic string, data []byte) { host().Emit(topic, data) }

func hostRandomness() [32]byte { return host().Randomness() }

func hostLog(msg string) { host().Log(msg) }

func hostCall(contract [32]byte, input []byte, gasLimit uint64) (int, []byte) {
	return host().Call(contract, input, gasLimit)
}

func hostSend(contract [32]byte, input []byte, gasLimit uint64) uint64 {
	return host().Send(contract, input, gasLimit)
}

func hostTransfer(to [32]byte, amount string) { host().Transfer(to, amount) }

func hostHash(alg uint32, data []byte) [32]byte {
	if alg == hashSHA3 {
		return sha3.Sum256(data)
	}
	return sha256.Sum256(data)
}

func hostVerify(alg uint32, pub [32]byte, context string, msg, sig []byte) bool {
	signed := SignedBytes(context, msg)
	if alg == sigSr25519 {
		return host().VerifySr25519(pub, signed, sig)
	}
	return len(sig) == ed25519.SignatureSize && ed25519.Verify(pub[:], signed, sig)
}
