// Package node runs a Phala-Go chain node: CometBFT embedded in-process with the chain
// application over a local ABCI client. It owns the node's home directory (typed config file,
// genesis, keys, databases), writes new homes and multi-validator testnets, and adapts
// CometBFT's logger to log/slog.
//
// Home layout:
//
//	config/phala.toml               typed node config (Config)
//	config/genesis.json             CometBFT genesis with the app state
//	config/node_key.json            P2P identity
//	config/priv_validator_key.json  consensus key (0600)
//	data/                           CometBFT block store, state, indexer; application.db
//
// It may import chain/..., crypto/keys, CometBFT, cosmos-db, BurntSushi/toml and prometheus.
package node
