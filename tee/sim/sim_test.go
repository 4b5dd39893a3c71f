package sim_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phala-go/phala/tee"
	"github.com/phala-go/phala/tee/sim"
	"github.com/phala-go/phala/tee/teetest"
)

func measurement(s string) []byte {
	m := sha256.Sum256([]byte(s))
	return m[:]
}

func open(t *testing.T, secret string, m []byte, debug bool) *sim.Guest {
	t.Helper()
	g, err := sim.Open(sim.Config{SecretPath: secret, Measurement: m, Debug: debug})
	require.NoError(t, err)
	return g
}

func TestConformance(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "sim-tee-secret")
	g := open(t, secret, measurement("pruntime v1"), false)
	teetest.RunConformance(t, teetest.Backend{
		Guest:      g,
		DebugGuest: open(t, secret, measurement("pruntime v1"), true),
		Policy:     tee.Policy{AllowSim: true, SimPlatformKeys: []ed25519.PublicKey{g.PlatformKey()}},
		Now:        time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Sealing:    true,
	})
}

func TestVerifyRefusals(t *testing.T) {
	dir := t.TempDir()
	g := open(t, filepath.Join(dir, "a"), measurement("pruntime"), false)
	other := open(t, filepath.Join(dir, "b"), measurement("pruntime"), false)
	ev, err := g.Evidence(tee.ReportData{1})
	require.NoError(t, err)
	trusted := tee.Policy{AllowSim: true, SimPlatformKeys: []ed25519.PublicKey{g.PlatformKey()}}
	now := time.Unix(0, 0)

	tests := []struct {
		name string
		pol  tee.Policy
		col  tee.Collateral
		want error
	}{
		{"production chain", tee.Policy{SimPlatformKeys: trusted.SimPlatformKeys}, tee.Collateral{}, tee.ErrSimNotAllowed},
		{"untrusted platform", tee.Policy{AllowSim: true, SimPlatformKeys: []ed25519.PublicKey{other.PlatformKey()}}, tee.Collateral{}, tee.ErrUnknownPlatformKey},
		{"no platform keys", tee.Policy{AllowSim: true}, tee.Collateral{}, tee.ErrUnknownPlatformKey},
		{"tdx collateral", trusted, tee.Collateral{Kind: tee.KindTDX}, tee.ErrCollateralMismatch},
		{"short key in policy", tee.Policy{AllowSim: true, SimPlatformKeys: []ed25519.PublicKey{{1, 2}}}, tee.Collateral{}, tee.ErrInvalidPolicy},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tee.Verify(ev, tc.col, tc.pol, now)
			teetest.RequireRefusal(t, err, tc.want)
		})
	}

	// On a production chain every sim evidence gets the same answer, even malformed.
	_, err = tee.Verify(tee.Evidence{Kind: tee.KindSim, Quote: []byte{1, 2, 3}}, tee.Collateral{}, tee.Policy{}, now)
	teetest.RequireRefusal(t, err, tee.ErrSimNotAllowed)

	// A platform key that is trusted cannot vouch for a statement it did not sign: swap in the
	// other platform's key and keep the signature.
	forged := tee.Evidence{Kind: tee.KindSim, Quote: append([]byte(nil), ev.Quote...)}
	copy(forged.Quote[2:34], other.PlatformKey())
	_, err = tee.Verify(forged, tee.Collateral{}, tee.Policy{AllowSim: true, SimPlatformKeys: []ed25519.PublicKey{other.PlatformKey()}}, now)
	teetest.RequireRefusal(t, err, tee.ErrSignature)

	// Unknown flag bits are malformed, not silently ignored.
	flagged := tee.Evidence{Kind: tee.KindSim, Quote: append([]byte(nil), ev.Quote...)}
	flagged.Quote[1] |= 0x80
	_, err = tee.Verify(flagged, tee.Collateral{}, trusted, now)
	teetest.RequireRefusal(t, err, tee.ErrMalformed)
}

func TestSealingKeyBinding(t *testing.T) {
	dir := t.TempDir()
	a1 := open(t, filepath.Join(dir, "a"), measurement("v1"), false)
	a1again := open(t, filepath.Join(dir, "a"), measurement("v1"), false)
	a2 := open(t, filepath.Join(dir, "a"), measurement("v2"), false)
	b1 := open(t, filepath.Join(dir, "b"), measurement("v1"), false)
	key := func(g *sim.Guest) []byte {
		k, err := g.SealingKey()
		require.NoError(t, err)
		require.Len(t, k, 32)
		return k
	}
	require.Equal(t, key(a1), key(a1again), "same host, same binary")
	require.NotEqual(t, key(a1), key(a2), "another binary")
	require.NotEqual(t, key(a1), key(b1), "another host")
	require.NotEqual(t, key(a1), []byte(a1.PlatformKey()), "sealing key is not the platform key")
	require.Equal(t, a1.PlatformKey(), a2.PlatformKey(), "the platform key does not depend on the binary")
}

func TestSecretFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secret")

	pk, err := sim.PlatformKey(path)
	require.NoError(t, err)
	info, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	require.EqualValues(t, sim.SecretSize, info.Size())
	again, err := sim.PlatformKey(path)
	require.NoError(t, err)
	require.Equal(t, pk, again, "the secret is created once")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file is left behind")

	content, err := os.ReadFile(path)
	require.NoError(t, err)

	require.NoError(t, os.Chmod(path, 0o644))
	_, err = sim.PlatformKey(path)
	require.ErrorContains(t, err, "chmod 600")
	require.NoError(t, os.Chmod(path, 0o600))

	require.NoError(t, os.WriteFile(path, content[:10], 0o600))
	_, err = sim.PlatformKey(path)
	require.ErrorContains(t, err, "not 32 bytes")
	require.NoError(t, os.WriteFile(path, append(content, 0), 0o600))
	_, err = sim.PlatformKey(path)
	require.ErrorContains(t, err, "not 32 bytes")

	_, err = sim.PlatformKey("")
	require.Error(t, err)
	_, err = sim.PlatformKey(filepath.Join(dir, "missing-dir", "secret"))
	require.Error(t, err)

	_, err = sim.Open(sim.Config{SecretPath: path, Measurement: []byte{1}})
	require.ErrorIs(t, err, tee.ErrMalformed)
}

func TestMeasureFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pruntime")
	require.NoError(t, os.WriteFile(path, []byte("binary"), 0o755))
	m, err := sim.MeasureFile(path)
	require.NoError(t, err)
	require.True(t, bytes.Equal(m, measurement("binary")))
	_, err = sim.MeasureFile(path + ".missing")
	require.Error(t, err)
}
