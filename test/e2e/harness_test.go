package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
)

// phalaBin and pruntimeBin are the binaries under test, built by TestMain.
var phalaBin, pruntimeBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "phala-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	phalaBin, pruntimeBin = filepath.Join(dir, "phala"), filepath.Join(dir, "pruntime")
	for _, b := range []struct{ out, pkg, cgo string }{
		{phalaBin, "github.com/phala-go/phala/cmd/phala", "1"},
		{pruntimeBin, "github.com/phala-go/phala/cmd/pruntime", "0"},
	} {
		build := exec.Command("go", "build", "-o", b.out, b.pkg)
		build.Env = append(os.Environ(), "CGO_ENABLED="+b.cgo)
		build.Stdout, build.Stderr = os.Stdout, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building", b.pkg+":", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// run executes the phala binary and returns its output, failing the test on error.
func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(phalaBin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("phala %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// runBin executes another binary under test.
func runBin(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// freeBase finds a base port such that base+10i and base+10i+1 are free for n nodes, matching
// the layout `phala testnet --starting-port` writes.
func freeBase(t *testing.T, n int) int {
	t.Helper()
	for range 100 {
		base := 20000 + rand.IntN(4000)*10
		ok := true
		var ls []net.Listener
		for i := 0; i < n && ok; i++ {
			for _, p := range []int{base + 10*i, base + 10*i + 1} {
				l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
				if err != nil {
					ok = false
					break
				}
				ls = append(ls, l)
			}
		}
		for _, l := range ls {
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free port range found")
	return 0
}

// proc is a node process.
type proc struct {
	t    *testing.T
	name string
	home string
	rpc  string
	cmd  *exec.Cmd
	done chan error
}

func startNode(t *testing.T, name, home, rpc string) *proc {
	t.Helper()
	return startProc(t, name, home, rpc, phalaBin, "node", "--home", home, "--log-format", "json")
}

// startProc runs a binary with its output in <dir>/<name>.log; the process is killed at cleanup.
func startProc(t *testing.T, name, dir, rpc, bin string, args ...string) *proc {
	t.Helper()
	home := dir
	logf, err := os.OpenFile(filepath.Join(dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, name: name, home: home, rpc: rpc, cmd: cmd, done: make(chan error, 1)}
	go func() {
		p.done <- cmd.Wait()
		logf.Close()
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("--- last output of %s ---\n%s", p.name, p.logTail())
		}
	})
	return p
}

func (p *proc) running() bool { return p.cmd.ProcessState == nil && p.cmd.Process != nil }

// stop sends SIGTERM and requires a clean exit within 30 s.
func (p *proc) stop() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			p.t.Fatalf("%s did not exit cleanly on SIGTERM: %v\n%s", p.name, err, p.logTail())
		}
	case <-time.After(30 * time.Second):
		p.t.Fatalf("%s did not stop within 30s of SIGTERM", p.name)
	}
}

// kill sends SIGKILL (kill -9) and waits for the process to be gone.
func (p *proc) kill() {
	if p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

func (p *proc) logTail() string {
	b, _ := os.ReadFile(filepath.Join(p.home, p.name+".log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// poll calls cond every interval until it returns true or the deadline passes.
func poll(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %s waiting for %s", within, what)
		case <-tick.C:
		}
	}
}

// height returns a node's latest height, or -1 when it does not answer.
func height(rpc string) int64 {
	c, err := rpchttp.New(rpc, "/websocket")
	if err != nil {
		return -1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := c.Status(ctx)
	if err != nil {
		return -1
	}
	return st.SyncInfo.LatestBlockHeight
}

func waitHeight(t *testing.T, p *proc, h int64) {
	t.Helper()
	poll(t, 90*time.Second, fmt.Sprintf("%s to reach height %d", p.name, h), func() bool { return height(p.rpc) >= h })
}
