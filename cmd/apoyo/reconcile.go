package main

import (
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/apoyo-cdmx/apoyo"
)

func newReconcileCmd(a *cli) *cobra.Command {
	var o output
	var file string
	cmd := &cobra.Command{
		Use:   "reconcile --statement FILE",
		Short: "Match the bank's settlement statement against the ledger and the payment records, and book what it proves",
		Long: `reconcile reads a daily settlement statement (the CSV the bank serves at
/v1/statements/{date}.csv; "-" reads standard input) and puts every line in
one class: matched, amount_mismatch, unknown_in_statement, duplicate,
state_mismatch or returned_after_settlement; payments booked on the
statement's operation dates that have no line in it are
missing_from_statement.

Matched lines book their settlement or return in the ledger with the
worker's own idempotency keys, and a return after settlement moves the money
back (late-return:…) and raises a caseworker task, so reconciling the same
statement twice posts nothing the second time. A statement that does not
parse is refused whole, naming row and field, and nothing is posted.

Exit status: 0 when nothing is unmatched (returns after settlement are
handled, not unmatched), 1 when something is, 2 for a malformed statement.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.check("table", "json"); err != nil {
				return err
			}
			in := os.Stdin
			if file != "-" {
				f, err := os.Open(file)
				if err != nil {
					return apoyo.Errorf(apoyo.EINVALID, "cli.statement", "--statement: %v", err)
				}
				defer f.Close()
				in = f
			}
			// Cases whose payment came back after it settled are reopened
			// through Temporal, so that they pay again. Without Temporal
			// (or its keys) reconciliation still books everything and
			// raises the tasks; the reopening happens at the next run,
			// which hands every such return over again.
			s, who, err := a.act(cmd.Context(), false)
			if err != nil {
				return err
			}
			if err := a.connectTemporal(s); err != nil {
				fmt.Fprintf(a.errOut, "warning: %v; cases with a return after settlement are not reopened until reconciliation runs with Temporal\n", err)
			}
			defer s.close()
			rep, err := s.app.Reconcile(cmd.Context(), who, file, in)
			if err != nil {
				return err
			}
			if o.json() {
				if err := writeJSON(a.out, rep); err != nil {
					return err
				}
			} else if err := printReconcile(a, rep); err != nil {
				return err
			}
			if !rep.OK() {
				return fmt.Errorf("%w", errSilent)
			}
			return nil
		},
	}
	o.add(cmd, "table or json")
	cmd.Flags().StringVar(&file, "statement", "", `settlement statement CSV ("-" for standard input)`)
	_ = cmd.MarkFlagRequired("statement")
	return cmd
}

func printReconcile(a *cli, rep apoyo.ReconcileReport) error {
	fmt.Fprintf(a.out, "statement %s (sha256 %s), operation dates %v, %d lines\n", rep.Statement, short(rep.SHA256), rep.OperationDates, rep.Lines)
	if rep.SeenBefore {
		fmt.Fprintf(a.out, "this file was reconciled before (runs %v): nothing already booked is booked again\n", rep.PreviousImports)
	}
	tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	for _, c := range apoyo.FindingClasses {
		fmt.Fprintf(tw, "%s\t%d\n", c, rep.Counts[c])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(a.out, "posted %d new ledger transactions\n", rep.Posted)
	tw = tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	n := 0
	for _, ps := range rep.Problems {
		n += len(ps)
	}
	if n > 0 {
		fmt.Fprintln(tw, "CLASS\tLINE\tTRACKING KEY\tORDER\tAMOUNT\tEXPECTED\tMESSAGE")
	}
	for _, c := range apoyo.FindingClasses {
		for _, p := range rep.Problems[c] {
			line := "-"
			if p.Line > 0 {
				line = fmt.Sprint(p.Line)
			}
			fmt.Fprintf(tw, "%s\tline %s\t%s\t%s\t%s\t%s\t%s\n", c, line, p.TrackingKey, p.OrderID, p.Amount, p.ExpectedAmount, p.Message)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if rep.OK() {
		fmt.Fprintln(a.out, "reconciled: OK")
	} else {
		fmt.Fprintf(a.out, "reconciliation FAILED: %d unmatched\n", rep.Unmatched)
	}
	return nil
}
