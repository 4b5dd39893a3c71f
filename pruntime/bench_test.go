package pruntime

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/phala-go/phala/chain/amount"
	"github.com/phala-go/phala/chain/modules/accounts"
	"github.com/phala-go/phala/chain/tx"
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
