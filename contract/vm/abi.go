package vm

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha3"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"

	"github.com/tetratelabs/wazero/api"

	"github.com/phala-go/phala/contract/gas"
	"github.com/phala-go/phala/crypto/keys"
)

// Import module names.
const (
	phalaModule = "phala"
	wasiModule  = "wasi_snapshot_preview1"
)

// Fixed sizes of the ABI.
const (
	maxTopic    = 64
	maxLogBytes = 4096 // of one log message or of a call's stdout/stderr forwarded to Host.Log
	// maxAmount is the largest transfer amount, 2^128-1 (the chain's amounts are 128-bit), in
	// decimal; its length bounds the transfer import's amount.
	maxAmount = "340282366920938463463374607431768211455"
)

// Algorithm numbers of the hash and verify imports.
const (
	hashSHA256 = 1
	hashSHA3   = 2
	sigEd25519 = 1
	sigSr25519 = 2
)

// Call statuses of the call import.
const (
	callOK           = 0
	callFailed       = 1
	callNotSupported = 2
	callOutOfGas     = 3
	callTrapped      = 4
)

// guestMemory is the part of api.Memory the host functions use: bounds-checked views and
// writes. Tests and fuzz targets substitute a plain byte slice.
type guestMemory interface {
	Read(offset, byteCount uint32) ([]byte, bool)
	Write(offset uint32, v []byte) bool
}

// hostFunc is one import the VM provides. params and results spell the Wasm types, 'i' for i32
// and 'I' for i64. fn returns an error to abort the call (the wrapper traps).
type hostFunc struct {
	name    string
	params  string
	results string
	fn      func(s *callState, mem guestMemory, stack []uint64) error
}

func (f *hostFunc) sig() gas.FuncType {
	conv := func(s string) []gas.ValueType {
		var v []gas.ValueType
		for _, c := range s {
			if c == 'I' {
				v = append(v, gas.I64)
			} else {
				v = append(v, gas.I32)
			}
		}
		return v
	}
	return gas.FuncType{Params: conv(f.params), Results: conv(f.results)}
}

func (f *hostFunc) apiTypes() (params, results []api.ValueType) {
	conv := func(s string) []api.ValueType {
		v := make([]api.ValueType, len(s))
		for i, c := range s {
			v[i] = api.ValueTypeI32
			if c == 'I' {
				v[i] = api.ValueTypeI64
			}
		}
		return v
	}
	return conv(f.params), conv(f.results)
}

// phalaFuncs is module "phala", the contract's host (docs/contract-abi.md).
var phalaFuncs = []hostFunc{
	{"input_read", "ii", "", inputRead},
	{"output_write", "ii", "", outputWrite},
	{"result_len", "", "i", resultLen},
	{"result_read", "ii", "", resultRead},
	{"storage_get", "ii", "I", storageGet},
	{"storage_set", "iiii", "", storageSet},
	{"storage_remove", "ii", "", storageRemove},
	{"storage_next", "iiii", "I", storageNext},
	{"caller", "i", "", callerFn},
	{"self", "i", "", selfFn},
	{"block_height", "", "I", blockHeight},
	{"block_time", "", "I", blockTime},
	{"emit", "iiii", "", emit},
	{"randomness", "i", "", randomness},
	{"hash", "iiii", "", hashFn},
	{"verify", "iiiiiiii", "i", verify},
	{"log", "ii", "", logFn},
	{"call", "iiiI", "i", callFn},
	{"send", "iiiI", "I", sendFn},
	{"transfer", "iii", "", transferFn},
}

func u32(v uint64) uint32 { return uint32(v) }

// mulSat multiplies without wrapping: a charge that overflows is simply unpayable.
func mulSat(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	if hi != 0 {
		return math.MaxUint64
	}
	return lo
}

