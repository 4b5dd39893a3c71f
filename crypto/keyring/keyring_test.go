package keyring

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/phala-go/phala/crypto/keys"
	"github.com/stretchr/testify/require"
)

// cheapKDF keeps tests fast; TestDefaultKDFStored covers the real setting.
var cheapKDF = kdfParams{Time: 1, MemoryKiB: 64, Threads: 1}

const aliceAddr = "45R2pfjQUW2s9PQRHU48HQKLKHVMaDja7N3wpBtmF28UYDs2"

// passphrases records the confirm flags it was called with.
type passphrases struct {
	mu    sync.Mutex
	value string
	calls []bool
}

func (p *passphrases) fn(confirm bool) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, confirm)
	return []byte(p.value), nil
}

func (p *passphrases) take() []bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.calls
	p.calls = nil
	return c
}

func openKeyring(t *testing.T, dir string, b Backend, pass *passphrases) *Keyring {
	t.Helper()
	var fn func(bool) ([]byte, error)
	if pass != nil {
		fn = pass.fn
	}
	k, err := Open(dir, b, fn)
	require.NoError(t, err)
	k.kdf = cheapKDF
	return k
}

func readFile(t *testing.T, k *Keyring, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(k.path(name))
	require.NoError(t, err)
	return b
}

func TestRoundTrip(t *testing.T) {
	for _, b := range []Backend{BackendFile, BackendTest} {
		t.Run(string(b), func(t *testing.T) {
			pass := &passphrases{value: "correct horse"}
			k := openKeyring(t, t.TempDir(), b, pass)
			wantAsks := func(want ...bool) {
				t.Helper()
				if b == BackendTest {
					want = nil
				}
				require.Equal(t, want, pass.take())
			}

			rec, err := k.Import("alice", keys.Sr25519, "//Alice")
			require.NoError(t, err)
			wantAsks(true)
			require.Equal(t, "alice", rec.Name)
			require.Equal(t, aliceAddr, rec.Address)
			require.Equal(t, keys.Sr25519, rec.Public.Type)
			require.Equal(t, "0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d", rec.Public.Hex())

			rec2, mnemonic, err := k.Generate("bob-2.x_Y", keys.Ed25519, 24)
			require.NoError(t, err)
			wantAsks(true)
			require.NoError(t, keys.ValidateMnemonic(mnemonic))
			require.Len(t, strings.Fields(mnemonic), 24)

			got, err := k.Get("alice")
			require.NoError(t, err)
			require.Equal(t, rec, got)
			list, err := k.List()
			require.NoError(t, err)
			require.Equal(t, []Record{rec, rec2}, list)
			wantAsks()

			priv, err := k.PrivateKey("alice")
			require.NoError(t, err)
			wantAsks(false)
			require.Equal(t, rec.Public, priv.Public())
			sig, err := priv.Sign("phala/test", []byte("m"))
			require.NoError(t, err)
			require.NoError(t, rec.Public.Verify("phala/test", []byte("m"), sig))

			suri, err := k.Export("bob-2.x_Y")
			require.NoError(t, err)
			wantAsks(false)
			require.Equal(t, mnemonic, suri)
			want, err := keys.FromURI(keys.Ed25519, mnemonic)
			require.NoError(t, err)
			require.Equal(t, want.Public(), rec2.Public)

			// A fresh Keyring on the same directory sees the same keys.
			again := openKeyring(t, filepath.Dir(k.dir), b, pass)
			list2, err := again.List()
			require.NoError(t, err)
			require.Equal(t, list, list2)

			require.NoError(t, k.Delete("alice"))
			_, err = k.Get("alice")
			require.ErrorIs(t, err, ErrNotFound)
			list, err = k.List()
			require.NoError(t, err)
			require.Equal(t, []Record{rec2}, list)
		})
	}
}

