package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/spf13/cobra"
)

func newLedgerCmd(a *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "ledger", Short: "Audit the double-entry ledger (it never changes the journal; a good verify records where it got to)"}

	var vo output
	var full bool
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check that every transaction balances, balances equal their postings, balance rules hold and the hash chain is unbroken",
		Long: `verify re-derives everything the ledger promises from the journal. It exits 0
when all holds; otherwise it prints each problem, names the first bad
transaction, and exits 1.

Each programme's transactions form their own hash chain. By default only
what was appended since each chain's last good verification is re-hashed
(balances against postings and balance rules are always checked whole);
--full re-hashes every chain from its start. A good verification moves each
chain's checkpoint to the head it checked.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := vo.check("table", "json"); err != nil {
				return err
			}
			return a.withApp(cmd, false, func(ctx context.Context, s *services, who apoyo.Identity) error {
				rep, err := s.app.VerifyLedger(cmd.Context(), who, apoyo.LedgerVerifyOptions{Full: full})
				if err != nil {
					return err
				}
				if vo.json() {
					if err := writeJSON(a.out, rep); err != nil {
						return err
					}
				} else {
					fmt.Fprintf(a.out, "transactions %d in %d chain(s), postings %d, balances %d, chain 0 head %s\n", rep.Transactions, rep.Chains, rep.Postings, rep.Balances, short(rep.HeadHash))
					for _, p := range rep.Problems {
						fmt.Fprintf(a.out, "PROBLEM %-16s tx %-8d %s %s %s\n", p.Kind, p.TransactionID, p.Account, p.Fund, p.Detail)
					}
					if rep.OK {
						fmt.Fprintln(a.out, "ledger verified: OK")
					} else {
						fmt.Fprintf(a.out, "ledger verification FAILED: first bad transaction %d\n", rep.FirstBadTransaction)
					}
				}
				if !rep.OK {
					return fmt.Errorf("%w", errSilent)
				}
				return nil
			})
		},
	}
	vo.add(verify, "table or json")
	verify.Flags().BoolVar(&full, "full", false, "re-hash every chain from its start, not from its last good verification")

	var to output
	trial := &cobra.Command{
		Use:   "trial-balance",
		Short: "Every account's debits, credits and balance; per currency debits must equal credits",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := to.check("table", "json"); err != nil {
				return err
			}
			return a.withApp(cmd, false, func(ctx context.Context, s *services, who apoyo.Identity) error {
				tb, err := s.app.TrialBalance(cmd.Context(), who)
				if err != nil {
					return err
				}
				if to.json() {
					return writeJSON(a.out, tb)
				}
				tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', tabwriter.AlignRight)
				fmt.Fprintln(tw, "ACCOUNT\tTYPE\tCUR\tDEBITS\tCREDITS\tBALANCE\t")
				for _, ln := range tb.Lines {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", ln.Account, ln.Type, ln.Currency, ln.Debits.StringFixed(2), ln.Credits.StringFixed(2), ln.Balance.StringFixed(2))
				}
				for _, t := range tb.Totals {
					fmt.Fprintf(tw, "TOTAL\t\t%s\t%s\t%s\t\t\n", t.Currency, t.Debits.StringFixed(2), t.Credits.StringFixed(2))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				fmt.Fprintf(a.out, "balanced: %v\n", tb.Balanced)
				return nil
			})
		},
	}
	to.add(trial, "table or json")

	var so output
	var sopts apoyo.StatementOptions
	statement := &cobra.Command{
		Use:   "statement ACCOUNT",
		Short: "An account's postings with the running balance",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := so.check("table", "json"); err != nil {
				return err
			}
			return a.withApp(cmd, false, func(ctx context.Context, s *services, who apoyo.Identity) error {
				st, err := s.app.Statement(cmd.Context(), who, args[0], sopts)
				if err != nil {
					return err
				}
				if so.json() {
					return writeJSON(a.out, st)
				}
				fmt.Fprintf(a.out, "%s (%s, %s)\n", st.Account.Code, st.Account.Type, st.Account.Currency)
				tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "TX\tEFFECTIVE\tFUND\tDEBIT\tCREDIT\tBALANCE\tDESCRIPTION")
				for _, ln := range st.Lines {
					desc := ln.Description
					if ln.ReversesID != 0 {
						desc = fmt.Sprintf("%s (reverses %d)", desc, ln.ReversesID)
					}
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", ln.TransactionID, ln.EffectiveAt.Format("2006-01-02 15:04:05"), ln.Fund,
						ln.Debit.StringFixed(2), ln.Credit.StringFixed(2), ln.Balance.StringFixed(2), desc)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				fmt.Fprintf(a.out, "closing balance %s\n", st.Closing.StringFixed(2))
				return nil
			})
		},
	}
	so.add(statement, "table or json")
	statement.Flags().StringVar(&sopts.Fund, "fund", "", "only this fund")
	statement.Flags().IntVar(&sopts.Limit, "limit", 1000, "at most this many (newest) lines")

	var bo output
	var bf apoyo.BalanceFilter
	balances := &cobra.Command{
		Use:   "balances",
		Short: "Balances per account and fund",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := bo.check("table", "json"); err != nil {
				return err
			}
			return a.withApp(cmd, false, func(ctx context.Context, s *services, who apoyo.Identity) error {
				bs, err := s.app.Balances(cmd.Context(), who, bf)
				if err != nil {
					return err
				}
				if bo.json() {
					return writeJSON(a.out, bs)
				}
				tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ACCOUNT\tFUND\tTYPE\tBALANCE")
				for _, b := range bs {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", b.Account, b.Fund, b.Type, b.Balance.StringFixed(2))
				}
				return tw.Flush()
			})
		},
	}
	bo.add(balances, "table or json")
	balances.Flags().StringVar(&bf.AccountPrefix, "prefix", "", "accounts whose code starts with this")
	balances.Flags().StringVar(&bf.Fund, "fund", "", "only this fund")

	cmd.AddCommand(verify, trial, statement, balances)
	return cmd
}

func short(h string) string {
	if len(h) > 16 {
		return h[:16]
	}
	return h
}
