// Command probe is the VM's test contract: one handler per behaviour the VM tests exercise
// (limits, traps, read-only queries, memory growth, WASI determinism, host functions, messages
// and transfers). It is
// built in TestMain with GOOS=wasip1 GOARCH=wasm -buildmode=c-shared.
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/phala-go/phala/sdk"
)

func main() {}

type kv struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	Size  int    `json:"size"`
}

type loopMsg struct {
	N int64 `json:"n"`
}

type callMsg struct {
	Contract sdk.Address `json:"contract"`
	Input    string      `json:"input"`
	Gas      uint64      `json:"gas"`
}

// sendMsg sends Count messages (at least one) of Input, or of Size bytes when Size > 0, and
// then fails when Fail is set.
type sendMsg struct {
	Contract sdk.Address `json:"contract"`
	Input    string      `json:"input"`
	Size     int         `json:"size"`
	Gas      uint64      `json:"gas"`
	Count    int         `json:"count"`
	Fail     bool        `json:"fail"`
}

type payMsg struct {
	To     sdk.Address `json:"to"`
	Amount string      `json:"amount"`
}

type verifyMsg struct {
	Alg     string      `json:"alg"`
	Pub     sdk.Address `json:"pub"`
	Context string      `json:"context"`
	Msg     string      `json:"msg"`
	Sig     string      `json:"sig"`
}

type env struct {
	Caller     string   `json:"caller"`
	Self       string   `json:"self"`
	Height     uint64   `json:"height"`
	BlockTime  string   `json:"block_time"`
	Now        string   `json:"now"`
	Randomness string   `json:"randomness"`
	CryptoRand string   `json:"crypto_rand"`
	MathRand   uint64   `json:"math_rand"`
	MapOrder   []string `json:"map_order"`
	Slept      int64    `json:"slept_ns"`
	Args       int      `json:"args"`
	Environ    int      `json:"environ"`
	FileErr    string   `json:"file_err"`
}

var (
	sink  []byte
	bumps int // a package variable: every call must see its post-init value
)

func init() {
	sdk.Handle("set", func(ctx sdk.Context, m kv) error {
		value := m.Value
		if m.Size > 0 {
			value = strings.Repeat("x", m.Size)
		}
		sdk.Set([]byte(m.Key), []byte(value))
		return nil
	})
	sdk.Handle("remove", func(ctx sdk.Context, m kv) error {
		sdk.Remove([]byte(m.Key))
		return nil
	})
	sdk.Handle("fail_after_set", func(ctx sdk.Context, m kv) error {
		sdk.Set([]byte(m.Key), []byte(m.Value))
		return errors.New("refused after writing " + m.Key)
	})
	sdk.Handle("panic_after_set", func(ctx sdk.Context, m kv) error {
		sdk.Set([]byte(m.Key), []byte(m.Value))
		panic("boom " + m.Key)
	})
	sdk.Handle("emit", func(ctx sdk.Context, m kv) error {
		ctx.EmitBytes(m.Key, []byte(m.Value))
		return nil
	})
	sdk.HandleResult("loop", func(ctx sdk.Context, m loopMsg) (int64, error) { return burn(m.N), nil })
	sdk.HandleResult("recurse", func(ctx sdk.Context, m loopMsg) (int64, error) { return down(m.N), nil })
	sdk.Handle("grow", func(ctx sdk.Context, m kv) error {
		sink = make([]byte, m.Size)
		for i := range sink {
			sink[i] = byte(i)
		}
		sdk.Set([]byte(m.Key), sink[:16])
		return nil
	})
	sdk.Handle("log", func(ctx sdk.Context, m kv) error {
		ctx.Log("log: %s", m.Value)
		fmt.Println("stdout: " + m.Value)
		return nil
	})
	sdk.HandleResult("call", func(ctx sdk.Context, m callMsg) (string, error) {
		out, err := ctx.Call(m.Contract, []byte(m.Input), m.Gas)
		if err != nil {
			return "", err
		}
		sdk.Set([]byte("called"), out)
		return string(out), nil
	})
	// try_call calls another contract and records whether it failed, without failing itself.
	sdk.HandleResult("try_call", func(ctx sdk.Context, m callMsg) (string, error) {
		_, err := ctx.Call(m.Contract, []byte(m.Input), m.Gas)
		sdk.Set([]byte("tried"), []byte(fmt.Sprint(err != nil)))
		return fmt.Sprint(err), nil
	})
	sdk.HandleQuery("qcall", func(ctx sdk.Context, m callMsg) (string, error) {
		out, err := ctx.Call(m.Contract, []byte(m.Input), m.Gas)
		return string(out), err
	})
	// Deposits are recorded (refused while "refuse" is set); bounces are recorded by kind and
	// number or recipient.
	sdk.HandleDeposit(func(ctx sdk.Context, d sdk.Deposit) error {
		if _, refuse := sdk.Get([]byte("refuse")); refuse {
			return errors.New("deposits refused")
		}
		sdk.Set([]byte("deposit:"+d.From.String()), []byte(d.Amount))
		return nil
	})
	sdk.HandleBounce(func(ctx sdk.Context, b sdk.Bounce) error {
		sdk.Set([]byte(fmt.Sprintf("bounce:%s:%d:%s", b.Kind, b.Number, b.Amount)), []byte(b.Reason))
		return nil
	})
	sdk.Handle("count", func(ctx sdk.Context, _ struct{}) error {
		n, _ := sdk.Get([]byte("count")) // the count is the value's length: no parsing
		sdk.Set([]byte("count"), bytes.Repeat([]byte{'x'}, len(n)+1))
		return nil
	})
	sdk.Handle("whoami", func(ctx sdk.Context, _ struct{}) error {
		c := ctx.Caller()
		sdk.Set([]byte("caller"), []byte(fmt.Sprintf("%s:%s", c.Kind, c.ID)))
		return nil
	})
	sdk.HandleResult("send", send)
	sdk.HandleQuery("send", send)
	sdk.Handle("transfer", pay)
	sdk.HandleQuery("transfer", func(ctx sdk.Context, m payMsg) (bool, error) { return true, pay(ctx, m) })
	sdk.HandleResult("bump", func(ctx sdk.Context, _ struct{}) (int, error) {
		bumps++
		return bumps, nil
	})
	sdk.Handle("bump_then_panic", func(ctx sdk.Context, _ struct{}) error {
		bumps += 100
		panic("after bump")
	})
	sdk.HandleResult("env", envHandler)
	sdk.HandleQuery("env", envHandler)
	sdk.HandleQuery("get", func(ctx sdk.Context, m kv) (string, error) {
		v, ok := sdk.Get([]byte(m.Key))
		if !ok {
			return "", errors.New("absent")
		}
		return string(v), nil
	})
	sdk.HandleQuery("iterate", func(ctx sdk.Context, m kv) ([]string, error) {
		var out []string
		sdk.Iterate([]byte(m.Key), func(k, v []byte) bool {
			out = append(out, string(k)+"="+string(v))
			return true
		})
		return out, nil
	})
	sdk.HandleQuery("write", func(ctx sdk.Context, m kv) (bool, error) {
		sdk.Set([]byte(m.Key), []byte(m.Value))
		return true, nil
	})
	sdk.HandleQuery("emit", func(ctx sdk.Context, m kv) (bool, error) {
		ctx.EmitBytes(m.Key, []byte(m.Value))
		return true, nil
	})
	sdk.HandleQuery("hash", func(ctx sdk.Context, m kv) ([]string, error) {
		a, b := sdk.SHA256([]byte(m.Value)), sdk.SHA3_256([]byte(m.Value))
		return []string{hex.EncodeToString(a[:]), hex.EncodeToString(b[:])}, nil
	})
	sdk.HandleQuery("verify", func(ctx sdk.Context, m verifyMsg) (bool, error) {
		sig, err := hex.DecodeString(m.Sig)
		if err != nil {
			return false, err
		}
		if m.Alg == "sr25519" {
			return sdk.VerifySr25519(m.Pub, m.Context, []byte(m.Msg), sig), nil
		}
		return sdk.VerifyEd25519(m.Pub, m.Context, []byte(m.Msg), sig), nil
	})
}

