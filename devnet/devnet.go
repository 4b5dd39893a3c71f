// Package devnet runs the whole network on one machine for development: a validator with
// funded dev accounts, a worker (pRuntime with the simulated TEE, as a child process) and its
// relayer (pherry), the worker registering by itself. `phala dev` is a thin command over it.
//
// It may import node, pherry, pruntime (constants), client, tee/sim. It is not used by the
// chain, the runtime or any production path.
package devnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/modules/governance"
	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/client"
	"github.com/phala-go/phala/crypto/keys"
	"github.com/phala-go/phala/node"
	"github.com/phala-go/phala/pherry"
	"github.com/phala-go/phala/pruntime"
	"github.com/phala-go/phala/pruntime/api"
	"github.com/phala-go/phala/pruntime/api/apiconnect"
	"github.com/phala-go/phala/tee"
	"github.com/phala-go/phala/tee/sim"
)

// Options configure a development network.
type Options struct {
	Home    string
	ChainID string
	// Config is the validator's node config (used when the home is new).
	Config node.Config
	// PRuntime is the pruntime binary; RuntimeAddr the address its API listens on.
	PRuntime    string
	RuntimeAddr string
	Logger      *slog.Logger
}

// Network is a running development network.
type Network struct {
	Node     *node.Node
	RPC      string
	Runtime  string
	Worker   []byte
	Relayer  keys.AccountID
	runtime  *exec.Cmd
	exited   chan error
	cancel   context.CancelFunc
	relayed  chan error
	logFile  *os.File
	Measured string
}

// RelayerAccount is the dev account that relays for the dev worker (and operates it).
const RelayerAccount = "Eve"

// Start builds (or resumes) the home and starts validator, worker and relayer. It returns once
// the worker is registered.
func Start(ctx context.Context, o Options) (n *Network, err error) {
	meas, err := sim.MeasureFile(o.PRuntime)
	if err != nil {
		return nil, fmt.Errorf("pruntime binary %s: %w (build it: make build)", o.PRuntime, err)
	}
	measurement, err := tee.FormatMeasurement(tee.KindSim, meas)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(o.Home, node.ConfigFile)); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(o.Home, 0o700); err != nil {
			return nil, err
		}
		g, err := node.DevGenesisFor(o.ChainID, time.Now(), o.Home)
		if err != nil {
			return nil, err
		}
		g.State.Registry.Runtimes = append(g.State.Registry.Runtimes, registry.GenesisRuntime{Measurement: measurement, Version: pruntime.Version})
		if _, err := node.Init(o.Home, o.Config, g); err != nil {
			return nil, err
		}
	}
	cfg, err := node.LoadConfig(o.Home)
	if err != nil {
		return nil, err
	}
	cfg.RPC.ListenAddress = o.Config.RPC.ListenAddress
	cfg.P2P.ListenAddress = o.Config.P2P.ListenAddress
	cfg.Metrics.ListenAddress = o.Config.Metrics.ListenAddress
	nd, err := node.New(o.Home, cfg, o.Logger, node.Options{})
	if err != nil {
		return nil, err
	}
	n = &Network{Node: nd, RPC: nd.RPCURL(), Runtime: "http://" + o.RuntimeAddr, Measured: measurement}
	defer func() {
		if err != nil {
			err = errors.Join(err, n.Stop())
		}
	}()
	if err := nd.Start(); err != nil {
		return n, err
	}
	if err := nd.WaitHeight(ctx, 2); err != nil {
		return n, err
	}
	c, err := client.New(ctx, n.RPC)
	if err != nil {
		return n, err
	}
	if err := allowRuntime(ctx, c, meas); err != nil {
		return n, err
	}
	if err := n.startRuntime(o); err != nil {
		return n, err
	}
	relayer, err := keys.FromURI(keys.Sr25519, "//"+RelayerAccount)
	if err != nil {
		return n, err
	}
	n.Relayer = relayer.Public().AccountID()
	r, err := pherry.New(pherry.Config{NodeURL: n.RPC, PRuntimeURL: n.Runtime, Key: relayer, Logger: o.Logger.With("module", "pherry")})
	if err != nil {
		return n, err
	}
	rctx, cancel := context.WithCancel(context.Background())
	n.cancel, n.relayed = cancel, make(chan error, 1)
	go func() { n.relayed <- r.Run(rctx) }()
	return n, n.waitRegistered(ctx)
}