func TestListSortedByName(t *testing.T) {
	k := openKeyring(t, t.TempDir(), BackendTest, nil)
	for _, n := range []string{"zed", "Alice", "alice", "0", "_x", "a.b", "a-b"} {
		_, err := k.Import(n, keys.Sr25519, "//"+n)
		require.NoError(t, err)
	}
	list, err := k.List()
	require.NoError(t, err)
	var names []string
	for _, r := range list {
		names = append(names, r.Name)
	}
	require.Equal(t, []string{"0", "Alice", "_x", "a-b", "a.b", "alice", "zed"}, names)
}

func TestWrongPassphrase(t *testing.T) {
	pass := &passphrases{value: "right"}
	k := openKeyring(t, t.TempDir(), BackendFile, pass)
	_, err := k.Import("alice", keys.Sr25519, "//Alice")
	require.NoError(t, err)
	before := readFile(t, k, "alice")

	pass.value = "wrong"
	_, err = k.PrivateKey("alice")
	require.ErrorIs(t, err, ErrWrongPassphrase)
	_, err = k.Export("alice")
	require.ErrorIs(t, err, ErrWrongPassphrase)
	require.NotContains(t, err.Error(), "wrong\"")
	require.Equal(t, before, readFile(t, k, "alice"), "a failed unlock changed the file")

	pass.value = "right"
	suri, err := k.Export("alice")
	require.NoError(t, err)
	require.Equal(t, "//Alice", suri)
}

func TestPassphraseRequired(t *testing.T) {
	dir := t.TempDir()
	k := openKeyring(t, dir, BackendFile, &passphrases{value: ""})
	_, err := k.Import("alice", keys.Sr25519, "//Alice")
	require.ErrorIs(t, err, ErrPassphraseRequired)
	_, _, err = k.Generate("bob", keys.Sr25519, 12)
	require.ErrorIs(t, err, ErrPassphraseRequired)
	list, err := k.List()
	require.NoError(t, err)
	require.Empty(t, list, "a refused import left a file")

	// No callback: List and Get work, secrets need one.
	withPass := openKeyring(t, dir, BackendFile, &passphrases{value: "p"})
	_, err = withPass.Import("alice", keys.Sr25519, "//Alice")
	require.NoError(t, err)
	noPass := openKeyring(t, dir, BackendFile, nil)
	rec, err := noPass.Get("alice")
	require.NoError(t, err)
	require.Equal(t, aliceAddr, rec.Address)
	_, err = noPass.PrivateKey("alice")
	require.ErrorIs(t, err, ErrPassphraseRequired)
	_, err = noPass.Import("bob", keys.Sr25519, "//Bob")
	require.ErrorIs(t, err, ErrPassphraseRequired)

	// The callback's error is passed on.
	boom := errors.New("terminal closed")
	k2, err := Open(dir, BackendFile, func(bool) ([]byte, error) { return nil, boom })
	require.NoError(t, err)
	_, err = k2.Export("alice")
	require.ErrorIs(t, err, boom)
}

func TestPassphraseZeroed(t *testing.T) {
	buf := []byte("secret passphrase")
	k, err := Open(t.TempDir(), BackendFile, func(bool) ([]byte, error) { return buf, nil })
	require.NoError(t, err)
	k.kdf = cheapKDF
	_, err = k.Import("alice", keys.Sr25519, "//Alice")
	require.NoError(t, err)
	require.Equal(t, make([]byte, len(buf)), buf)
}

func TestSecretNotInFile(t *testing.T) {
	k := openKeyring(t, t.TempDir(), BackendFile, &passphrases{value: "p"})
	_, mnemonic, err := k.Generate("g", keys.Sr25519, 12)
	require.NoError(t, err)
	_, err = k.Import("dev", keys.Sr25519, "//Alice///hunter2")
	require.NoError(t, err)
	g, dev := readFile(t, k, "g"), readFile(t, k, "dev")
	// The phrase is not there, nor any of its longer words. (Short words can occur by chance in
	// the base64 ciphertext: a 3-letter word does in about 1 file of 1000.)
	require.NotContains(t, string(g), mnemonic)
	for _, w := range strings.Fields(mnemonic) {
		if len(w) >= 7 {
			require.NotContains(t, string(g), w)
		}
	}
	require.NotContains(t, string(dev), "hunter2")
	require.NotContains(t, string(dev), "Alice")

	// Padding: the ciphertexts of a short path and a 24-word phrase have the
	// same length.
	_, _, err = k.Generate("long", keys.Sr25519, 24)
	require.NoError(t, err)
	fd, fl := decode(t, k, "dev"), decode(t, k, "long")
	require.Equal(t, len(fd.Sealed.Ciphertext), len(fl.Sealed.Ciphertext))
}

