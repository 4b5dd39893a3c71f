package pruntime

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/phala-go/phala/chain/amount"
	"github.com/phala-go/phala/chain/modules/accounts"
	"github.com/phala-go/phala/chain/modules/contracts"
	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/chain/tx"
	"github.com/phala-go/phala/contract/vm"
	"github.com/phala-go/phala/crypto/keys"
	"github.com/phala-go/phala/pruntime/api"
	"github.com/phala-go/phala/pruntime/chaintest"
)

// BenchmarkReplay measures verified replay: blocks of signed transfers through SyncBlocks.
func BenchmarkReplay(b *testing.B) {
	const perBlock, blocks = 1000, 10
	w := newWorld(b)
	senders := make([]keys.PrivateKey, 100)
	for i := range senders {
		k, err := keys.FromURI(keys.Sr25519, fmt.Sprintf("//Alice//%d", i))
		if err != nil {
			b.Fatal(err)
		}
		senders[i] = k
	}
	var fund []proto.Message
	for _, s := range senders {
		id := s.Public().AccountID()
		fund = append(fund, &accounts.MsgTransfer{To: id[:], Amount: amount.OnePHA.String() + "000"})
	}
	var chain []*chaintest.Block
	chain = append(chain, w.chain.Next(w.sign("Alice", fund[:50]...)), w.chain.Next(w.sign("Alice", fund[50:]...)))
	nonces := make([]uint64, len(senders))
	for range blocks {
		var txs [][]byte
		for i := range perBlock {
			s := i % len(senders)
			to := senders[(s+1)%len(senders)].Public().AccountID()
			raw, err := tx.Build(tx.Unsigned{ChainID: w.chain.ChainID, Nonce: nonces[s], Fee: amount.OnePHA,
				Msgs: []proto.Message{&accounts.MsgTransfer{To: to[:], Amount: "1"}}}, senders[s])
			if err != nil {
				b.Fatal(err)
			}
			nonces[s]++
			txs = append(txs, raw)
		}
		chain = append(chain, w.chain.Next(txs...))
	}
	chain = append(chain, w.chain.Next())
	encoded := make([]*api.Block, len(chain))
	for i, blk := range chain {
		encoded[i] = blk.Encode()
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		r := w.runtimeAt(b.TempDir())
		if _, err := r.Init(w.chain.Genesis, operator(b)); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := r.SyncBlocks(&api.SyncBlocksRequest{Blocks: encoded}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		r.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(perBlock*blocks*b.N)/b.Elapsed().Seconds(), "tx/s")
}

// BenchmarkSyncCall compares a synchronous cross-contract call with the same work done on the
// callee directly, through the runtime's executor: probe contract a calls probe contract b
// (host.Call), against a direct call of b. Queries run on the latest state; commands are
// perBlock plain MsgExecutes in one block, timed from the worker's replay of that block through
// the next block's, whose verification dispatches them (ns/op is per block).
func BenchmarkSyncCall(b *testing.B) {
	const worker, perBlock = "w1", 50
	n, wasm := newProbeCluster(b)
	cluster := registry.ClusterID(1)
	caller, callee := n.deploy(wasm, cluster, "a", "{}"), n.deploy(wasm, cluster, "b", "{}")
	const set, get = `{"set":{"key":"x","value":"1"}}`, `{"get":{"key":"x"}}`
	if rc := n.run(worker, callee, set); rc.GetOutcome() != "ok" {
		b.Fatalf("setting up the callee: %s %s", rc.GetOutcome(), rc.GetError())
	}

	query := func(contract [32]byte, input, want string) func(*testing.B) {
		return func(b *testing.B) {
			r := n.rts[worker]
			for b.Loop() {
				ans, err := r.QueryContract(context.Background(), contract[:], vm.Caller{}, []byte(input), 1_000_000_000)
				if err != nil {
					b.Fatal(err)
				}
				if ans.Result.Err != nil || string(ans.Result.Output) != want {
					b.Fatalf("query %s: %v, %q", input, ans.Result.Err, ans.Result.Output)
				}
			}
		}
	}
	command := func(contract [32]byte, input string) func(*testing.B) {
		return func(b *testing.B) {
			// keyNet's helpers report to this sub-benchmark while it runs.
			outer := n.t
			n.t, n.w.t = b, b
			defer func() { n.t, n.w.t = outer, outer }()
			msgs := make([]proto.Message, perBlock)
			for i := range msgs {
				msgs[i] = &contracts.MsgExecute{Contract: contract[:], Payload: []byte(input), GasLimit: 5_000_000_000}
			}
			var iterations, gas uint64
			var exec time.Duration
			for b.Loop() {
				b.StopTimer()
				first := n.contract(contract[:]).GetCommands()
				blocks := []*api.Block{n.w.chain.Next(n.w.sign("Bob", msgs...)).Encode(), n.w.chain.Next().Encode()}
				n.blocks = append(n.blocks, blocks...)
				for name, r := range n.rts {
					if name == worker {
						continue
					}
					if _, err := r.SyncBlocks(&api.SyncBlocksRequest{Blocks: blocks}); err != nil {
						b.Fatal(err)
					}
				}
				r := n.rts[worker]
				b.StartTimer()
				if _, err := r.SyncBlocks(&api.SyncBlocksRequest{Blocks: blocks[:1]}); err != nil {
					b.Fatal(err)
				}
				// This block confirms the previous one: its sync is mostly the commands' dispatch.
				start := time.Now()
				if _, err := r.SyncBlocks(&api.SyncBlocksRequest{Blocks: blocks[1:]}); err != nil {
					b.Fatal(err)
				}
				exec += time.Since(start)
				b.StopTimer()
				for c := first; c < first+perBlock; c++ {
					rc, _, err := r.Receipt(contract[:], c)
					if err != nil {
						b.Fatal(err)
					}
					if rc.GetOutcome() != "ok" {
						b.Fatalf("command %d: %s %s", c, rc.GetOutcome(), rc.GetError())
					}
					gas += rc.GetGasUsed()
				}
				n.settle()
				iterations++
				b.StartTimer()
			}
			commands := float64(iterations * perBlock)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/commands, "ns/command")
			b.ReportMetric(float64(exec.Nanoseconds())/commands, "dispatch-ns/command")
			b.ReportMetric(float64(gas)/commands, "gas/command")
		}
	}
	// qcall returns the callee's output (the JSON string "1") as its own JSON string.
	b.Run("query/direct", query(callee, get, `"1"`))
	b.Run("query/via_call", query(caller, callInput("qcall", callee, get), `"\"1\""`))
	b.Run("command/direct", command(callee, set))
	b.Run("command/via_call", command(caller, callInput("call", callee, set)))
}
