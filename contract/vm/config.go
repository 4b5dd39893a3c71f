package vm

import (
	"fmt"
	"time"

	"github.com/phala-go/phala/contract/gas"
)

// HostCosts is the gas the VM charges for host functions, on top of the gas the contract's own
// instructions use (Config.Gas). It is consensus-relevant. docs/contract-abi.md lists which
// function pays what.
type HostCosts struct {
	// Start is charged once per Code.Call, before the contract runs: it pays for restoring
	// the post-init snapshot.
	Start uint64
	// Base is charged for every host function, phala and WASI alike.
	Base uint64
	// Byte is charged per byte copied between the contract's memory and the host.
	Byte uint64
	// StorageRead is charged per storage_get and storage_next, plus StorageReadByte per byte of
	// key and value read.
	StorageRead     uint64
	StorageReadByte uint64
	// StorageWrite is charged per storage_set, plus StorageWriteByte per byte of key and value
	// written (state growth is paid for once, by the writer).
	StorageWrite     uint64
	StorageWriteByte uint64
	// StorageRemove is charged per storage_remove.
	StorageRemove uint64
	// Emit is charged per event, plus EmitByte per byte of topic and data.
	Emit     uint64
	EmitByte uint64
	// Hash is charged per hash call, plus SHA256Byte or SHA3Byte per byte hashed.
	Hash       uint64
	SHA256Byte uint64
	SHA3Byte   uint64
	// VerifyEd25519 and VerifySr25519 are charged per verification (plus Byte per byte read).
	VerifyEd25519 uint64
	VerifySr25519 uint64
	// CrossCall is charged per cross-contract call; the gas the callee uses is charged on top.
	CrossCall uint64
	// Send is charged per asynchronous message, plus SendByte per byte of its input: the worker
	// seals each message to its receiver's key and the chain carries and stores it. The
	// delivery itself is paid from the message's own gas limit.
	Send     uint64
	SendByte uint64
	// Transfer is charged per transfer of the contract's funds.
	Transfer uint64
}

// DefaultHostCosts returns the default schedule. One unit is about one simple Wasm instruction,
// about 0.5 ns on the compiler engine; docs/contract-abi.md gives the measurements behind each
// figure (BenchmarkHostFunctions, BenchmarkStart).
func DefaultHostCosts() HostCosts {
	return HostCosts{
		Start:            200_000,
		Base:             500,
		Byte:             1,
		StorageRead:      10_000,
		StorageReadByte:  2,
		StorageWrite:     20_000,
		StorageWriteByte: 20,
		StorageRemove:    10_000,
		Emit:             2_000,
		EmitByte:         4,
		Hash:             500,
		SHA256Byte:       2,
		SHA3Byte:         8,
		VerifyEd25519:    120_000,
		VerifySr25519:    210_000,
		CrossCall:        10_000,
		Send:             500_000,
		SendByte:         8,
		Transfer:         10_000,
	}
}

// Config is the engine's configuration; an Engine keeps a copy and never changes it. Fields
// marked "consensus" must be equal on every replica.
type Config struct {
	// CacheDir holds compiled machine code across restarts ("" keeps it in memory only). The
	// code is loaded and executed as is: the directory must be trusted storage (inside the TEE's
	// encrypted disk), never a path the untrusted host can write.
	CacheDir string
	// Interpreter selects wazero's interpreter instead of its compiler (gas is identical; the
	// interpreter is 10-100x slower). For tests and platforms without the compiler.
	Interpreter bool

	// MaxMemoryPages bounds each instance's memory, in 64 KiB pages (consensus: memory.grow
	// fails beyond it). At most 65535.
	MaxMemoryPages uint32
	// MaxInput bounds the input of a call (consensus), MaxOutput its output and the output of a
	// cross-contract call (consensus).
	MaxInput  int
	MaxOutput int
	// MaxKey bounds storage keys and prefixes, MaxStateValue stored values (consensus).
	MaxKey        int
	MaxStateValue int
	// MaxEventData bounds an event's data (consensus). Topics are 1 to 64 characters of
	// [A-Za-z0-9_.:/-].
	MaxEventData int

	// InitGas is the budget of _initialize at Load (consensus: a module that needs more fails to
	// load everywhere).
	InitGas uint64
	// Gas is the instruction cost schedule injected into the module (consensus).
	Gas gas.Config
	// Costs is the host-function cost schedule (consensus).
	Costs HostCosts

	// QueryInstances bounds the queries of one Code that run at once; each has its own
	// instance. A query beyond the bound waits up to QueryWait, then fails with ErrOverloaded.
	QueryInstances int
	QueryWait      time.Duration
}

// DefaultConfig returns the configuration workers run with.
func DefaultConfig() Config {
	return Config{
		MaxMemoryPages: 512, // 32 MiB
		MaxInput:       256 << 10,
		MaxOutput:      1 << 20,
		MaxKey:         1024,
		MaxStateValue:  64 << 10,
		MaxEventData:   64 << 10,
		InitGas:        200_000_000,
		Gas:            gas.DefaultConfig(),
		Costs:          DefaultHostCosts(),
		QueryInstances: 4,
		QueryWait:      50 * time.Millisecond,
	}
}

func (c *Config) validate() error {
	switch {
	case c.MaxMemoryPages == 0 || c.MaxMemoryPages > 65535:
		return fmt.Errorf("%w: MaxMemoryPages %d outside 1..65535", ErrConfig, c.MaxMemoryPages)
	case c.MaxInput <= 0 || c.MaxOutput <= 0 || c.MaxKey <= 0 || c.MaxStateValue <= 0 || c.MaxEventData <= 0:
		return fmt.Errorf("%w: every size limit must be positive", ErrConfig)
	case c.MaxInput > 1<<30 || c.MaxOutput > 1<<30 || c.MaxKey > 1<<20 || c.MaxStateValue > 1<<30 || c.MaxEventData > 1<<30:
		return fmt.Errorf("%w: a size limit exceeds what a 32-bit memory can hold", ErrConfig)
	case c.InitGas == 0:
		return fmt.Errorf("%w: InitGas must be positive", ErrConfig)
	case c.QueryInstances <= 0:
		return fmt.Errorf("%w: QueryInstances must be positive", ErrConfig)
	case c.QueryWait < 0:
		return fmt.Errorf("%w: negative QueryWait", ErrConfig)
	}
	return nil
}
