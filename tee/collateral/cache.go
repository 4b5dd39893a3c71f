package collateral

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// The cache keeps one JSON file per URL, named by the SHA-256 of the URL. Entries hold public
// vendor data only. A damaged or foreign entry is ignored and overwritten.

func (f *Fetcher) cachePath(rawURL string) string {
	h := sha256.Sum256([]byte(rawURL))
	return filepath.Join(f.CacheDir, hex.EncodeToString(h[:])+".json")
}

func (f *Fetcher) cacheLoad(rawURL string) (response, bool) {
	if f.CacheDir == "" {
		return response{}, false
	}
	data, err := os.ReadFile(f.cachePath(rawURL))
	if err != nil {
		return response{}, false
	}
	var r response
	if err := json.Unmarshal(data, &r); err != nil || r.URL != rawURL || len(r.Body) == 0 {
		return response{}, false
	}
	return r, true
}

// cacheStore writes the entry atomically (temporary file, then rename), so that a crash never
// leaves a half-written entry.
func (f *Fetcher) cacheStore(r response) error {
	if f.CacheDir == "" {
		return nil
	}
	if err := os.MkdirAll(f.CacheDir, 0o755); err != nil {
		return fmt.Errorf("collateral: cache: %w", err)
	}
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("collateral: cache: %w", err)
	}
	tmp, err := os.CreateTemp(f.CacheDir, ".entry-*")
	if err != nil {
		return fmt.Errorf("collateral: cache: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), f.cachePath(r.URL))
	}
	if err != nil {
		return fmt.Errorf("collateral: cache %s: %w", r.URL, err)
	}
	return nil
}
