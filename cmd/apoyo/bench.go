package main

import (
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/apoyo-cdmx/apoyo/bench"
	"github.com/apoyo-cdmx/apoyo/platform/pgcluster"
)

func newBenchCmd(a *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "bench", Short: "Benchmarks that report ratios against baselines measured in the same run"}

	var o output
	var writers []int
	var dur time.Duration
	var batch int
	var inFlight, programmes []int
	ledgerCmd := &cobra.Command{
		Use:   "ledger",
		Short: "Ledger transfers per second (one hot budget account per programme) with 1, 8 and 32 writers, one and two programmes, vs pgbench -N on the same server",
		Long: `ledger starts a private PostgreSQL cluster (fsync on) in a temporary directory
— or uses the server of --database-url — and measures, for each writer
count, transfers per second through the ledger's batching writer, every
transfer of a programme debiting the programme's one budget account, then
pgbench -N with the same client count on the same server. It prints both
and their ratio. With --programmes 2, two programmes write at once, each
with that many writers, and VS 1 PRG is their rate over one programme's.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.check("table", "json"); err != nil {
				return err
			}
			ctx := cmd.Context()
			serverURL := a.cfg.Database.URL
			binDir := a.cfg.Dev.PostgresBinDir
			if serverURL == "" {
				dir, err := os.MkdirTemp("", "apoyo-bench-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(dir)
				_ = os.Chmod(dir, 0o711)
				c, err := pgcluster.Start(ctx, pgcluster.Options{Dir: filepath.Join(dir, "pg"), BinDir: binDir, Durable: true,
					Settings: map[string]string{"max_connections": "300"}})
				if err != nil {
					return err
				}
				defer c.Stop() //nolint:errcheck
				serverURL, binDir = c.URL("postgres"), c.BinDir()
			}
			pgbench, err := bench.FindPgbench(binDir)
			if err != nil {
				return fmt.Errorf("pgbench not found: %w", err)
			}
			rep, err := bench.Ledger(ctx, bench.LedgerOptions{ServerURL: serverURL, Pgbench: pgbench, Writers: writers,
				Duration: dur, BatchSize: batch, InFlight: inFlight, Programmes: programmes,
				Logf: func(f string, args ...any) { a.log.Info(fmt.Sprintf(f, args...)) }})
			if err != nil {
				return err
			}
			if o.json() {
				return writeJSON(a.out, rep)
			}
			tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "PROGRAMMES\tWRITERS\tIN FLIGHT\tTRANSFERS\tTRANSFERS/S\tPGBENCH -N TPS\tRATIO\tVS 1 PRG\t")
			for _, r := range rep.Rows {
				vs := "-"
				if r.VsOneProgramme > 0 {
					vs = fmt.Sprintf("%.2fx", r.VsOneProgramme)
				}
				fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%.0f\t%.0f\t%.2fx\t%s\t\n", r.Programmes, r.Writers, r.InFlight, r.Transfers, r.TransfersPerS, r.PgbenchTPS, r.Ratio, vs)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(a.out, "ledger verified after the run: %v\n", rep.Verified)
			return nil
		},
	}
	o.add(ledgerCmd, "table or json")
	ledgerCmd.Flags().IntSliceVar(&writers, "writers", []int{1, 8, 32}, "concurrent writer counts")
	ledgerCmd.Flags().DurationVar(&dur, "duration", 10*time.Second, "length of each measurement")
	ledgerCmd.Flags().IntVar(&batch, "batch-size", 512, "ledger writer batch size")
	ledgerCmd.Flags().IntSliceVar(&inFlight, "in-flight", []int{1, 16}, "transfers each writer submits per call: 1 = one Post at a time; more = PostBatch, as a cycle's payment step does")
	ledgerCmd.Flags().IntSliceVar(&programmes, "programmes", []int{1, 2}, "programmes writing at once, each with its own budget account and writers")
	cmd.AddCommand(ledgerCmd, newBenchCycleCmd(a), newBenchQueueCmd(a), newBenchReportCmd(a))
	return cmd
}
