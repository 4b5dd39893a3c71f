package vm

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
	"testing"
)

func sendInput(to [32]byte, input string, size, count int, gas uint64, fail bool) string {
	return fmt.Sprintf(`{"send": {"contract": "0x%s", "input": %q, "size": %d, "gas": %d, "count": %d, "fail": %v}}`,
		hex.EncodeToString(to[:]), input, size, gas, count, fail)
}

func payInput(to [32]byte, amount string) string {
	return fmt.Sprintf(`{"transfer": {"to": "0x%s", "amount": %q}}`, hex.EncodeToString(to[:]), amount)
}

// TestSendThroughVM runs the probe's send and transfer handlers: numbers, what the host
// receives, refusals, limits and the gas of a message.
func TestSendThroughVM(t *testing.T) {
	c := code(t, "probe")
	st := newStore()
	h := newHost(st, "alice")
	token := account("token")
	if got := mustCall(t, c, h, EntryExecute, sendInput(token, `{"transfer":{}}`, 0, 3, 7000, false)); got != "[0,1,2]" {
		t.Fatalf("numbers %s", got)
	}
	if len(h.messages) != 3 || h.messages[2] != (message{number: 2, to: token, input: `{"transfer":{}}`, gasLimit: 7000}) {
		t.Fatalf("messages %+v", h.messages)
	}
	// A failed call sends nothing and its numbers are used again.
	if res := call(c, h, EntryExecute, sendInput(token, "x", 0, 2, 1, true), 1<<32); !errorIs(res.Err, ErrContract) || !strings.Contains(res.Err.Error(), "refused after sending [3 4]") {
		t.Fatalf("failing call: %v", res.Err)
	}
	if got := mustCall(t, c, h, EntryExecute, sendInput(token, "x", 0, 1, 1, false)); got != "[3]" || len(h.messages) != 4 {
		t.Fatalf("after the failure: %s, %d messages", got, len(h.messages))
	}
	mustCall(t, c, h, EntryExecute, payInput(account("bob"), "1500"))
	if len(h.transfers) != 1 || h.transfers[0] != (transfer{to: account("bob"), amount: "1500"}) {
		t.Fatalf("transfers %+v", h.transfers)
	}

	cfg := DefaultConfig()
	tests := []struct {
		name   string
		entry  Entry
		ro     bool
		input  string
		hostFn error
		want   []error
	}{
		{"send from a query", EntryQuery, false, sendInput(token, "x", 0, 1, 1, false), nil, []error{ErrReadOnly}},
		{"transfer from a query", EntryQuery, false, payInput(token, "1"), nil, []error{ErrReadOnly}},
		{"send under a read-only host", EntryExecute, true, sendInput(token, "x", 0, 1, 1, false), nil, []error{ErrReadOnly}},
		{"transfer under a read-only host", EntryExecute, true, payInput(token, "1"), nil, []error{ErrReadOnly}},
		{"input above MaxInput", EntryExecute, false, sendInput(token, "", cfg.MaxInput+1, 1, 1, false), nil, []error{ErrLimit}},
		{"zero gas limit", EntryExecute, false, sendInput(token, "x", 0, 1, 0, false), nil, []error{ErrContract}},
		{"bad amount", EntryExecute, false, payInput(token, "01"), nil, []error{ErrContract}},
		{"host limit on sends", EntryExecute, false, sendInput(token, "x", 0, 1, 1, false), fmt.Errorf("%w: 64 messages per command", ErrLimit), []error{ErrLimit}},
		{"host limit on transfers", EntryExecute, false, payInput(token, "1"), fmt.Errorf("%w: 64 transfers per command", ErrLimit), []error{ErrLimit}},
		{"host failure on send", EntryExecute, false, sendInput(token, "x", 0, 1, 1, false), errors.New("queue broken"), []error{ErrHost}},
		{"host failure on transfer", EntryExecute, false, payInput(token, "1"), errors.New("queue broken"), []error{ErrHost}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(st, "alice")
			h.readOnly, h.outboundErr = tc.ro, tc.hostFn
			res := call(c, h, tc.entry, tc.input, 1<<32)
			if !errorIs(res.Err, tc.want...) {
				t.Fatalf("err = %v, want %v", res.Err, tc.want)
			}
			if len(h.messages) != 0 || len(h.transfers) != 0 || st.sent != 4 {
				t.Fatalf("a refused call sent %+v, transferred %+v, next number %d", h.messages, h.transfers, st.sent)
			}
		})
	}
	if got := mustCall(t, c, h, EntryExecute, sendInput(token, "", cfg.MaxInput, 1, 1, false)); got != "[4]" {
		t.Fatalf("input at MaxInput: %s", got)
	}

	// A second message costs at least what the schedule says.
	one := call(c, newHost(newStore(), "alice"), EntryExecute, sendInput(token, "", 1000, 1, 1, false), 1<<32)
	two := call(c, newHost(newStore(), "alice"), EntryExecute, sendInput(token, "", 1000, 2, 1, false), 1<<32)
	costs := DefaultHostCosts()
	perMessage := costs.Base + costs.Send + 32*costs.Byte + 1000*(costs.Byte+costs.SendByte)
	if one.Err != nil || two.Err != nil || two.GasUsed-one.GasUsed < perMessage || two.GasUsed-one.GasUsed > perMessage+50_000 {
		t.Fatalf("one message %d gas, two %d (%v %v): the second should cost about %d", one.GasUsed, two.GasUsed, one.Err, two.Err, perMessage)
	}
}

