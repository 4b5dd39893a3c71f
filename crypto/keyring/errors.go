package keyring

import "errors"

var (
	// ErrNotFound is returned for a name with no key.
	ErrNotFound = errors.New("no key with this name")
	// ErrExists is returned when adding a key under a name already in use.
	ErrExists = errors.New("a key with this name already exists")
	// ErrWrongPassphrase is returned when the passphrase does not open a key.
	ErrWrongPassphrase = errors.New("wrong passphrase")
	// ErrInvalidName is returned for a key name outside [a-zA-Z0-9_.-]{1,64}.
	ErrInvalidName = errors.New("invalid key name: use 1 to 64 of a-z A-Z 0-9 _ . -")
	// ErrCorrupt is returned for a key file that is malformed or was modified.
	ErrCorrupt = errors.New("key file is corrupt or was modified")
	// ErrPassphraseRequired is returned by the file backend when there is no
	// passphrase callback or the passphrase is empty.
	ErrPassphraseRequired = errors.New("the file backend needs a non-empty passphrase")
	// ErrUnknownBackend is returned by Open for a backend other than file or test.
	ErrUnknownBackend = errors.New("unknown keyring backend: use file or test")
)
