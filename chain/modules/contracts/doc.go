// Package contracts is the chain side of confidential contracts: uploaded code (compressed Wasm,
// validated, stored by hash), instantiated contracts and their published keys, and the ordered
// requests the chain sends each cluster.
//
// The chain never sees a contract's state or its plaintext inputs. Every instantiation,
// command and rekey becomes a Request numbered within its cluster and enqueued on the message
// queue (topic phala/contracts/request) for the cluster's workers, which all execute it in
// order; the cluster answers request n with its origin's message of sequence n (a Report on
// phala/contracts/report): the outcome class, the gas used, the events the contract published
// and, for an instantiation or rekey, the contract's encryption keys. The sender prepays its gas
// limit at the gas price; the report refunds what was not used and pays the rest to the fee
// collector.
//
// Deterministic: imports chain/module, chain/store, chain/errcode, chain/amount, the accounts,
// mq and registry modules, crypto/envelope (envelope headers), contract/vm (Validate only: a
// pure parse) and klauspost/compress (bounded decompression). docs/contracts-chain.md describes
// the flow.
package contracts