// TestOutboundImports calls send and transfer directly: validation, exact gas, and that a
// refusal reaches nothing.
func TestOutboundImports(t *testing.T) {
	byName := map[string]*hostFunc{}
	for i := range phalaFuncs {
		byName[phalaFuncs[i].name] = &phalaFuncs[i]
	}
	costs := DefaultHostCosts()
	cfg := DefaultConfig()
	const to, data = 0, 64 // offsets of the 32-byte id and of the input or amount
	tests := []struct {
		name     string
		fn       string
		data     string
		params   []uint64 // nil: the function's usual parameters over data
		readOnly bool
		budget   uint64 // 0: plenty
		want     []error
		gas      uint64 // exact gas when it succeeds
	}{
		{"send", "send", `{"ping":{}}`, nil, false, 0, nil, costs.Base + costs.Send + (32+11)*costs.Byte + 11*costs.SendByte},
		{"send empty input", "send", "", nil, false, 0, nil, costs.Base + costs.Send + 32*costs.Byte},
		{"send zero gas", "send", "x", []uint64{to, data, 1, 0}, false, 0, []error{ErrABI}, 0},
		{"send id outside memory", "send", "x", []uint64{1 << 20, data, 1, 5}, false, 0, []error{ErrABI}, 0},
		{"send input outside memory", "send", "x", []uint64{to, 1 << 20, 1, 5}, false, 0, []error{ErrABI}, 0},
		{"send input above MaxInput", "send", "x", []uint64{to, data, uint64(cfg.MaxInput) + 1, 5}, false, 0, []error{ErrLimit}, 0},
		{"send read-only", "send", "x", nil, true, 0, []error{ErrReadOnly}, 0},
		{"send out of gas", "send", "x", nil, false, costs.Base + costs.Send - 1, []error{ErrOutOfGas}, 0},
		{"transfer", "transfer", "1500", nil, false, 0, nil, costs.Base + costs.Transfer + (32+4)*costs.Byte},
		{"transfer 2^128-1", "transfer", "340282366920938463463374607431768211455", nil, false, 0, nil, costs.Base + costs.Transfer + (32+39)*costs.Byte},
		{"transfer 2^128", "transfer", "340282366920938463463374607431768211456", nil, false, 0, []error{ErrABI}, 0},
		{"transfer 40 digits", "transfer", "1000000000000000000000000000000000000000", nil, false, 0, []error{ErrABI}, 0},
		{"transfer zero", "transfer", "0", nil, false, 0, []error{ErrABI}, 0},
		{"transfer leading zero", "transfer", "0100", nil, false, 0, []error{ErrABI}, 0},
		{"transfer negative", "transfer", "-1", nil, false, 0, []error{ErrABI}, 0},
		{"transfer plus sign", "transfer", "+1", nil, false, 0, []error{ErrABI}, 0},
		{"transfer decimal point", "transfer", "1.5", nil, false, 0, []error{ErrABI}, 0},
		{"transfer space", "transfer", "1 ", nil, false, 0, []error{ErrABI}, 0},
		{"transfer empty", "transfer", "", nil, false, 0, []error{ErrABI}, 0},
		{"transfer huge length", "transfer", "1", []uint64{to, data, 1 << 30}, false, 0, []error{ErrABI}, 0},
		{"transfer amount outside memory", "transfer", "1", []uint64{to, 1 << 20, 1}, false, 0, []error{ErrABI}, 0},
		{"transfer read-only", "transfer", "1", nil, true, 0, []error{ErrReadOnly}, 0},
		{"transfer out of gas", "transfer", "1", nil, false, costs.Base + costs.Transfer - 1, []error{ErrOutOfGas}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, h := fuzzState(t, tc.readOnly)
			budget := tc.budget
			if budget == 0 {
				budget = 1 << 40
			}
			s.meter.Reset(budget)
			mem := make(testMemory, 4096)
			copy(mem[to:], "0123456789abcdef0123456789abcdef")
			copy(mem[data:], tc.data)
			st := tc.params
			if st == nil {
				st = []uint64{to, data, uint64(len(tc.data)), 5}
			}
			st = append([]uint64{}, st...)
			err := s.invoke(byName[tc.fn], mem, st, true)
			if tc.want != nil {
				if !errorIs(err, tc.want...) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
				if h.writes != 0 || len(h.messages) != 0 || len(h.transfers) != 0 {
					t.Fatal("a refused request reached the host")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if used := budget - s.meter.Left(); used != tc.gas {
				t.Fatalf("gas %d, want %d", used, tc.gas)
			}
			id := [32]byte([]byte("0123456789abcdef0123456789abcdef"))
			switch tc.fn {
			case "send":
				if st[0] != 0 || len(h.messages) != 1 || h.messages[0] != (message{to: id, input: tc.data, gasLimit: 5}) {
					t.Fatalf("returned %d, messages %+v", st[0], h.messages)
				}
			case "transfer":
				if len(h.transfers) != 1 || h.transfers[0] != (transfer{to: id, amount: tc.data}) {
					t.Fatalf("transfers %+v", h.transfers)
				}
			}
		})
	}
	// A number the ABI's i64 cannot carry is the host's fault.
	s, h := fuzzState(t, false)
	h.st.sent = math.MaxInt64 + 1
	if err := s.invoke(byName["send"], make(testMemory, 64), []uint64{0, 32, 1, 1}, true); !errors.Is(err, ErrHost) {
		t.Fatalf("number above MaxInt64: %v", err)
	}
}

// FuzzTransferAmount checks the transfer import's amount rule against math/big.
func FuzzTransferAmount(f *testing.F) {
	for _, s := range []string{"1", "0", "01", "-1", maxAmount, "340282366920938463463374607431768211456", "1e3", ""} {
		f.Add([]byte(s))
	}
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	f.Fuzz(func(t *testing.T, b []byte) {
		n, ok := new(big.Int).SetString(string(b), 10)
		want := ok && n.Sign() > 0 && n.Cmp(limit) < 0 && n.String() == string(b)
		if got := validAmount(b); got != want {
			t.Fatalf("validAmount(%q) = %v, want %v", b, got, want)
		}
	})
}