// read returns a view of n guest bytes at ptr after checking n against limit and charging Byte
// per byte. The view aliases guest memory: copy it before keeping it.
func (s *callState) read(mem guestMemory, ptr, n uint32, limit int, what string) ([]byte, error) {
	if uint64(n) > uint64(limit) {
		return nil, fmt.Errorf("%w: %s of %d bytes exceeds the limit of %d", ErrLimit, what, n, limit)
	}
	if err := s.charge(mulSat(uint64(n), s.cfg.Costs.Byte)); err != nil {
		return nil, err
	}
	if n == 0 {
		return []byte{}, nil
	}
	b, ok := mem.Read(ptr, n)
	if !ok {
		return nil, fmt.Errorf("%w: %s [%d, %d+%d) is outside the contract's memory", ErrABI, what, ptr, ptr, n)
	}
	return b, nil
}

// write copies b to guest memory at ptr, charging Byte per byte.
func (s *callState) write(mem guestMemory, ptr uint32, b []byte, what string) error {
	if err := s.charge(mulSat(uint64(len(b)), s.cfg.Costs.Byte)); err != nil {
		return err
	}
	if len(b) > 0 && !mem.Write(ptr, b) {
		return fmt.Errorf("%w: %s [%d, %d+%d) is outside the contract's memory", ErrABI, what, ptr, ptr, len(b))
	}
	return nil
}

// key reads a storage key: 1 to MaxKey bytes.
func (s *callState) key(mem guestMemory, ptr, n uint32) ([]byte, error) {
	if n == 0 {
		return nil, fmt.Errorf("%w: empty storage key", ErrABI)
	}
	return s.read(mem, ptr, n, s.cfg.MaxKey, "storage key")
}

func (s *callState) writable(op string) error {
	if s.readOnly {
		return fmt.Errorf("%w: %s", ErrReadOnly, op)
	}
	return nil
}

func hostErr(op string, err error) error { return fmt.Errorf("%w: %s: %w", ErrHost, op, err) }

func inputRead(s *callState, mem guestMemory, st []uint64) error {
	n := u32(st[1])
	if uint64(n) > uint64(len(s.input)) {
		return fmt.Errorf("%w: input_read of %d bytes, the input has %d", ErrABI, n, len(s.input))
	}
	return s.write(mem, u32(st[0]), s.input[:n], "input buffer")
}

func outputWrite(s *callState, mem guestMemory, st []uint64) error {
	b, err := s.read(mem, u32(st[0]), u32(st[1]), s.cfg.MaxOutput, "output")
	if err != nil {
		return err
	}
	s.output = bytes.Clone(b)
	return nil
}

func resultLen(s *callState, _ guestMemory, st []uint64) error {
	st[0] = uint64(len(s.result))
	return nil
}

func resultRead(s *callState, mem guestMemory, st []uint64) error {
	n := u32(st[1])
	if uint64(n) > uint64(len(s.result)) {
		return fmt.Errorf("%w: result_read of %d bytes, the result has %d", ErrABI, n, len(s.result))
	}
	return s.write(mem, u32(st[0]), s.result[:n], "result buffer")
}

func storageGet(s *callState, mem guestMemory, st []uint64) error {
	k, err := s.key(mem, u32(st[0]), u32(st[1]))
	if err != nil {
		return err
	}
	if err := s.charge(s.cfg.Costs.StorageRead); err != nil {
		return err
	}
	v, err := s.host.Get(bytes.Clone(k))
	if err != nil {
		return hostErr("storage_get", err)
	}
	if err := s.charge(mulSat(uint64(len(k)+len(v)), s.cfg.Costs.StorageReadByte)); err != nil {
		return err
	}
	if v == nil {
		s.result = nil
		st[0] = api.EncodeI64(-1)
		return nil
	}
	s.result = v
	st[0] = uint64(len(v))
	return nil
}