func send(ctx sdk.Context, m sendMsg) ([]uint64, error) {
	input := []byte(m.Input)
	if m.Size > 0 {
		input = bytes.Repeat([]byte{'m'}, m.Size)
	}
	var numbers []uint64
	for range max(m.Count, 1) {
		n, err := ctx.SendBytes(m.Contract, input, m.Gas)
		if err != nil {
			return nil, err
		}
		numbers = append(numbers, n)
	}
	if m.Fail {
		return nil, fmt.Errorf("refused after sending %v", numbers)
	}
	return numbers, nil
}

func pay(ctx sdk.Context, m payMsg) error { return ctx.Transfer(m.To, m.Amount) }

// envHandler reports what the contract can observe of its environment, the WASI answers
// included: all of it must be identical on every replica.
func envHandler(ctx sdk.Context, _ struct{}) (env, error) {
	c, b := ctx.Caller(), ctx.Block()
	r := ctx.Randomness()
	var cr [16]byte
	if _, err := rand.Read(cr[:]); err != nil {
		return env{}, err
	}
	m := map[string]int{}
	for i := range 16 {
		m[fmt.Sprint(i)] = i
	}
	var order []string
	for k := range m {
		order = append(order, k)
	}
	start := time.Now()
	time.Sleep(10 * time.Millisecond)
	_, ferr := os.ReadFile("/etc/passwd")
	return env{
		Caller: fmt.Sprintf("%s:%s", c.Kind, c.ID), Self: ctx.Self().String(), Height: b.Height,
		BlockTime: b.Time.Format(time.RFC3339Nano), Now: time.Now().UTC().Format(time.RFC3339Nano),
		Randomness: hex.EncodeToString(r[:]), CryptoRand: hex.EncodeToString(cr[:]),
		MathRand: mrand.Uint64(), MapOrder: order, Slept: int64(time.Since(start)),
		Args: len(os.Args), Environ: len(os.Environ()), FileErr: fmt.Sprint(ferr),
	}, nil
}

// burn is a tight compute loop (FNV-1a style), exported raw for the metering benchmark too.
//
//go:wasmexport burn
func burn(n int64) int64 {
	h := uint64(14695981039346656037)
	for i := int64(0); i < n; i++ {
		h ^= uint64(i)
		h *= 1099511628211
	}
	return int64(h)
}

//go:noinline
func down(n int64) int64 {
	if n <= 0 {
		return 0
	}
	return down(n-1) + 1
}
