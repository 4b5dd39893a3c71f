package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/phala-go/phala/crypto/keyring"
	"github.com/phala-go/phala/crypto/keys"
)

// stdinLines reads secrets line by line when stdin is not a terminal, so scripts can pipe them.
var stdinLines = bufio.NewReader(os.Stdin)

// readSecret asks for a secret on the terminal without echo, or reads one line from stdin.
func readSecret(prompt string) ([]byte, error) {
	fd := int(os.Stdin.Fd())
	if term.IsTerminal(fd) {
		fmt.Fprint(os.Stderr, prompt)
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(os.Stderr)
		return b, err
	}
	line, err := stdinLines.ReadBytes('\n')
	if err != nil && !(errors.Is(err, io.EOF) && len(line) > 0) {
		return nil, fmt.Errorf("reading %s from stdin: %w", strings.TrimSpace(strings.TrimSuffix(prompt, ":")), err)
	}
	return bytes.TrimRight(line, "\r\n"), nil
}

func askPassphrase(confirm bool) ([]byte, error) {
	p, err := readSecret("Keyring passphrase: ")
	if err != nil || !confirm {
		return p, err
	}
	again, err := readSecret("Repeat the passphrase: ")
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(p, again) {
		return nil, errors.New("the passphrases differ")
	}
	return p, nil
}

func (g *globals) keyring() (*keyring.Keyring, error) {
	return keyring.Open(filepath.Join(g.home, "keyring"), keyring.Backend(g.backend), askPassphrase)
}

// signer loads a key by name for signing.
func (g *globals) signer(name string) (keys.PrivateKey, error) {
	kr, err := g.keyring()
	if err != nil {
		return keys.PrivateKey{}, err
	}
	k, err := kr.PrivateKey(name)
	if errors.Is(err, keyring.ErrNotFound) {
		return k, fmt.Errorf("%w: no key %q in the %s keyring at %s (see `phala keys list`)", err, name, g.backend, g.home)
	}
	return k, err
}

// keyJSON is how keys are printed.
type keyJSON struct {
	Name      string `json:"name"`
	Type      string `json:"type"`
	Address   string `json:"address"`
	PublicKey string `json:"public_key"`
	Mnemonic  string `json:"mnemonic,omitempty"`
}

func toKeyJSON(r keyring.Record) keyJSON {
	return keyJSON{Name: r.Name, Type: r.Public.Type.String(), Address: r.Address, PublicKey: r.Public.Hex()}
}

func newKeysCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Manage the local keyring"}
	var keyType string
	var words int
	add := &cobra.Command{
		Use:   "add NAME",
		Short: "Create a key from a new mnemonic and print the mnemonic once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := g.printer(cmd)
			if err != nil {
				return err
			}
			t, err := keys.ParseType(keyType)
			if err != nil {
				return err
			}
			kr, err := g.keyring()
			if err != nil {
				return err
			}
			rec, mnemonic, err := kr.Generate(args[0], t, words)
			if err != nil {
				return err
			}
			out := toKeyJSON(rec)
			out.Mnemonic = mnemonic
			return p.print(out, func(w io.Writer) {
				fmt.Fprintf(w, "%s  %s  %s\n\nWrite this mnemonic down; it is the only way to recover the key:\n\n%s\n", rec.Name, rec.Public.Type, rec.Address, mnemonic)
			})
		},
	}
	add.Flags().StringVar(&keyType, "type", "sr25519", "key type: sr25519 or ed25519")
	add.Flags().IntVar(&words, "words", 24, "mnemonic length: 12 or 24 words")

	imp := &cobra.Command{
		Use:   "import NAME [SECRET_URI]",
		Short: "Import a key from a mnemonic or secret URI (asked for when not given, e.g. //Alice)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := g.printer(cmd)
			if err != nil {
				return err
			}
			t, err := keys.ParseType(keyType)
			if err != nil {
				return err
			}
			var suri string
			if len(args) == 2 {
				suri = args[1]
			} else {
				b, err := readSecret("Mnemonic or secret URI: ")
				if err != nil {
					return err
				}
				suri = string(b)
			}
			kr, err := g.keyring()
			if err != nil {
				return err
			}
			rec, err := kr.Import(args[0], t, suri)
			if err != nil {
				return err
			}
			return p.print(toKeyJSON(rec), func(w io.Writer) { fmt.Fprintf(w, "%s  %s  %s\n", rec.Name, rec.Public.Type, rec.Address) })
		},
	}
	imp.Flags().StringVar(&keyType, "type", "sr25519", "key type: sr25519 or ed25519")

	list := &cobra.Command{
		Use:   "list",
		Short: "List the keys",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := g.printer(cmd)
			if err != nil {
				return err
			}
			kr, err := g.keyring()
			if err != nil {
				return err
			}
			recs, err := kr.List()
			if err != nil {
				return err
			}
			out := make([]keyJSON, len(recs))
			for i, r := range recs {
				out[i] = toKeyJSON(r)
			}
			return p.print(out, func(w io.Writer) {
				for _, r := range out {
					fmt.Fprintf(w, "%-16s %-8s %s\n", r.Name, r.Type, r.Address)
				}
			})
		},
	}

	var addressOnly bool
	show := &cobra.Command{
		Use:   "show NAME",
		Short: "Show a key's address and public key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := g.printer(cmd)
			if err != nil {
				return err
			}
			kr, err := g.keyring()
			if err != nil {
				return err
			}
			rec, err := kr.Get(args[0])
			if err != nil {
				return err
			}
			return p.print(toKeyJSON(rec), func(w io.Writer) {
				if addressOnly {
					fmt.Fprintln(w, rec.Address)
					return
				}
				fmt.Fprintf(w, "name:       %s\ntype:       %s\naddress:    %s\npublic key: %s\n", rec.Name, rec.Public.Type, rec.Address, rec.Public.Hex())
			})
		},
	}
	show.Flags().BoolVarP(&addressOnly, "address", "a", false, "print only the address")

	export := &cobra.Command{
		Use:   "export NAME",
		Short: "Print a key's secret URI (mnemonic and derivation path)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := g.printer(cmd)
			if err != nil {
				return err
			}
			kr, err := g.keyring()
			if err != nil {
				return err
			}
			suri, err := kr.Export(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(os.Stderr, "warning: anyone who sees this secret controls the account")
			return p.print(map[string]string{"name": args[0], "secret_uri": suri}, func(w io.Writer) { fmt.Fprintln(w, suri) })
		},
	}

	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a key from the keyring",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kr, err := g.keyring()
			if err != nil {
				return err
			}
			return kr.Delete(args[0])
		},
	}
	for _, c := range []*cobra.Command{add, imp, list, show, export, del} {
		addClientFlags(c, g)
		cmd.AddCommand(c)
	}
	return cmd
}
