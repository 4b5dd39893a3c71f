package devnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"connectrpc.com/connect"

	"github.com/phala-go/phala/crypto/keys"
	"github.com/phala-go/phala/node"
	"github.com/phala-go/phala/pherry"
	"github.com/phala-go/phala/pruntime/api"
	"github.com/phala-go/phala/pruntime/api/apiconnect"
)

// Layout of the runtimes in a home (see the package comment).
const (
	runtimesDir      = "pruntime"
	recordFile       = "devnet.json"
	gatekeeperPrefix = "gk"
	workerPrefix     = "worker"
	// legacyLog is the log of the single runtime of homes made before gatekeepers existed.
	legacyLog = "pruntime.log"
)

// OperatorAccount is the dev account that operates every dev runtime.
const OperatorAccount = "Eve"

// relayerAccounts relay for the runtimes in turn: distinct accounts keep relayers from racing
// for nonces, and Alice, the council, is left to the bootstrap and to the user. Beyond five
// runtimes accounts are shared, which pherry survives: it re-reads the mempool nonce and
// retries a raced transaction.
var relayerAccounts = []string{"Eve", "Ferdie", "Dave", "Charlie", "Bob"}

// stopTimeout is how long a runtime may take to checkpoint and exit after SIGTERM.
const stopTimeout = 30 * time.Second

// Runtime is one pRuntime of the network and its relayer.
type Runtime struct {
	// Name is gk<i> for gatekeepers, worker<i> for cluster workers.
	Name       string
	Gatekeeper bool
	// URL is the runtime's API; Log its output file; DataDir its sealed data.
	URL     string
	Log     string
	DataDir string
	// QueryURL is a worker's public query API (pruntime run --query-listen), which its relayer
	// publishes on chain; "" for gatekeepers, which serve no contract.
	QueryURL string
	// Relayer is the dev account (name) its pherry signs with.
	Relayer string
	// Identity is its identity key, known once it registered.
	Identity []byte

	api       apiconnect.RuntimeServiceClient
	cmd       *exec.Cmd
	logFile   *os.File
	done      chan struct{} // closed once the process exited; exitErr is set before
	exitErr   error
	stopRelay context.CancelFunc
	relayed   chan error
}

// plan lists the runtimes of a home: every one its layout has, plus new ones up to the numbers
// asked, gatekeepers first.
func plan(home string, gatekeepers, workers int) ([]*Runtime, error) {
	if _, err := os.Stat(filepath.Join(home, legacyLog)); err == nil {
		return nil, fmt.Errorf("%w: %s holds the single runtime of an older `phala dev` (in pruntime/, logging to pruntime.log): "+
			"start with a fresh --home, or keep that runtime as gatekeeper gk1: "+
			"cd %s && mv pruntime gk1 && mkdir pruntime && mv gk1 pruntime/ && mv pruntime.log pruntime-gk1.log", ErrOldHome, home, home)
	}
	dir := filepath.Join(home, runtimesDir)
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	highest := map[string]int{}
	for _, e := range entries {
		for _, p := range []string{gatekeeperPrefix, workerPrefix} {
			s, ok := strings.CutPrefix(e.Name(), p)
			if i, err := strconv.Atoi(s); ok && e.IsDir() && err == nil && i > 0 && strconv.Itoa(i) == s {
				highest[p] = max(highest[p], i)
			}
		}
	}
	var rts []*Runtime
	for _, k := range []struct {
		prefix string
		n      int
	}{{gatekeeperPrefix, max(gatekeepers, highest[gatekeeperPrefix])}, {workerPrefix, max(workers, highest[workerPrefix])}} {
		for i := 1; i <= k.n; i++ {
			name := k.prefix + strconv.Itoa(i)
			rts = append(rts, &Runtime{
				Name:       name,
				Gatekeeper: k.prefix == gatekeeperPrefix,
				Log:        filepath.Join(home, "pruntime-"+name+".log"),
				DataDir:    filepath.Join(dir, name),
				Relayer:    relayerAccounts[len(rts)%len(relayerAccounts)],
			})
		}
	}
	return rts, nil
}

// listenAddrs picks n listen addresses: first, then the ports after it where free, else ports
// the kernel picks (all of them when first's port is 0). The probes stay open until every
// address is chosen, so no two listeners get the same port.
func listenAddrs(first string, n int) ([]string, error) {
	host, p, err := net.SplitHostPort(first)
	if err != nil {
		return nil, fmt.Errorf("runtime API address %q: %w", first, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return nil, fmt.Errorf("runtime API address %q: bad port", first)
	}
	var probes []net.Listener
	defer func() {
		for _, l := range probes {
			l.Close()
		}
	}()
	addrs := make([]string, n)
	for i := range addrs {
		var l net.Listener
		err := errors.New("no port given")
		if port != 0 {
			l, err = net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port+i)))
		}
		if err != nil && i == 0 && port != 0 {
			return nil, fmt.Errorf("runtime API address %s: %w (pass another address)", first, err)
		}
		if err != nil {
			if l, err = net.Listen("tcp", net.JoinHostPort(host, "0")); err != nil {
				return nil, err
			}
		}
		probes = append(probes, l)
		addrs[i] = l.Addr().String()
	}
	return addrs, nil
}

