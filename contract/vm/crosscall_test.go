package vm

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

// TestCrossContractCall wires the host's Call to another Code, as pRuntime will: the probe
// contract moves tokens it holds through the token contract, which sees the probe as caller.
func TestCrossContractCall(t *testing.T) {
	token, probe := code(t, "token"), code(t, "probe")
	tokenStore, probeStore := newStore(), newStore()
	probeHost := newHost(probeStore, "alice")
	tokenID := account("token-contract")
	mustCall(t, token, newHost(tokenStore, "admin"), EntryInstantiate, fmt.Sprintf(
		`{"name": "T", "symbol": "T", "mint": [{"to": "0x%s", "amount": 50}]}`, hex.EncodeToString(probeHost.self[:])))

	var calleeGas uint64
	probeHost.callFn = func(contract [32]byte, input []byte, gasLimit uint64) ([]byte, uint64, error) {
		if contract != tokenID {
			return nil, 0, fmt.Errorf("no contract %x", contract)
		}
		h := newHost(tokenStore, "")
		h.caller = Caller{Kind: CallerContract, ID: probeHost.self}
		h.readOnly = probeHost.readOnly
		entry := EntryExecute
		if strings.Contains(string(input), "balance") {
			entry = EntryQuery
		}
		res := call(token, h, entry, string(input), gasLimit)
		calleeGas = res.GasUsed
		return res.Output, res.GasUsed, res.Err
	}
	callMsg := func(input string, gas uint64) string {
		return fmt.Sprintf(`{"call": {"contract": "0x%s", "input": %q, "gas": %d}}`, hex.EncodeToString(tokenID[:]), input, gas)
	}
	transfer := fmt.Sprintf(`{"transfer": {"to": %q, "amount": 20}}`, addr("bob"))

	res := call(probe, probeHost, EntryExecute, callMsg(transfer, 1<<30), 1<<32)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if res.GasUsed < calleeGas+DefaultHostCosts().CrossCall {
		t.Fatalf("caller used %d gas, callee %d: the callee's gas was not charged", res.GasUsed, calleeGas)
	}
	if got := mustCall(t, token, newHost(tokenStore, "bob"), EntryQuery, `{"balance": {}}`); got != `{"balance":20}` {
		t.Fatalf("bob's balance %s", got)
	}
	tests := []struct {
		name, input string
		gas         uint64
		errText     string
	}{
		{"callee error", fmt.Sprintf(`{"transfer": {"to": %q, "amount": 31}}`, addr("bob")), 1 << 30, "called contract failed: insufficient balance: have 30"},
		{"callee out of gas", transfer, 1000, "called contract ran out of gas"},
		{"callee malformed input", `{"transfer": 5}`, 1 << 30, "called contract failed: malformed message"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := tokenStore.snapshot()
			res := call(probe, probeHost, EntryExecute, callMsg(tc.input, tc.gas), 1<<32)
			if !errorIs(res.Err, ErrContract) || !strings.Contains(res.Err.Error(), tc.errText) {
				t.Fatalf("err = %v, want a contract error with %q", res.Err, tc.errText)
			}
			if fmt.Sprint(tokenStore.snapshot()) != fmt.Sprint(before) {
				t.Fatal("a failed call changed the callee's storage")
			}
		})
	}
	noCalls := newHost(newStore(), "alice")
	if res := call(probe, noCalls, EntryExecute, callMsg(transfer, 1000), 1<<32); !errorIs(res.Err, ErrContract) || !strings.Contains(res.Err.Error(), "not supported") {
		t.Fatalf("host without calls: %v", res.Err)
	}
	broken := newHost(newStore(), "alice")
	broken.callFn = func([32]byte, []byte, uint64) ([]byte, uint64, error) { return nil, 0, context.DeadlineExceeded }
	if res := call(probe, broken, EntryExecute, callMsg(transfer, 1000), 1<<32); !errorIs(res.Err, ErrHost) {
		t.Fatalf("host failure in a call: %v", res.Err)
	}
}
