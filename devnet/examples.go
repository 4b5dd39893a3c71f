package devnet

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/phala-go/phala/chain/modules/contracts"
	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/chain/tx"
	"github.com/phala-go/phala/client"
	"github.com/phala-go/phala/contract/build"
	"github.com/phala-go/phala/crypto/keys"
)

// The token example (examples/contracts/token) that a new dev network deploys in cluster 1, so
// that there is a confidential contract to call and query from the first minute.
const (
	// TokenDeployer is the dev account that uploads and instantiates it: not Alice, the
	// council, whom the walkthrough uses for governance.
	TokenDeployer = "Bob"
	// TokenGrant is what the init message mints to each of TokenHolders.
	TokenGrant uint64 = 1_000_000
	// tokenSalt makes the contract id; a redeployment of changed code gets a new id anyway.
	tokenSalt = "phala-dev"
	// buildTimeout bounds building the example: a cold Go build cache compiles the standard
	// library for wasip1.
	buildTimeout = 5 * time.Minute
)

// TokenHolders are the dev accounts the token example mints TokenGrant to.
func TokenHolders() []string { return []string{"Bob", "Charlie"} }

// FindExamples returns the examples/contracts directory of the repository checkout that one of
// the directories from, or one of their parents, lies in.
func FindExamples(from ...string) (string, error) {
	var looked []string
	for _, dir := range from {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return "", err
		}
		looked = append(looked, abs)
		for d := abs; ; d = filepath.Dir(d) {
			cand := filepath.Join(d, "examples", "contracts")
			if isExamples(cand) {
				return cand, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return "", fmt.Errorf("%w: no examples/contracts/token in %s or a parent directory: start from the repository checkout",
		ErrExamples, strings.Join(looked, " or "))
}

// isExamples says whether dir looks like examples/contracts: its module and the token in it.
func isExamples(dir string) bool {
	return isFile(filepath.Join(dir, "go.mod")) && isFile(filepath.Join(dir, "token", "main.go"))
}

func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// defaultExamples looks for the examples from the working directory, then from the executable's
// (bin/phala of a checkout).
func defaultExamples() (string, error) {
	var from []string
	if wd, err := os.Getwd(); err == nil {
		from = append(from, wd)
	}
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		from = append(from, filepath.Dir(exe))
	}
	return FindExamples(from...)
}

// examplesDir checks, before anything starts, that the examples can be built: dir ("" to look
// for it with FindExamples from the working directory and the executable's) holds them and
// the Go toolchain is there. It returns the examples/contracts directory.
func examplesDir(dir string) (string, error) {
	if dir == "" {
		var err error
		if dir, err = defaultExamples(); err != nil {
			return "", err
		}
	} else if !isExamples(dir) {
		return "", fmt.Errorf("%w: %s is not the examples/contracts directory (it has no go.mod and token/main.go)", ErrExamples, dir)
	}
	if _, err := exec.LookPath("go"); err != nil {
		return "", fmt.Errorf("%w: building %s needs the Go toolchain (go on PATH): %w", ErrExamples, filepath.Join(dir, "token"), err)
	}
	return dir, nil
}

// deployExamples deploys the token example from dir (examplesDir) in cluster 1, once: a home
// whose record names it only reports it. Without cluster 1 among the workers' clusters there
// is nowhere to run it, and nothing is done.
func (n *Network) deployExamples(ctx context.Context, dir string, rec *record, recordPath string) error {
	if rec.Token != "" {
		id, err := hex.DecodeString(rec.Token)
		if err != nil || len(id) != 32 {
			return fmt.Errorf("%s: token %q is not a contract id (delete the entry to deploy the example again)", recordPath, rec.Token)
		}
		n.Token = id
		return nil
	}
	cluster := registry.ClusterID(1)
	if !slices.ContainsFunc(n.Clusters, func(c *registry.Cluster) bool { return bytes.Equal(c.GetId(), cluster) }) {
		n.log.Info("no worker runtime in cluster 1: the token example is not deployed")
		return nil
	}
	if dir == "" {
		return fmt.Errorf("%w: no examples directory", ErrExamples)
	}
	start := time.Now()
	bctx, cancel := context.WithTimeout(ctx, buildTimeout)
	defer cancel()
	// wasm-opt would save 5% of the size for ten seconds of a dev start.
	out, err := build.BuildWith(bctx, filepath.Join(dir, "token"), build.Options{WasmOpt: "-"})
	if err != nil {
		return err
	}
	n.log.Info("token example built", "dir", filepath.Join(dir, "token"), "bytes", len(out.Wasm), "took", time.Since(start).Round(time.Millisecond))
	id, err := n.deployToken(ctx, out.Wasm, cluster)
	if err != nil {
		return err
	}
	rec.Token = hex.EncodeToString(id)
	if err := rec.save(recordPath); err != nil {
		return err
	}
	n.Token = id
	return nil
}

// deployToken uploads the token as TokenDeployer and instantiates it in cluster with an
// encrypted init message minting TokenGrant to each holder, and returns its id once ACTIVE. A
// contract with that id already there (a start stopped before recording it) is waited for,
// not instantiated again.
func (n *Network) deployToken(ctx context.Context, wasm, cluster []byte) ([]byte, error) {
	ctx, cancel := stage(ctx)
	defer cancel()
	deployer, err := keys.FromURI(keys.Sr25519, "//"+TokenDeployer)
	if err != nil {
		return nil, err
	}
	init, err := tokenInit()
	if err != nil {
		return nil, err
	}
	var hash [32]byte
	err = retryRaced(func() error {
		hash, _, err = n.chain.UploadCode(ctx, deployer, wasm, client.TxOptions{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	id := contracts.ContractID(deployer.Public().AccountID(), hash[:], cluster, []byte(tokenSalt))
	_, err = n.chain.Contract(ctx, id[:])
	switch {
	case errors.Is(err, contracts.ErrContractNotFound):
		err := retryRaced(func() error {
			_, _, err := n.chain.Instantiate(ctx, deployer, hash[:], cluster, []byte(tokenSalt), init, client.InstantiateOptions{})
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("instantiate: %w", err)
		}
	case err != nil:
		return nil, err
	default:
		if err := n.awaitInstantiated(ctx, id[:]); err != nil {
			return nil, err
		}
	}
	n.log.Info("token example deployed", "contract", hex.EncodeToString(id[:]), "code", hex.EncodeToString(hash[:]), "deployer", TokenDeployer)
	return id[:], nil
}

// retryRaced runs submit again, a few times, while the chain refuses its transaction for a
// nonce another transaction of the account took meanwhile: from five runtimes on, Bob relays
// for one of them. Such a transaction was not included, so sending it again is safe.
func retryRaced(submit func() error) error {
	for attempt := 0; ; attempt++ {
		err := submit()
		raced := errors.Is(err, tx.ErrNonceReplayed) || errors.Is(err, tx.ErrNonceGap)
		if !raced || attempt == 4 {
			return err
		}
	}
}

// awaitInstantiated waits until the cluster reported a contract's instantiation, and refuses a
// failed one.
func (n *Network) awaitInstantiated(ctx context.Context, id []byte) error {
	var ct *contracts.Contract
	err := n.await(ctx, fmt.Sprintf("contract %x to be instantiated", id), n.workerLog(), func(ctx context.Context) (bool, error) {
		var err error
		ct, err = n.chain.Contract(ctx, id)
		return err == nil && ct.GetStatus() != contracts.Contract_STATUS_PENDING, err
	})
	if err != nil {
		return err
	}
	if ct.GetStatus() != contracts.Contract_STATUS_ACTIVE {
		return fmt.Errorf("%w: contract %x is %s (outcome %q)", client.ErrInstantiationFailed, id, ct.GetStatus(), ct.GetError())
	}
	return nil
}

// workerLog is the log to read when a contract does not start: the first worker's.
func (n *Network) workerLog() string {
	for _, rt := range n.Runtimes {
		if !rt.Gatekeeper {
			return rt.Log
		}
	}
	return n.Runtimes[0].Log
}

// tokenInit is the token's init message: TokenGrant to each of TokenHolders, addresses in the
// SDK's form ("0x" and 64 hex digits).
func tokenInit() ([]byte, error) {
	type grant struct {
		To     string `json:"to"`
		Amount uint64 `json:"amount"`
	}
	msg := struct {
		Name   string  `json:"name"`
		Symbol string  `json:"symbol"`
		Mint   []grant `json:"mint"`
	}{Name: "Phala Token", Symbol: "PHT"}
	for _, h := range TokenHolders() {
		k, err := keys.FromURI(keys.Sr25519, "//"+h)
		if err != nil {
			return nil, err
		}
		id := k.Public().AccountID()
		msg.Mint = append(msg.Mint, grant{To: "0x" + hex.EncodeToString(id[:]), Amount: TokenGrant})
	}
	return json.Marshal(msg)
}