func storageSet(s *callState, mem guestMemory, st []uint64) error {
	if err := s.writable("storage_set"); err != nil {
		return err
	}
	k, err := s.key(mem, u32(st[0]), u32(st[1]))
	if err != nil {
		return err
	}
	v, err := s.read(mem, u32(st[2]), u32(st[3]), s.cfg.MaxStateValue, "storage value")
	if err != nil {
		return err
	}
	cost := mulSat(uint64(len(k)+len(v)), s.cfg.Costs.StorageWriteByte)
	if err := s.charge(sat(s.cfg.Costs.StorageWrite, cost)); err != nil {
		return err
	}
	if err := s.host.Set(bytes.Clone(k), bytes.Clone(v)); err != nil {
		return hostErr("storage_set", err)
	}
	return nil
}

func storageRemove(s *callState, mem guestMemory, st []uint64) error {
	if err := s.writable("storage_remove"); err != nil {
		return err
	}
	k, err := s.key(mem, u32(st[0]), u32(st[1]))
	if err != nil {
		return err
	}
	if err := s.charge(s.cfg.Costs.StorageRemove); err != nil {
		return err
	}
	if err := s.host.Remove(bytes.Clone(k)); err != nil {
		return hostErr("storage_remove", err)
	}
	return nil
}

// storageNext leaves u32le(len(key)) || key || value in the result register.
func storageNext(s *callState, mem guestMemory, st []uint64) error {
	prefix, err := s.read(mem, u32(st[0]), u32(st[1]), s.cfg.MaxKey, "storage prefix")
	if err != nil {
		return err
	}
	after, err := s.read(mem, u32(st[2]), u32(st[3]), s.cfg.MaxKey, "storage key")
	if err != nil {
		return err
	}
	if err := s.charge(s.cfg.Costs.StorageRead); err != nil {
		return err
	}
	var afterArg []byte
	if len(after) > 0 {
		afterArg = bytes.Clone(after)
	}
	k, v, ok, err := s.host.Next(bytes.Clone(prefix), afterArg)
	if err != nil {
		return hostErr("storage_next", err)
	}
	if !ok {
		s.result = nil
		st[0] = api.EncodeI64(-1)
		return nil
	}
	if err := s.charge(mulSat(uint64(len(k)+len(v)), s.cfg.Costs.StorageReadByte)); err != nil {
		return err
	}
	s.result = encodeEntry(k, v)
	st[0] = uint64(len(s.result))
	return nil
}

// encodeEntry is the storage_next result: u32le(len(key)) || key || value.
func encodeEntry(k, v []byte) []byte {
	b := make([]byte, 0, 4+len(k)+len(v))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(k)))
	b = append(b, k...)
	return append(b, v...)
}

func callerFn(s *callState, mem guestMemory, st []uint64) error {
	c := s.host.Caller()
	var b [33]byte
	b[0] = byte(c.Kind)
	copy(b[1:], c.ID[:])
	return s.write(mem, u32(st[0]), b[:], "caller buffer")
}

func selfFn(s *callState, mem guestMemory, st []uint64) error {
	id := s.host.Self()
	return s.write(mem, u32(st[0]), id[:], "self buffer")
}

func blockHeight(s *callState, _ guestMemory, st []uint64) error {
	st[0] = s.blockInfo().Height
	return nil
}

func blockTime(s *callState, _ guestMemory, st []uint64) error {
	st[0] = uint64(unixNano(s.blockInfo().Time))
	return nil
}

func emit(s *callState, mem guestMemory, st []uint64) error {
	if err := s.writable("emit"); err != nil {
		return err
	}
	topic, err := s.read(mem, u32(st[0]), u32(st[1]), maxTopic, "event topic")
	if err != nil {
		return err
	}
	if !validTopic(topic) {
		return fmt.Errorf("%w: event topic %q: want 1 to %d characters of [A-Za-z0-9_.:/-]", ErrABI, topic, maxTopic)
	}
	data, err := s.read(mem, u32(st[2]), u32(st[3]), s.cfg.MaxEventData, "event data")
	if err != nil {
		return err
	}
	if err := s.charge(sat(s.cfg.Costs.Emit, mulSat(uint64(len(topic)+len(data)), s.cfg.Costs.EmitByte))); err != nil {
		return err
	}
	if err := s.host.Emit(string(topic), bytes.Clone(data)); err != nil {
		return hostErr("emit", err)
	}
	return nil
}

