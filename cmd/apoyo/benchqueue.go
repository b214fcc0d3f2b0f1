package main

import (
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/apoyo-cdmx/apoyo/bench"
	"github.com/apoyo-cdmx/apoyo/platform/pgcluster"
)

func newBenchQueueCmd(a *cli) *cobra.Command {
	var o output
	var opts bench.QueueOptions
	cmd := &cobra.Command{
		Use:   "queue",
		Short: "The stuck-case queue's first and deep pages, per filter, over a million cases (p50/p95/p99; goal p95 < 100 ms)",
		Long: `queue starts a private PostgreSQL cluster in a temporary directory — or
uses the server of --database-url — and loads --cases cases with set-based
SQL: six monthly cycles of the same people, the older ones done, the last
two under way, about one case in ten with open work (a document to check,
an overdue approval, a payment to redo, a referral with no outcome, a
failed step, a notice of an unpaid case) spread over steps, secretariats
and the 16 alcaldías, and the closed tasks of the cases that moved on.
Then, for no filter and for each filter's most and least common value
(cycle, step, secretariat, alcaldía, kind; open for over 7 and over 60
days), it reads the queue's first page and a deep page (after 90% of the
matches, by its cursor) --reps times each, as the application does, and
prints the 50th, 95th and 99th percentiles and whether the 95th is under
100 ms.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.check("table", "json"); err != nil {
				return err
			}
			ctx := cmd.Context()
			opts.ServerURL = a.cfg.Database.URL
			if opts.ServerURL == "" {
				dir, err := os.MkdirTemp("", "apoyo-bench-queue-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(dir)
				_ = os.Chmod(dir, 0o711)
				// Reads are measured, not commits: fsync off, and room
				// for the load's WAL between checkpoints.
				c, err := pgcluster.Start(ctx, pgcluster.Options{Dir: filepath.Join(dir, "pg"), BinDir: a.cfg.Dev.PostgresBinDir,
					Settings: map[string]string{"max_wal_size": "4GB"}})
				if err != nil {
					return err
				}
				defer c.Stop() //nolint:errcheck
				opts.ServerURL = c.URL("postgres")
			}
			opts.Logf = func(f string, args ...any) { a.log.Info(fmt.Sprintf(f, args...)) }
			rep, err := bench.Queue(ctx, opts)
			if err != nil {
				return err
			}
			if o.json() {
				return writeJSON(a.out, rep)
			}
			l := rep.Load
			fmt.Fprintf(a.out, "loaded %d cases (%d people, %d cycles), %d open and %d closed tasks in %.1f s\n",
				l.Cases, l.People, l.Cycles, l.OpenTasks, l.ClosedTasks, l.Seconds)
			fmt.Fprintf(a.out, "page size %d, %d reads per page\n", rep.PageSize, rep.Reps)
			tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "FILTER\tVALUE\tMATCHES\tPAGE\tSKIPPED\tITEMS\tP50 MS\tP95 MS\tP99 MS\tP95 < 100 MS\t")
			for _, r := range rep.Rows {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\t%.2f\t%.2f\t%.2f\t%s\t\n", r.Filter, r.Value, r.Matches, r.Page, r.Skipped, r.Items,
					r.P50MS, r.P95MS, r.P99MS, map[bool]string{true: "yes", false: "NO"}[r.UnderGoal])
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			verdict := "met"
			if !rep.GoalMet {
				verdict = "NOT met"
			}
			fmt.Fprintf(a.out, "goal p95 < %.0f ms for every filter and page: %s\n", rep.GoalMS, verdict)
			return nil
		},
	}
	o.add(cmd, "table or json")
	cmd.Flags().IntVar(&opts.Cases, "cases", 1_000_000, "cases to load")
	cmd.Flags().IntVar(&opts.Reps, "reps", 200, "reads of each page")
	cmd.Flags().IntVar(&opts.PageSize, "page-size", 50, "items per page (the queue's default)")
	return cmd
}