// allowRuntime makes sure the pruntime binary's measurement is allowed: a resumed dev chain may
// meet a rebuilt binary, which Alice (the dev council) then allows.
func allowRuntime(ctx context.Context, c *client.Client, meas []byte) error {
	var rts registry.Runtimes
	if _, err := c.QueryProto(ctx, "/registry/"+registry.QueryRuntimes, nil, &rts); err != nil {
		return err
	}
	for _, rt := range rts.Runtimes {
		if rt.TeeKind == string(tee.KindSim) && string(rt.Measurement) == string(meas) {
			return nil
		}
	}
	alice, err := keys.FromURI(keys.Sr25519, "//Alice")
	if err != nil {
		return err
	}
	msg, err := module.Pack(&registry.MsgAllowRuntime{TeeKind: string(tee.KindSim), Measurement: meas, Version: pruntime.Version})
	if err != nil {
		return err
	}
	res, err := c.Submit(ctx, alice, client.TxOptions{}, &governance.MsgPropose{Messages: []*anypb.Any{msg}, Memo: "phala dev: allow the current pruntime build"})
	if err != nil {
		return err
	}
	id, _ := res.Attr("proposal_submitted", "proposal_id")
	var pid uint64
	fmt.Sscan(id, &pid)
	res, err = c.Submit(ctx, alice, client.TxOptions{}, &governance.MsgExecute{ProposalId: pid})
	if err != nil {
		return err
	}
	return res.Err
}

func (n *Network) startRuntime(o Options) error {
	f, err := os.OpenFile(filepath.Join(o.Home, "pruntime.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(o.PRuntime, "run", "--data-dir", filepath.Join(o.Home, "pruntime"), "--listen", o.RuntimeAddr,
		"--sim-secret", filepath.Join(o.Home, node.SimSecretFile), "--checkpoint-interval", "50")
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start pruntime: %w", err)
	}
	n.runtime, n.logFile, n.exited = cmd, f, make(chan error, 1)
	go func() { n.exited <- cmd.Wait() }()
	return nil
}

// waitRegistered returns once the worker's own verified state shows it registered.
func (n *Network) waitRegistered(ctx context.Context) error {
	rt := apiconnect.NewRuntimeServiceClient(http.DefaultClient, n.Runtime)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		info, err := rt.Info(ctx, connect.NewRequest(&api.InfoRequest{}))
		if err == nil && info.Msg.GetRegistered() {
			n.Worker = info.Msg.GetIdentityKey()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the worker did not register: %w (see pruntime.log in the home)", ctx.Err())
		case err := <-n.exited:
			n.runtime = nil
			return fmt.Errorf("pruntime exited: %v (see pruntime.log in the home)", err)
		case <-tick.C:
		}
	}
}

// Stop stops the relayer, the worker (which checkpoints) and the validator.
func (n *Network) Stop() error {
	var errs []error
	if n.cancel != nil {
		n.cancel()
		errs = append(errs, <-n.relayed)
	}
	if n.runtime != nil && n.runtime.Process != nil {
		_ = n.runtime.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-n.exited:
			errs = append(errs, err)
		case <-time.After(30 * time.Second):
			_ = n.runtime.Process.Kill()
			errs = append(errs, errors.New("pruntime did not stop within 30s; killed"))
		}
		n.logFile.Close()
	}
	if n.Node != nil {
		errs = append(errs, n.Node.Stop())
	}
	return errors.Join(errs...)
}