// validTopic reports whether t is 1 to 64 characters of [A-Za-z0-9_.:/-].
func validTopic(t []byte) bool {
	if len(t) == 0 || len(t) > maxTopic {
		return false
	}
	for _, c := range t {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == ':' || c == '/' || c == '-') {
			return false
		}
	}
	return true
}

func randomness(s *callState, mem guestMemory, st []uint64) error {
	r := s.randomness()
	return s.write(mem, u32(st[0]), r[:], "randomness buffer")
}

func hashFn(s *callState, mem guestMemory, st []uint64) error {
	alg := u32(st[0])
	if alg != hashSHA256 && alg != hashSHA3 {
		return fmt.Errorf("%w: unknown hash algorithm %d", ErrABI, alg)
	}
	n := u32(st[2])
	perByte := s.cfg.Costs.SHA256Byte
	if alg == hashSHA3 {
		perByte = s.cfg.Costs.SHA3Byte
	}
	if err := s.charge(sat(s.cfg.Costs.Hash, mulSat(uint64(n), perByte))); err != nil {
		return err
	}
	data, err := s.read(mem, u32(st[1]), n, math.MaxUint32, "hash input")
	if err != nil {
		return err
	}
	var sum [32]byte
	if alg == hashSHA256 {
		sum = sha256.Sum256(data)
	} else {
		sum = sha3.Sum256(data)
	}
	return s.write(mem, u32(st[3]), sum[:], "hash output")
}

// verify(alg, pub, ctx, ctx_len, msg, msg_len, sig, sig_len) -> 1 if sig is pub's signature of
// byte(len(ctx)) || ctx || msg (crypto/keys' domain separation), else 0.
func verify(s *callState, mem guestMemory, st []uint64) error {
	var typ keys.Type
	var cost uint64
	switch alg := u32(st[0]); alg {
	case sigEd25519:
		typ, cost = keys.Ed25519, s.cfg.Costs.VerifyEd25519
	case sigSr25519:
		typ, cost = keys.Sr25519, s.cfg.Costs.VerifySr25519
	default:
		return fmt.Errorf("%w: unknown signature algorithm %d", ErrABI, alg)
	}
	if err := s.charge(cost); err != nil {
		return err
	}
	pub, err := s.read(mem, u32(st[1]), 32, 32, "public key")
	if err != nil {
		return err
	}
	ctx, err := s.read(mem, u32(st[2]), u32(st[3]), math.MaxUint32, "signature context")
	if err != nil {
		return err
	}
	msg, err := s.read(mem, u32(st[4]), u32(st[5]), math.MaxUint32, "signed message")
	if err != nil {
		return err
	}
	sig, err := s.read(mem, u32(st[6]), u32(st[7]), math.MaxUint32, "signature")
	if err != nil {
		return err
	}
	st[0] = 0
	if (keys.PublicKey{Type: typ, Key: [32]byte(pub)}).Verify(keys.Context(ctx), msg, sig) == nil {
		st[0] = 1
	}
	return nil
}

func logFn(s *callState, mem guestMemory, st []uint64) error {
	b, err := s.read(mem, u32(st[0]), u32(st[1]), math.MaxUint32, "log message")
	if err != nil {
		return err
	}
	s.host.Log(string(b[:min(len(b), maxLogBytes)]))
	return nil
}