func decode(t *testing.T, k *Keyring, name string) *keyFile {
	t.Helper()
	f, err := decodeKeyFile(readFile(t, k, name), name, k.backend)
	require.NoError(t, err)
	return f
}

func TestDefaultKDFStored(t *testing.T) {
	k, err := Open(t.TempDir(), BackendFile, (&passphrases{value: "p"}).fn)
	require.NoError(t, err)
	_, err = k.Import("alice", keys.Sr25519, "//Alice")
	require.NoError(t, err)
	f := decode(t, k, "alice")
	require.Equal(t, defaultKDF, f.Sealed.kdfParams)
	require.Equal(t, kdfParams{Time: 3, MemoryKiB: 65536, Threads: 4}, f.Sealed.kdfParams)
	require.Len(t, f.Sealed.Salt, 16)
	require.Len(t, f.Sealed.Nonce, 24)
	_, err = k.PrivateKey("alice")
	require.NoError(t, err)

	// Files keep their own parameters: a keyring with other defaults opens it.
	k.kdf = cheapKDF
	_, err = k.PrivateKey("alice")
	require.NoError(t, err)
}

// mutate rewrites one key file through a JSON edit.
func mutate(t *testing.T, k *Keyring, name string, edit func(f *keyFile)) {
	t.Helper()
	f := decode(t, k, name)
	edit(f)
	data, err := json.Marshal(f)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(k.path(name), data, 0o600))
}

func TestTamperedFileBackend(t *testing.T) {
	bob, err := keys.FromURI(keys.Sr25519, "//Bob")
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		edit func(f *keyFile)
		want error
	}{
		{"ciphertext byte", func(f *keyFile) { f.Sealed.Ciphertext[5] ^= 1 }, ErrCorrupt},
		{"ciphertext tag", func(f *keyFile) { f.Sealed.Ciphertext[len(f.Sealed.Ciphertext)-1] ^= 1 }, ErrCorrupt},
		{"nonce", func(f *keyFile) { f.Sealed.Nonce[0] ^= 1 }, ErrCorrupt},
		{"public key swapped (address kept consistent)", func(f *keyFile) {
			f.PublicKey, f.Address = bob.Public().Hex(), bob.Public().AccountID().String()
		}, ErrCorrupt},
		{"type", func(f *keyFile) { f.Type = keys.Ed25519 }, ErrCorrupt},
		{"address only", func(f *keyFile) { f.Address = bob.Public().AccountID().String() }, ErrCorrupt},
		{"name", func(f *keyFile) { f.Name = "mallory" }, ErrCorrupt},
		{"backend", func(f *keyFile) { f.Backend = BackendTest }, ErrCorrupt},
		{"version", func(f *keyFile) { f.Version = 2 }, ErrCorrupt},
		{"clear secret added", func(f *keyFile) { f.SecretURI = "//Bob" }, ErrCorrupt},
		{"kdf name", func(f *keyFile) { f.Sealed.KDF = "scrypt" }, ErrCorrupt},
		{"cipher name", func(f *keyFile) { f.Sealed.Cipher = "aes-gcm" }, ErrCorrupt},
		{"huge memory", func(f *keyFile) { f.Sealed.MemoryKiB = 1 << 30 }, ErrCorrupt},
		{"zero time", func(f *keyFile) { f.Sealed.Time = 0 }, ErrCorrupt},
		{"zero threads", func(f *keyFile) { f.Sealed.Threads = 0 }, ErrCorrupt},
		{"short salt", func(f *keyFile) { f.Sealed.Salt = f.Sealed.Salt[:8] }, ErrCorrupt},
		{"truncated ciphertext", func(f *keyFile) { f.Sealed.Ciphertext = f.Sealed.Ciphertext[:100] }, ErrCorrupt},
		// These change the stretched key, so the check value fails first.
		{"salt", func(f *keyFile) { f.Sealed.Salt[0] ^= 1 }, ErrWrongPassphrase},
		{"time", func(f *keyFile) { f.Sealed.Time = 2 }, ErrWrongPassphrase},
		{"check", func(f *keyFile) { f.Sealed.Check[0] ^= 1 }, ErrWrongPassphrase},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := openKeyring(t, t.TempDir(), BackendFile, &passphrases{value: "p"})
			_, err := k.Import("alice", keys.Sr25519, "//Alice")
			require.NoError(t, err)
			mutate(t, k, "alice", tc.edit)
			_, err = k.PrivateKey("alice")
			require.ErrorIs(t, err, tc.want)
			_, err = k.Export("alice")
			require.ErrorIs(t, err, tc.want)
		})
	}
}

