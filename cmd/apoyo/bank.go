package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/apoyo-cdmx/apoyo/bank/sandbox"
)

func newBankCmd(a *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "bank", Short: "The sandbox bank (SPEI, cash pickup, card) for development and demos"}
	var addr, journal string
	var autoCollect bool
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Serve the sandbox bank on its own (apoyo dev runs one in-process)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if journal == "" {
				journal = filepath.Join(a.cfg.DataDir, "bank", "journal.jsonl")
			}
			b, err := sandbox.Open(sandbox.Config{JournalPath: journal, AutoCollect: autoCollect, Logger: a.log})
			if err != nil {
				return err
			}
			defer b.Close()
			b.Start(cmd.Context())
			bound, err := b.ListenAndServe(cmd.Context(), addr)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out, "sandbox bank listening on http://%s (journal %s)\n", bound, journal)
			<-cmd.Context().Done()
			return nil
		},
	}
	serve.Flags().StringVar(&addr, "addr", "127.0.0.1:8787", "address to listen on")
	serve.Flags().StringVar(&journal, "journal", "", "journal file (default DATA_DIR/bank/journal.jsonl)")
	serve.Flags().BoolVar(&autoCollect, "auto-collect", false, "cash pickups are collected as soon as they are funded")
	cmd.AddCommand(serve)
	return cmd
}
