package e2e

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// readmeBlock returns the first ```sh block after the heading in README.md.
func readmeBlock(t *testing.T, heading string) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	_, rest, ok := strings.Cut(string(b), heading)
	require.True(t, ok, "README has no %q", heading)
	_, rest, ok = strings.Cut(rest, "```sh\n")
	require.True(t, ok)
	block, _, ok := strings.Cut(rest, "```")
	require.True(t, ok)
	return block
}

// TestReadmeWalkthrough runs `phala dev` as users do (`make dev`, from the repository root) and
// pastes the README walkthrough into bash.
func TestReadmeWalkthrough(t *testing.T) {
	ports := freeBase(t, 2)
	rpc := fmt.Sprintf("127.0.0.1:%d", ports+1)
	dev := exec.Command(phalaBin, "dev", "--home", t.TempDir(),
		"--p2p-laddr", fmt.Sprintf("tcp://127.0.0.1:%d", ports), "--rpc-laddr", "tcp://"+rpc,
		"--pruntime-laddr", fmt.Sprintf("127.0.0.1:%d", ports+10))
	dev.Dir = "../.." // where it finds the token example to deploy
	stdout, err := dev.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	dev.Stderr = &stderr
	require.NoError(t, dev.Start())
	t.Cleanup(func() { _ = dev.Process.Kill() })

	// Wait for the banner: the network is up when it is printed.
	ready := make(chan string, 1)
	go func() {
		var banner strings.Builder
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			banner.WriteString(sc.Text() + "\n")
			if strings.HasPrefix(sc.Text(), "Press Ctrl-C") {
				ready <- banner.String()
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	// Building the token example with a cold Go build cache compiles the standard library for
	// wasip1: a minute or more on a busy machine.
	select {
	case banner := <-ready:
		require.Contains(t, banner, "45R2pfjQUW2s9PQRHU48HQKLKHVMaDja7N3wpBtmF28UYDs2", "Alice's address")
		require.Regexp(t, `queries http://127\.0\.0\.1:\d+`, banner, "the worker's query API")
		require.Regexp(t, `Token example .* in cluster 1, deployed by //Bob:\n  contract [0-9a-f]{64}\n`, banner)
	case <-time.After(4 * time.Minute):
		t.Fatalf("phala dev did not start:\n%s", stderr.String())
	}

	// The walkthrough runs where `$PWD/bin` holds the binaries under test, as a checkout's bin/
	// holds those `make dev` built (the checkout's own bin/ may be stale or absent).
	// The cross-contract walkthrough continues in the same shell and builds the examples.
	dir := t.TempDir()
	require.NoError(t, os.Symlink(filepath.Dir(phalaBin), filepath.Join(dir, "bin")))
	examples, err := filepath.Abs("../../examples")
	require.NoError(t, err)
	require.NoError(t, os.Symlink(examples, filepath.Join(dir, "examples")))
	script := "set -euo pipefail\n" + readmeBlock(t, "## Walkthrough") + readmeBlock(t, "## Cross-contract walkthrough")
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"PATH="+filepath.Dir(phalaBin)+":"+os.Getenv("PATH"),
		"PHALA_NODE=http://"+rpc,
	)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "the README walkthrough failed:\n%s", out)
	for _, want := range []string{
		"committed in block",
		"1.5 PHA\nverified: Merkle proof at height",
		`"nonce": 0`,
		"master key generation 1",
		"holds generation 1",
		"chain:        phala-dev",
		"fee per byte:    500000",
		"answered in block",
		"status     ACTIVE",
		"hex      0x90b5ab205c6974c9ea841be688864633dc9ca8a357843eeacf2314649965fe22", // //Charlie
		"command 0 to contract ",
		"outcome ok: ",
		"{\"balance\":999750}\nheight: ",
		"{\"balance\":1000250}\nheight: ",
		// The auction: Bob's bid in escrow, then Bob wins at the second price.
		"{\"balance\":999450}\nheight: ",
		"{\"sold\":true,\"winner\":\"0x8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48\",\"price\":200}\nheight: ",
		"{\"balance\":200}\nheight: ",
		"{\"balance\":999550}\nheight: ",
		// The order book across clusters: funded by messages, settled by messages.
		"{\"base\":100,\"quote\":0}\nheight: ",
		"{\"balance\":1000300}\nheight: ",
		"{\"balance\":150}\nheight: ",
	} {
		require.Contains(t, string(out), want)
	}
	require.Regexp(t, `command 0 of [0-9a-f]{64}, block \d+ \([^)]+\): ok\ngas used: [1-9]`, string(out), "Bob's receipt of his transfer")
	require.Regexp(t, `message \d+ from [0-9a-f]{64} to [0-9a-f]{64} delivered in block \d+, [1-9]\d* blocks after the report: outcome ok`, string(out),
		"--follow shows the cross-cluster delivery")
	require.Equal(t, 3, strings.Count(string(out), "deposited 10 PHA to contract "), "the tokens and the book funded")

	require.NoError(t, dev.Process.Signal(syscall.SIGINT))
	require.NoError(t, dev.Wait(), "phala dev must exit cleanly on Ctrl-C:\n%s", stderr.String())
}
