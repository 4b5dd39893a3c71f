package main

import "github.com/spf13/cobra"

// newContractCmd groups the contract commands: building, uploading, instantiating and
// executing (contract_tx.go), and signed encrypted queries and receipts (contract_query.go).
func newContractCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "contract", Short: "Confidential contracts: build, upload, instantiate, execute, query"}
	addContractTxCmds(cmd, g)
	addContractQueryCmds(cmd, g)
	return cmd
}
