package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
)

// globals are the flags every client command shares.
type globals struct {
	node    string
	output  string
	home    string
	backend string
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func defaultClientHome() string {
	if h := os.Getenv("PHALA_HOME"); h != "" {
		return h
	}
	dir, err := os.UserHomeDir()
	if err != nil {
		return ".phala"
	}
	return filepath.Join(dir, ".phala")
}

func newRootCmd() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "phala",
		Short:         "Phala-Go: a confidential smart-contract chain",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.node, "node", envOr("PHALA_NODE", "http://127.0.0.1:26657"), "node RPC address (env PHALA_NODE)")
	pf.StringVarP(&g.output, "output", "o", "text", "output format: text or json")
	root.AddCommand(
		newInitCmd(), newNodeCmd(), newTestnetCmd(), newDevCmd(),
		newKeysCmd(g), newTxCmd(g), newQueryCmd(g), newGovCmd(g), newStatusCmd(g),
		newRuntimeCmd(g), newWorkerCmd(g), newGatekeeperCmd(g), newClusterCmd(g), newContractCmd(g), newPherryCmd(g),
		newBenchCmd(),
	)
	return root
}

// addClientFlags adds the flags of commands that use the local keyring or light-client store.
func addClientFlags(cmd *cobra.Command, g *globals) {
	cmd.Flags().StringVar(&g.home, "home", defaultClientHome(), "client directory holding the keyring and the light-client store (env PHALA_HOME)")
	cmd.Flags().StringVar(&g.backend, "keyring-backend", envOr("PHALA_KEYRING_BACKEND", "file"),
		"keyring backend: file (encrypted) or test (UNENCRYPTED, development only) (env PHALA_KEYRING_BACKEND)")
}

// printer writes a command's result as text or JSON.
type printer struct {
	w    io.Writer
	json bool
}

func (g *globals) printer(cmd *cobra.Command) (printer, error) {
	switch g.output {
	case "text":
		return printer{w: cmd.OutOrStdout()}, nil
	case "json":
		return printer{w: cmd.OutOrStdout(), json: true}, nil
	}
	return printer{}, fmt.Errorf("output %q: use text or json", g.output)
}

// print writes v as indented JSON, or calls text for the human form.
func (p printer) print(v any, text func(w io.Writer)) error {
	if p.json {
		enc := json.NewEncoder(p.w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	text(p.w)
	return nil
}

// queryProto runs a query against --node and decodes the answer.
func (g *globals) queryProto(cmd *cobra.Command, path string, data []byte, out proto.Message) error {
	c, err := g.client(cmd.Context())
	if err != nil {
		return err
	}
	_, err = c.QueryProto(cmd.Context(), path, data, out)
	return err
}

// print writes v with the chosen output format.
func (g *globals) print(cmd *cobra.Command, v any, text func(w io.Writer)) error {
	p, err := g.printer(cmd)
	if err != nil {
		return err
	}
	return p.print(v, text)
}