// runtimeAddrs picks the runtimes' listen addresses (listenAddrs from first): each runtime's
// API, and for a worker its query API on the port after it (where free).
func runtimeAddrs(first string, rts []*Runtime) (api, query []string, err error) {
	n := len(rts)
	for _, rt := range rts {
		if !rt.Gatekeeper {
			n++
		}
	}
	addrs, err := listenAddrs(first, n)
	if err != nil {
		return nil, nil, err
	}
	api, query = make([]string, len(rts)), make([]string, len(rts))
	next := 0
	for i, rt := range rts {
		api[i], next = addrs[next], next+1
		if !rt.Gatekeeper {
			query[i], next = addrs[next], next+1
		}
	}
	return api, query, nil
}

// start runs the runtime's process, serving queries on queryAddr unless it is ""; exited hears
// of its end.
func (rt *Runtime) start(bin, addr, queryAddr, simSecret string, exited chan<- *Runtime) error {
	if err := os.MkdirAll(rt.DataDir, 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(rt.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	args := []string{"run", "--data-dir", rt.DataDir, "--listen", addr, "--sim-secret", simSecret, "--checkpoint-interval", "50"}
	rt.QueryURL = ""
	if queryAddr != "" {
		args = append(args, "--query-listen", queryAddr)
		rt.QueryURL = "http://" + queryAddr
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = runtimeProcAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start pruntime %s: %w", rt.Name, err)
	}
	rt.URL = "http://" + addr
	rt.api = apiconnect.NewRuntimeServiceClient(http.DefaultClient, rt.URL)
	rt.cmd, rt.logFile, rt.done = cmd, f, make(chan struct{})
	go func() {
		rt.exitErr = cmd.Wait()
		close(rt.done)
		exited <- rt
	}()
	return nil
}

// relay starts the runtime's relayer in process. With fastSync, a runtime new to a resumed home
// starts from the node's newest state snapshot instead of replaying the whole chain. A worker's
// relayer publishes its query URL, again whenever it differs from the chain's record (a resumed
// home picks its ports anew).
func (rt *Runtime) relay(rpc string, operator keys.AccountID, fastSync bool, logger *slog.Logger) error {
	key, err := keys.FromURI(keys.Sr25519, "//"+rt.Relayer)
	if err != nil {
		return err
	}
	r, err := pherry.New(pherry.Config{NodeURL: rpc, PRuntimeURL: rt.URL, Key: key, Operator: operator, FastSync: fastSync,
		Endpoint: rt.QueryURL, Logger: logger.With("module", "pherry", "runtime", rt.Name)})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	rt.stopRelay, rt.relayed = cancel, make(chan error, 1)
	go func() { rt.relayed <- r.Run(ctx) }()
	return nil
}

func (rt *Runtime) info(ctx context.Context) (*api.InfoResponse, error) {
	resp, err := rt.api.Info(ctx, connect.NewRequest(&api.InfoRequest{}))
	if err != nil {
		return nil, err
	}
	return resp.Msg, nil
}

func (rt *Runtime) stopRelayer() error {
	if rt.stopRelay == nil {
		return nil
	}
	rt.stopRelay()
	rt.stopRelay = nil
	return <-rt.relayed
}

// terminate asks the process to checkpoint and exit.
func (rt *Runtime) terminate() {
	if rt.cmd != nil {
		_ = rt.cmd.Process.Signal(syscall.SIGTERM)
	}
}

// wait waits for the process to exit, killing it once ctx ends.
func (rt *Runtime) wait(ctx context.Context) error {
	if rt.cmd == nil {
		return nil
	}
	defer func() {
		rt.logFile.Close()
		rt.cmd = nil
	}()
	select {
	case <-rt.done:
		// A runtime that had not yet set up its handler dies of the signal: stopped all the same.
		if ee, ok := errors.AsType[*exec.ExitError](rt.exitErr); ok {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signal() == syscall.SIGTERM {
				return nil
			}
		}
		if rt.exitErr != nil {
			return fmt.Errorf("pruntime %s: %w (see %s)", rt.Name, rt.exitErr, rt.Log)
		}
		return nil
	case <-ctx.Done():
		_ = rt.cmd.Process.Kill()
		<-rt.done
		return fmt.Errorf("pruntime %s did not stop within %s of SIGTERM; killed (see %s)", rt.Name, stopTimeout, rt.Log)
	}
}

// simSecret is the simulated TEE's host secret that every dev runtime shares.
func simSecret(home string) string { return filepath.Join(home, node.SimSecretFile) }
