package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/report"
)

func newReportCmd(a *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "report", Short: "Reports for publication, with small cells suppressed"}

	var o output
	var minCell int
	cycle := &cobra.Command{
		Use:   "cycle CYCLE_ID",
		Short: "A cycle's totals, rejections, money per fund, and people by sex, age, nationality, population group and alcaldía",
		Long: `cycle reports one payment cycle: people enrolled, rejected (by step, rule
and secretariat), approved, paid and returned; the money paid and returned
per fund next to the cycle's ledger balances; and the people disaggregated
by sex, age band on the cycle date, nationality region, population group
and alcaldía, one dimension at a time.

Counts from 1 to K-1 (--min-cell, default 5) are shown as <K, and further
cells are hidden (x) wherever a hidden count could otherwise be worked out
from the totals. Totals are exact. No personal data is read: the report
needs no encryption keys.

-o csv writes one row per dimension and category:
dimension,category,enrolled,approved,paid,amount_paid.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.check("table", "json", "csv"); err != nil {
				return err
			}
			// A report of aggregates reads no personal data and needs no
			// keys (a.open loads them only if it can).
			return a.withApp(cmd, false, func(ctx context.Context, s *services, who apoyo.Identity) error {
				r, err := s.app.CycleReport(cmd.Context(), who, args[0], apoyo.ReportOptions{MinCell: minCell})
				if err != nil {
					return err
				}
				switch o.format {
				case "json":
					return writeJSON(a.out, r)
				case "csv":
					return report.WriteCSV(a.out, r)
				}
				return report.WriteText(a.out, r)
			})
		},
	}
	o.add(cycle, "table, json or csv")
	cycle.Flags().IntVar(&minCell, "min-cell", report.DefaultMinCell, "K: counts from 1 to K-1 are not published (at least 2)")
	cmd.AddCommand(cycle)
	return cmd
}
