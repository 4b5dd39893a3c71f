// Package mq is the message queue: every message has an origin, a topic and a payload, and the
// chain orders them. On-chain origins enqueue directly (accounts with MsgPush, modules through
// Enqueue). Off-chain origins (workers, contracts, clusters, the gatekeeper role) send signed
// egress with MsgSyncOffchain: the chain accepts exactly the next sequence number of that
// origin's stream, signed by the key a registered resolver names for it, so that replicas may
// all submit and exactly one copy lands.
//
// Chain handlers subscribe to topics; messages whose topic does not start with '^' are also kept
// in state for the block, where workers read them after replaying it.
//
// Deterministic: imports chain/module, chain/store, chain/errcode, crypto/keys.
package mq
