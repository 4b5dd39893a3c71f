//go:build wasip1

package sdk

import (
	"unsafe"

	"github.com/phala-go/phala/sdk/internal/abi"
)

// The VM's imports (module "phala"); docs/contract-abi.md specifies each one. Pointers are
// offsets into this module's memory; a host function that cannot do what it is asked traps.

//go:wasmimport phala input_read
func abiInputRead(ptr unsafe.Pointer, n uint32)

//go:wasmimport phala output_write
func abiOutputWrite(ptr unsafe.Pointer, n uint32)

//go:wasmimport phala result_len
func abiResultLen() uint32

//go:wasmimport phala result_read
func abiResultRead(ptr unsafe.Pointer, n uint32)

//go:wasmimport phala storage_get
func abiStorageGet(kp unsafe.Pointer, kn uint32) int64

//go:wasmimport phala storage_set
func abiStorageSet(kp unsafe.Pointer, kn uint32, vp unsafe.Pointer, vn uint32)

//go:wasmimport phala storage_remove
func abiStorageRemove(kp unsafe.Pointer, kn uint32)

//go:wasmimport phala storage_next
func abiStorageNext(pp unsafe.Pointer, pn uint32, ap unsafe.Pointer, an uint32) int64

//go:wasmimport phala caller
func abiCaller(out unsafe.Pointer)

//go:wasmimport phala self
func abiSelf(out unsafe.Pointer)

//go:wasmimport phala block_height
func abiBlockHeight() uint64

//go:wasmimport phala block_time
func abiBlockTime() int64

//go:wasmimport phala emit
func abiEmit(tp unsafe.Pointer, tn uint32, dp unsafe.Pointer, dn uint32)

//go:wasmimport phala randomness
func abiRandomness(out unsafe.Pointer)

//go:wasmimport phala hash
func abiHash(alg uint32, p unsafe.Pointer, n uint32, out unsafe.Pointer)

//go:wasmimport phala verify
func abiVerify(alg uint32, pub unsafe.Pointer, cp unsafe.Pointer, cn uint32, mp unsafe.Pointer, mn uint32, sp unsafe.Pointer, sn uint32) uint32

//go:wasmimport phala log
func abiLog(p unsafe.Pointer, n uint32)

//go:wasmimport phala call
func abiCall(contract unsafe.Pointer, ip unsafe.Pointer, in uint32, gasLimit uint64) uint32

//go:wasmimport phala send
func abiSend(contract unsafe.Pointer, ip unsafe.Pointer, in uint32, gasLimit uint64) uint64

//go:wasmimport phala transfer
func abiTransfer(to unsafe.Pointer, ap unsafe.Pointer, an uint32)

//go:wasmexport instantiate
func exportInstantiate(inputLen uint32) uint32 { return run(abi.Instantiate, inputLen) }

//go:wasmexport execute
func exportExecute(inputLen uint32) uint32 { return run(abi.Execute, inputLen) }

//go:wasmexport query
func exportQuery(inputLen uint32) uint32 { return run(abi.Query, inputLen) }

// run reads the input, dispatches it and hands back the output: status 0 with the output, or
// status 1 with the handler's error message.
func run(e abi.Entry, inputLen uint32) uint32 {
	input := make([]byte, inputLen)
	if inputLen > 0 {
		abiInputRead(ptr(input), inputLen)
	}
	out, err := dispatch(e, input)
	if err != nil {
		msg := []byte(err.Error())
		abiOutputWrite(ptr(msg), uint32(len(msg)))
		return 1
	}
	if len(out) > 0 {
		abiOutputWrite(ptr(out), uint32(len(out)))
	}
	return 0
}

func ptr(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }

func sptr(s string) unsafe.Pointer { return unsafe.Pointer(unsafe.StringData(s)) }

// result copies the host's pending result of n bytes.
func result(n uint32) []byte {
	b := make([]byte, n)
	if n > 0 {
		abiResultRead(ptr(b), n)
	}
	return b
}

func hostGet(key []byte) ([]byte, bool) {
	n := abiStorageGet(ptr(key), uint32(len(key)))
	if n < 0 {
		return nil, false
	}
	return result(uint32(n)), true
}

func hostSet(key, value []byte) {
	abiStorageSet(ptr(key), uint32(len(key)), ptr(value), uint32(len(value)))
}

func hostRemove(key []byte) { abiStorageRemove(ptr(key), uint32(len(key))) }

// hostNext decodes the host's entry encoding: u32le(len(key)) || key || value.
func hostNext(prefix, after []byte) ([]byte, []byte, bool) {
	n := abiStorageNext(ptr(prefix), uint32(len(prefix)), ptr(after), uint32(len(after)))
	if n < 0 {
		return nil, nil, false
	}
	k, v, ok := decodeEntry(result(uint32(n)))
	if !ok {
		panic("sdk: the host returned a malformed storage entry")
	}
	return k, v, true
}

func hostCaller() (uint8, [32]byte) {
	var b [33]byte
	abiCaller(unsafe.Pointer(&b))
	return b[0], [32]byte(b[1:])
}

func hostSelf() [32]byte {
	var b [32]byte
	abiSelf(unsafe.Pointer(&b))
	return b
}

func hostBlock() (uint64, int64) { return abiBlockHeight(), abiBlockTime() }

func hostEmit(topic string, data []byte) {
	abiEmit(sptr(topic), uint32(len(topic)), ptr(data), uint32(len(data)))
}

func hostRandomness() [32]byte {
	var b [32]byte
	abiRandomness(unsafe.Pointer(&b))
	return b
}

func hostLog(msg string) { abiLog(sptr(msg), uint32(len(msg))) }

func hostCall(contract [32]byte, input []byte, gasLimit uint64) (int, []byte) {
	status := abiCall(unsafe.Pointer(&contract), ptr(input), uint32(len(input)), gasLimit)
	return int(status), result(abiResultLen())
}

func hostSend(contract [32]byte, input []byte, gasLimit uint64) uint64 {
	return abiSend(unsafe.Pointer(&contract), ptr(input), uint32(len(input)), gasLimit)
}

func hostTransfer(to [32]byte, amount string) {
	abiTransfer(unsafe.Pointer(&to), sptr(amount), uint32(len(amount)))
}

func hostHash(alg uint32, data []byte) [32]byte {
	var out [32]byte
	abiHash(alg, ptr(data), uint32(len(data)), unsafe.Pointer(&out))
	return out
}

func hostVerify(alg uint32, pub [32]byte, context string, msg, sig []byte) bool {
	return abiVerify(alg, unsafe.Pointer(&pub), sptr(context), uint32(len(context)),
		ptr(msg), uint32(len(msg)), ptr(sig), uint32(len(sig))) == 1
}