func TestTamperedTestBackend(t *testing.T) {
	k := openKeyring(t, t.TempDir(), BackendTest, nil)
	_, err := k.Import("alice", keys.Sr25519, "//Alice")
	require.NoError(t, err)
	mutate(t, k, "alice", func(f *keyFile) { f.SecretURI = "//Bob" })
	_, err = k.PrivateKey("alice")
	require.ErrorIs(t, err, ErrCorrupt)
	_, err = k.Export("alice")
	require.ErrorIs(t, err, ErrCorrupt)
}

func TestRenamedFileDetected(t *testing.T) {
	k := openKeyring(t, t.TempDir(), BackendFile, &passphrases{value: "p"})
	_, err := k.Import("alice", keys.Sr25519, "//Alice")
	require.NoError(t, err)
	require.NoError(t, os.Rename(k.path("alice"), k.path("bob")))
	_, err = k.Get("bob")
	require.ErrorIs(t, err, ErrCorrupt)
	_, err = k.List()
	require.ErrorIs(t, err, ErrCorrupt)
}

func TestPermissions(t *testing.T) {
	// Open creates missing directories with mode 0700.
	root := filepath.Join(t.TempDir(), "home", "keyring")
	for _, b := range []Backend{BackendFile, BackendTest} {
		k := openKeyring(t, root, b, &passphrases{value: "p"})
		_, err := k.Import("alice", keys.Sr25519, "//Alice")
		require.NoError(t, err)
		for _, d := range []string{root, k.dir} {
			st, err := os.Stat(d)
			require.NoError(t, err)
			require.Equal(t, os.FileMode(0o700), st.Mode().Perm(), d)
		}
		st, err := os.Stat(k.path("alice"))
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), b)
		entries, err := os.ReadDir(k.dir)
		require.NoError(t, err)
		require.Len(t, entries, 1, "temporary file left behind")
	}

	// A pre-existing, too open backend directory is tightened; the parent,
	// which may be shared, is left alone.
	parent := t.TempDir()
	require.NoError(t, os.Chmod(parent, 0o755))
	require.NoError(t, os.Mkdir(filepath.Join(parent, "test"), 0o755))
	require.NoError(t, os.Chmod(filepath.Join(parent, "test"), 0o755))
	k := openKeyring(t, parent, BackendTest, nil)
	st, err := os.Stat(k.dir)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), st.Mode().Perm())
	st, err = os.Stat(parent)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o755), st.Mode().Perm())
}

func TestDuplicateName(t *testing.T) {
	pass := &passphrases{value: "p"}
	k := openKeyring(t, t.TempDir(), BackendFile, pass)
	_, err := k.Import("alice", keys.Sr25519, "//Alice")
	require.NoError(t, err)
	before := readFile(t, k, "alice")
	pass.take()

	_, err = k.Import("alice", keys.Sr25519, "//Bob")
	require.ErrorIs(t, err, ErrExists)
	_, _, err = k.Generate("alice", keys.Ed25519, 12)
	require.ErrorIs(t, err, ErrExists)
	require.Empty(t, pass.take(), "asked a passphrase for a name that is taken")
	require.Equal(t, before, readFile(t, k, "alice"))
}

