// Command pruntime is the confidential worker runtime: it runs inside a TEE (or the simulated
// one), follows the chain as a verifying replica, and serves the runtime API to its host's
// relayer (phala pherry). It is built without cgo so its measurement is meaningful.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/phala-go/phala/logging"
	"github.com/phala-go/phala/pruntime"
	"github.com/phala-go/phala/pruntime/api/apiconnect"
	"github.com/phala-go/phala/tee"
	"github.com/phala-go/phala/tee/collateral"
	"github.com/phala-go/phala/tee/sim"
	"github.com/phala-go/phala/tee/snp"
	"github.com/phala-go/phala/tee/tdx"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// teeFlags choose the TEE backend.
type teeFlags struct {
	kind      string
	simSecret string
}

func (f *teeFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.kind, "tee", "sim", "TEE backend: sim, tdx or sev-snp")
	cmd.Flags().StringVar(&f.simSecret, "sim-secret", "sim-tee-secret", "simulated TEE: the host secret file (created if absent)")
}

// guest opens the TEE backend. The sim measurement is the hash of this very binary.
func (f *teeFlags) guest() (tee.Guest, error) {
	k, err := tee.ParseKind(f.kind)
	if err != nil {
		return nil, err
	}
	switch k {
	case tee.KindSim:
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		m, err := sim.MeasureFile(exe)
		if err != nil {
			return nil, err
		}
		return sim.Open(sim.Config{SecretPath: f.simSecret, Measurement: m})
	case tee.KindTDX:
		return tdx.Open()
	default:
		return snp.Open(snp.Config{})
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{Use: "pruntime", Short: "The Phala-Go confidential worker runtime", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(newRunCmd(), newMeasureCmd())
	return root
}

func newMeasureCmd() *cobra.Command {
	var f teeFlags
	cmd := &cobra.Command{
		Use:   "measure",
		Short: "Print this runtime's measurement as <kind>:<hex>, for `phala runtime allow`",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			g, err := f.guest()
			if err != nil {
				return err
			}
			m, err := g.Measurement()
			if err != nil {
				return err
			}
			s, err := tee.FormatMeasurement(g.Kind(), m)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), s)
			return nil
		},
	}
	f.add(cmd)
	return cmd
}

func newRunCmd() *cobra.Command {
	var f teeFlags
	var dataDir, listen, queryListen, metrics, logLevel, logFormat, handoverFrom string
	var interval int64
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Serve the runtime API until SIGINT/SIGTERM",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := logging.New(os.Stderr, logLevel, logFormat)
			if err != nil {
				return err
			}
			g, err := f.guest()
			if err != nil {
				return fmt.Errorf("TEE: %w", err)
			}
			cfg := pruntime.Config{DataDir: dataDir, Guest: g, CheckpointInterval: interval, Logger: logger, Metrics: prometheus.DefaultRegisterer}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if handoverFrom != "" {
				if err := receiveHandover(ctx, logger, cfg, handoverFrom); err != nil {
					return err
				}
			}
			rt, err := pruntime.Open(cfg)
			if err != nil {
				return err
			}
			err = serve(ctx, logger, rt, listen, queryListen, metrics)
			return errors.Join(err, rt.Close())
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&dataDir, "data-dir", "pruntime-data", "where the runtime keeps its sealed keys, state and checkpoints")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8000", "runtime API address (keep it local: only the host's relayer should reach it)")
	cmd.Flags().StringVar(&queryListen, "query-listen", "",
		"public address serving signed, encrypted contract queries to users, e.g. 0.0.0.0:8100 (empty: off); publish its URL with phala pherry --endpoint")
	cmd.Flags().StringVar(&metrics, "metrics", "", "Prometheus metrics address, e.g. 127.0.0.1:8001 (empty: off)")
	cmd.Flags().Int64Var(&interval, "checkpoint-interval", 100, "blocks between sealed checkpoints")
	cmd.Flags().StringVar(&handoverFrom, "handover-from", "",
		"upgrade: the API URL of this worker's running older pRuntime (e.g. http://127.0.0.1:8000); when --data-dir holds no keys yet, "+
			"take over its keys (it checks this build's evidence and that the council allowed this build after its own) before serving; "+
			"ignored once --data-dir has keys")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().StringVar(&logFormat, "log-format", "text", "text or json")
	return cmd
}

// receiveHandover takes over the worker keys of the runtime at url into an empty data directory;
// a data directory that already has keys keeps them.
func receiveHandover(ctx context.Context, logger *slog.Logger, cfg pruntime.Config, url string) error {
	old := apiconnect.NewRuntimeServiceClient(http.DefaultClient, url)
	id, err := pruntime.ReceiveHandover(ctx, cfg, old, fetchCollateral)
	switch {
	case errors.Is(err, pruntime.ErrKeysExist):
		logger.Info("data directory already holds worker keys: no handover", "data_dir", cfg.DataDir)
		return nil
	case err != nil:
		return fmt.Errorf("key handover from %s: %w", url, err)
	}
	logger.Info("worker keys handed over: stop the old runtime once this one serves; pherry re-registers the worker",
		"from", url, "identity", fmt.Sprintf("%x", id))
	return nil
}

// fetchCollateral fetches TDX and SEV-SNP collateral from Intel PCS / AMD KDS as pherry does for
// registrations; sim evidence needs none.
func fetchCollateral(ctx context.Context, ev tee.Evidence) ([]byte, error) {
	if ev.Kind == tee.KindSim {
		return nil, nil
	}
	col, err := (&collateral.Fetcher{}).Fetch(ctx, ev)
	if err != nil {
		return nil, err
	}
	return col.MarshalBinary()
}

func serve(ctx context.Context, logger *slog.Logger, rt *pruntime.Runtime, listen, queryListen, metrics string) error {
	mux := http.NewServeMux()
	mux.Handle(pruntime.Handler(rt))
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 3)
	go func() { errc <- srv.Serve(ln) }()
	var msrv, qsrv *http.Server
	if metrics != "" {
		mln, err := net.Listen("tcp", metrics)
		if err != nil {
			return errors.Join(err, srv.Close())
		}
		msrv = &http.Server{Handler: promhttp.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- msrv.Serve(mln) }()
	}
	queryURL := ""
	if queryListen != "" {
		qln, err := net.Listen("tcp", queryListen)
		if err != nil {
			err = errors.Join(err, srv.Close())
			if msrv != nil {
				err = errors.Join(err, msrv.Close())
			}
			return err
		}
		// The public listener serves the query API only, with tight limits: anyone may call it.
		qmux := http.NewServeMux()
		qmux.Handle(pruntime.QueryHandler(rt))
		qsrv = &http.Server{Handler: qmux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
			WriteTimeout: pruntime.QueryTimeout + 20*time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10}
		go func() { errc <- qsrv.Serve(qln) }()
		queryURL = "http://" + qln.Addr().String()
	}
	info := rt.Info()
	logger.Info("pruntime serving", "api", "http://"+ln.Addr().String(), "queries", queryURL, "tee", info.TeeKind,
		"identity", fmt.Sprintf("%x", info.IdentityKey), "verified_height", info.VerifiedHeight)
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdown)
	for _, s := range []*http.Server{msrv, qsrv} {
		if s != nil {
			err = errors.Join(err, s.Shutdown(shutdown))
		}
	}
	logger.Info("pruntime stopped")
	return err
}
