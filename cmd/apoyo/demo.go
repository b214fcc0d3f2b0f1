package main

import (
	"fmt"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/apoyo-cdmx/apoyo/demo"
	"github.com/apoyo-cdmx/apoyo/platform/devstack"
)

func newDemoCmd(a *cli) *cobra.Command {
	var o output
	var n int
	var seed uint64
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a whole payment cycle end to end on the local stack (started here if none runs) and print a summary",
		Long: `demo starts the local stack in --data-dir (or uses the one already running
there), then: creates a programme, generates N realistic synthetic people
(valid CURPs, some with a TVRH or COMAR paper instead, ~40% paid by SPEI,
the rest by cash pickup or card, a few invalid rows and duplicates, a few
CLABEs the sandbox bank returns), imports them, launches a cycle, approves
as STyFE, SIBISO and SEDESA through the real approval path, checks documents,
lets the bank settle and return, puts new instruments on file for returned
payments, records referral outcomes, reconciles the bank's statements
(twice: the second run posts nothing) and verifies the ledger.
It exits 1 if anyone was paid twice or the bank's own record of who was
paid disagrees with apoyo's, the ledger does not verify, or a statement
line is unmatched.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.check("table", "json"); err != nil {
				return err
			}
			ctx := cmd.Context()
			if !cmd.Flags().Changed("log-level") && a.cfg.Log.Level == "info" {
				// The progress bar is the demo's output; routine logs would
				// scroll it away.
				a.cfg.Log.Level = "warn"
				a.log = newLogger(a.cfg.Log, a.errOut)
			}
			info, err := devstack.Discover(a.cfg.DataDir)
			if err != nil {
				return err
			}
			bankURL := a.cfg.Payments.BankURL
			var st *devstack.Stack
			if info == nil && (a.cfg.Database.URL == "" || a.cfg.Temporal.Address == "") {
				a.log.Info("starting the local stack", "data_dir", a.cfg.DataDir)
				if st, err = devstack.Start(ctx, a.cfg, a.log); err != nil {
					return err
				}
				defer st.Stop()
				info = &st.Info
			}
			if bankURL == "" && info != nil {
				bankURL = info.BankURL
			}
			s, err := a.open(ctx, true)
			if err != nil {
				return err
			}
			defer s.close()
			if st != nil {
				// The stack this demo started needs its worker; one that
				// was running (apoyo dev) has its own.
				stopWorker, err := a.startWorker(ctx, s, st)
				if err != nil {
					return err
				}
				defer stopWorker()
			}
			bar := progressbar.NewOptions(n, progressbar.OptionSetWriter(a.errOut), progressbar.OptionSetDescription("cases finished"),
				progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(200*time.Millisecond),
				progressbar.OptionClearOnFinish())
			sum, err := demo.Run(ctx, demo.Deps{App: s.app, Cases: s.cases,
				BankURL: bankURL}, demo.Options{Beneficiaries: n, Seed: seed, Timeout: timeout,
				Progress: func(done, total int) { bar.ChangeMax(max(total, 1)); _ = bar.Set(done) }})
			_ = bar.Finish()
			fmt.Fprintln(a.errOut)
			if err != nil {
				return err
			}
			if o.json() {
				if err := writeJSON(a.out, sum); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(a.out, "programme %s, cycle %s\n", sum.ProgramID, sum.CycleID)
				fmt.Fprintf(a.out, "enrolled %d (rejected rows %d, duplicates %d), identity reviews %d, ineligible %d\n",
					sum.Enrolled, sum.Rejected, sum.Duplicates, sum.IdentityReviewed, sum.Ineligible)
				fmt.Fprintf(a.out, "approved %d, paid %d, returned %d, re-paid %d\n", sum.Approved, sum.Paid, sum.Returned, sum.Repaid)
				fmt.Fprintf(a.out, "by the bank's own record: paid %d, paid twice %d, sent %s MXN\n", sum.BankPaid, sum.PaidTwice, sum.BankAmountSent)
				fmt.Fprintf(a.out, "disbursed %s MXN, referrals closed %d\n", sum.AmountDisbursed, sum.ReferralsClosed)
				fmt.Fprintf(a.out, "statements reconciled %d: unmatched %d, posted %d (second run posted %d)\n", sum.Statements, sum.Unmatched, sum.ReconcilePosted, sum.SecondRunPosted)
				fmt.Fprintf(a.out, "ledger verified %v; %.1f s (cycle %.1f s, %.1f beneficiaries/s)\n", sum.LedgerVerified, sum.Seconds, sum.CycleSeconds, sum.BeneficiariesPerS)
			}
			if !sum.BankAgrees() || !sum.LedgerVerified || sum.Unmatched > 0 {
				return errSilent
			}
			return nil
		},
	}
	o.add(cmd, "table or json")
	cmd.Flags().IntVar(&n, "beneficiaries", 100, "number of synthetic people")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "seed of the synthetic people")
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Minute, "give up after this long")
	return cmd
}