func TestConcurrentImportSameName(t *testing.T) {
	k := openKeyring(t, t.TempDir(), BackendTest, nil)
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = k.Import("same", keys.Ed25519, "//"+string(rune('A'+i)))
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else {
			require.ErrorIs(t, err, ErrExists)
		}
	}
	require.Equal(t, 1, ok)
	_, err := k.PrivateKey("same")
	require.NoError(t, err)
}

func TestInvalidNames(t *testing.T) {
	k := openKeyring(t, t.TempDir(), BackendTest, nil)
	for _, name := range []string{"", strings.Repeat("a", 65), "../x", "a/b", `a\b`, "a b", "é", "a\x00", "alice.json/"} {
		_, err := k.Import(name, keys.Sr25519, "//Alice")
		require.ErrorIs(t, err, ErrInvalidName, "%q", name)
		_, err = k.Get(name)
		require.ErrorIs(t, err, ErrInvalidName)
		_, err = k.PrivateKey(name)
		require.ErrorIs(t, err, ErrInvalidName)
		_, err = k.Export(name)
		require.ErrorIs(t, err, ErrInvalidName)
		require.ErrorIs(t, k.Delete(name), ErrInvalidName)
	}
	_, err := k.Import(strings.Repeat("a", 64), keys.Sr25519, "//Alice")
	require.NoError(t, err)
	list, err := k.List()
	require.NoError(t, err)
	require.Len(t, list, 1)
}

func TestNotFound(t *testing.T) {
	k := openKeyring(t, t.TempDir(), BackendFile, &passphrases{value: "p"})
	_, err := k.Get("nobody")
	require.ErrorIs(t, err, ErrNotFound)
	_, err = k.PrivateKey("nobody")
	require.ErrorIs(t, err, ErrNotFound)
	_, err = k.Export("nobody")
	require.ErrorIs(t, err, ErrNotFound)
	require.ErrorIs(t, k.Delete("nobody"), ErrNotFound)
}

func TestBadSecretURIStoresNothing(t *testing.T) {
	pass := &passphrases{value: "p"}
	k := openKeyring(t, t.TempDir(), BackendFile, pass)
	for _, tc := range []struct {
		typ  keys.Type
		suri string
		want error
	}{
		{keys.Sr25519, "not a mnemonic at all", keys.ErrInvalidMnemonic},
		{keys.Ed25519, "//Alice/soft", keys.ErrSoftDerivation},
		{keys.Type(9), "//Alice", keys.ErrUnknownType},
		{keys.Sr25519, "//" + strings.Repeat("x", maxSecretURILen), keys.ErrInvalidURI},
	} {
		_, err := k.Import("x", tc.typ, tc.suri)
		require.ErrorIs(t, err, tc.want)
	}
	_, _, err := k.Generate("x", keys.Sr25519, 13)
	require.ErrorIs(t, err, keys.ErrInvalidMnemonic)
	require.Empty(t, pass.take())
	list, err := k.List()
	require.NoError(t, err)
	require.Empty(t, list)
}

func TestBackendsAreSeparate(t *testing.T) {
	dir := t.TempDir()
	test := openKeyring(t, dir, BackendTest, nil)
	_, err := test.Import("alice", keys.Sr25519, "//Alice")
	require.NoError(t, err)
	file := openKeyring(t, dir, BackendFile, &passphrases{value: "p"})
	list, err := file.List()
	require.NoError(t, err)
	require.Empty(t, list)
	_, err = file.Get("alice")
	require.ErrorIs(t, err, ErrNotFound)

	// A test-backend file copied into the file backend is refused.
	require.NoError(t, os.WriteFile(file.path("alice"), readFile(t, test, "alice"), 0o600))
	_, err = file.Get("alice")
	require.ErrorIs(t, err, ErrCorrupt)
	_, err = file.PrivateKey("alice")
	require.ErrorIs(t, err, ErrCorrupt)

	_, err = Open(dir, "plain", nil)
	require.ErrorIs(t, err, ErrUnknownBackend)
	_, err = Open(dir, "", nil)
	require.ErrorIs(t, err, ErrUnknownBackend)
}