// callFn(contract, input, input_len, gas_limit) -> status; the result register holds the
// callee's output (status 0) or error message (status 1).
func callFn(s *callState, mem guestMemory, st []uint64) error {
	if err := s.charge(s.cfg.Costs.CrossCall); err != nil {
		return err
	}
	id, err := s.read(mem, u32(st[0]), 32, 32, "contract id")
	if err != nil {
		return err
	}
	input, err := s.read(mem, u32(st[1]), u32(st[2]), s.cfg.MaxInput, "call input")
	if err != nil {
		return err
	}
	limit := min(st[3], s.meter.Left())
	out, used, cerr := s.host.Call([32]byte(id), bytes.Clone(input), limit)
	if err := s.charge(min(used, limit)); err != nil {
		return err
	}
	s.result = nil
	var ce *ContractError
	switch {
	case cerr == nil:
		if len(out) > s.cfg.MaxOutput {
			return fmt.Errorf("%w: the called contract's output of %d bytes exceeds %d", ErrLimit, len(out), s.cfg.MaxOutput)
		}
		s.result, st[0] = out, callOK
	case errors.As(cerr, &ce):
		s.result, st[0] = []byte(ce.Message), callFailed
	case errors.Is(cerr, ErrNotSupported):
		st[0] = callNotSupported
	case errors.Is(cerr, ErrOutOfGas):
		st[0] = callOutOfGas
	case errors.Is(cerr, ErrTrap), errors.Is(cerr, ErrABI), errors.Is(cerr, ErrLimit), errors.Is(cerr, ErrReadOnly):
		st[0] = callTrapped
	default:
		return hostErr("call", cerr)
	}
	return nil
}

// sendFn(contract, input, input_len, gas_limit) -> the message's number (Host.Send).
func sendFn(s *callState, mem guestMemory, st []uint64) error {
	if err := s.writable("send"); err != nil {
		return err
	}
	if err := s.charge(s.cfg.Costs.Send); err != nil {
		return err
	}
	id, err := s.read(mem, u32(st[0]), 32, 32, "contract id")
	if err != nil {
		return err
	}
	input, err := s.read(mem, u32(st[1]), u32(st[2]), s.cfg.MaxInput, "message input")
	if err != nil {
		return err
	}
	if st[3] == 0 {
		return fmt.Errorf("%w: a message needs a positive gas limit", ErrABI)
	}
	if err := s.charge(mulSat(uint64(len(input)), s.cfg.Costs.SendByte)); err != nil {
		return err
	}
	n, err := s.host.Send([32]byte(id), bytes.Clone(input), st[3])
	if err != nil {
		return outboundErr("send", err)
	}
	if n > math.MaxInt64 {
		return hostErr("send", fmt.Errorf("message number %d does not fit in an i64", n))
	}
	st[0] = n
	return nil
}

// transferFn(to, amount, amount_len) queues a transfer of the contract's funds (Host.Transfer).
func transferFn(s *callState, mem guestMemory, st []uint64) error {
	if err := s.writable("transfer"); err != nil {
		return err
	}
	if err := s.charge(s.cfg.Costs.Transfer); err != nil {
		return err
	}
	to, err := s.read(mem, u32(st[0]), 32, 32, "recipient")
	if err != nil {
		return err
	}
	if n := u32(st[2]); n == 0 || n > uint32(len(maxAmount)) {
		return fmt.Errorf("%w: transfer amount of %d characters: want 1 to %d decimal digits", ErrABI, n, len(maxAmount))
	}
	amount, err := s.read(mem, u32(st[1]), u32(st[2]), len(maxAmount), "transfer amount")
	if err != nil {
		return err
	}
	if !validAmount(amount) {
		return fmt.Errorf("%w: transfer amount %q: want a positive decimal integer below 2^128, without sign or leading zeros", ErrABI, amount)
	}
	if err := s.host.Transfer([32]byte(to), string(amount)); err != nil {
		return outboundErr("transfer", err)
	}
	return nil
}

// validAmount reports whether a is the canonical decimal form of an integer in [1, 2^128-1].
func validAmount(a []byte) bool {
	if len(a) == 0 || len(a) > len(maxAmount) || a[0] == '0' {
		return false
	}
	for _, c := range a {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(a) < len(maxAmount) || string(a) <= maxAmount
}

// outboundErr maps a Host.Send or Host.Transfer failure: the host's own limits fail the call
// with ErrLimit, anything else is a host failure.
func outboundErr(op string, err error) error {
	if errors.Is(err, ErrLimit) {
		return fmt.Errorf("%s: %w", op, err)
	}
	return hostErr(op, err)
}