func TestListSkipsForeignFiles(t *testing.T) {
	k := openKeyring(t, t.TempDir(), BackendTest, nil)
	_, err := k.Import("alice", keys.Sr25519, "//Alice")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(k.dir, ".tmp-123.partial"), []byte("junk"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(k.dir, "notes.txt"), []byte("junk"), 0o600))
	require.NoError(t, os.Mkdir(filepath.Join(k.dir, "dir.json"), 0o700))
	list, err := k.List()
	require.NoError(t, err)
	require.Len(t, list, 1)

	require.NoError(t, os.WriteFile(k.path("broken"), []byte("{"), 0o600))
	_, err = k.List()
	require.ErrorIs(t, err, ErrCorrupt)
	require.Contains(t, err.Error(), "broken")
}

func TestOversizedFile(t *testing.T) {
	k := openKeyring(t, t.TempDir(), BackendTest, nil)
	require.NoError(t, os.WriteFile(k.path("big"), bytes.Repeat([]byte(" "), maxFileSize+1), 0o600))
	_, err := k.Get("big")
	require.ErrorIs(t, err, ErrCorrupt)
}

func TestPadding(t *testing.T) {
	for _, s := range []string{"", "a", strings.Repeat("x", padBlock-2), strings.Repeat("x", padBlock-1), strings.Repeat("y", maxSecretURILen)} {
		p := pad(s)
		require.Zero(t, len(p)%padBlock)
		got, ok := unpad(p)
		require.True(t, ok)
		require.Equal(t, s, got)
	}
	_, ok := unpad([]byte{0xff, 0xff, 0})
	require.False(t, ok)
	_, ok = unpad([]byte{0})
	require.False(t, ok)
}

func FuzzDecodeKeyFile(f *testing.F) {
	dir := f.TempDir()
	for _, b := range []Backend{BackendFile, BackendTest} {
		k, err := Open(dir, b, func(bool) ([]byte, error) { return []byte("p"), nil })
		require.NoError(f, err)
		k.kdf = cheapKDF
		_, err = k.Import("alice", keys.Sr25519, "//Alice")
		require.NoError(f, err)
		data, err := os.ReadFile(k.path("alice"))
		require.NoError(f, err)
		f.Add(data, b == BackendFile)
	}
	f.Add([]byte("{}"), true)
	f.Add([]byte(`{"version":1,"name":"alice"}`), false)
	f.Fuzz(func(t *testing.T, data []byte, fileBackend bool) {
		b := BackendTest
		if fileBackend {
			b = BackendFile
		}
		kf, err := decodeKeyFile(data, "alice", b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		// Accepted files are fully consistent, and opening them (with the
		// bounded KDF parameters) cannot panic.
		rec := kf.public()
		if rec.Address != rec.Public.AccountID().String() || rec.Name != "alice" {
			t.Fatal("accepted an inconsistent file")
		}
		if fileBackend && kf.Sealed.MemoryKiB <= 4096 && kf.Sealed.Time <= 2 {
			k := &Keyring{backend: b, passphrase: func(bool) ([]byte, error) { return []byte("p"), nil }}
			_, _ = k.open(kf)
		}
	})
}

func BenchmarkUnlockDefaultKDF(b *testing.B) {
	k, err := Open(b.TempDir(), BackendFile, func(bool) ([]byte, error) { return []byte("passphrase"), nil })
	require.NoError(b, err)
	_, err = k.Import("alice", keys.Sr25519, "//Alice")
	require.NoError(b, err)
	for b.Loop() {
		if _, err := k.PrivateKey("alice"); err != nil {
			b.Fatal(err)
		}
	}
}
