package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/apoyo-cdmx/apoyo"
)

func newCycleCmd(a *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "cycle", Short: "Payment cycles"}
	var o output
	var r apoyo.LaunchRequest
	var date string
	launch := &cobra.Command{
		Use:   "launch",
		Short: "Launch a payment cycle: reserve its amount against the budget, then one case per enrolled beneficiary (launching again starts nothing new)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.check("table", "json"); err != nil {
				return err
			}
			if date != "" {
				d, err := time.Parse("2006-01-02", date)
				if err != nil {
					return apoyo.Errorf(apoyo.EINVALID, "cli.date", "--date %q: use YYYY-MM-DD", date)
				}
				r.CycleDate = d
			}
			return a.withApp(cmd, true, func(ctx context.Context, s *services, who apoyo.Identity) error {
				res, err := s.app.LaunchCycle(cmd.Context(), who, r)
				if err != nil {
					return err
				}
				if o.json() {
					return writeJSON(a.out, res)
				}
				verb := "launched"
				if !res.Created {
					verb = "already launched"
				}
				if res.WorkflowStatus == "completed" {
					verb += ", and finished"
				}
				fmt.Fprintf(a.out, "cycle %s (%s) %s: %d cases, %s MXN reserved\n", res.Cycle.ID, res.Cycle.Name, verb, res.Cases, res.Reserved.StringFixed(2))
				return nil
			})
		},
	}
	o.add(launch, "table or json")
	launch.Flags().StringVar(&r.ProgramID, "program", "", "programme id or name (required)")
	launch.Flags().StringVar(&r.Name, "name", "", "cycle name (default: the period, or this month)")
	launch.Flags().StringVar(&r.Period, "period", "", "period paid, YYYY-MM")
	launch.Flags().StringVar(&date, "date", "", "cycle date for eligibility (age), YYYY-MM-DD (default today)")
	launch.Flags().IntVar(&r.StartWindow, "start-window", 100, "case starts in flight at most")
	launch.Flags().IntVar(&r.Shape, "shape", 0, "workflow shape: 3 (default: cases by page, waiting by signal) or 2 (the earlier shape, for comparison)")
	launch.Flags().IntVar(&r.MaxActive, "max-active", 0, "unfinished cases at most (0: no bound; cases wait days for approvers)")
	_ = launch.MarkFlagRequired("program")

	var ao output
	approvals := &cobra.Command{
		Use:   "approvals CYCLE_ID",
		Short: "The signatures on the cycle's approval lists: who signed which list (hash, size, total) and when",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := ao.check("table", "json"); err != nil {
				return err
			}
			return a.withApp(cmd, false, func(ctx context.Context, s *services, who apoyo.Identity) error {
				recs, err := s.app.RosterApprovals(cmd.Context(), who, args[0])
				if err != nil {
					return err
				}
				if ao.json() {
					return writeJSON(a.out, recs)
				}
				tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "SIGNED AT\tSECRETARIAT\tAPPROVER\tCASES\tTOTAL\tLIST HASH")
				for _, r := range recs {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", r.ApprovedAt.UTC().Format(time.RFC3339), r.Secretariat, r.ApproverName, r.Size, r.Total.StringFixed(2), r.Hash)
				}
				return tw.Flush()
			})
		},
	}
	ao.add(approvals, "table or json")

	cmd.AddCommand(launch, approvals)
	cmd.AddCommand(newCycleControlCmds(a)...)
	return cmd
}

func newApproveCmd(a *cli) *cobra.Command {
	var o output
	var sec, reason, cycle, sign string
	var reject, allPending, list bool
	cmd := &cobra.Command{
		Use:   "approve [CASE_ID...]",
		Short: "Approve for your secretariat: sign the cycle's pending list (--cycle C --list, then --sign HASH), or vote on single cases",
		Long: `Approvers sign lists, as treasuries do. --cycle C --list shows the cases of
cycle C waiting for your secretariat that you may decide, with their count,
total and the list's hash; --cycle C --sign HASH approves exactly that list
(if it changed meanwhile, nothing is approved: list it again). --all-pending
lists and signs in one go, printing what it signed. Cases you enrolled or
handled as a caseworker are left out of your list: another approver of your
secretariat decides them.

With case ids, your secretariat votes on each case: for exceptions, and to
reject (--reject --reason). A secretariat votes once per case; a changed
vote is refused. Your secretariat is your identity's: --secretariat, if
given, must match it.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.check("table", "json"); err != nil {
				return err
			}
			modes := 0
			for _, on := range []bool{list, sign != "", allPending, len(args) > 0} {
				if on {
					modes++
				}
			}
			if modes != 1 || (len(args) == 0 && cycle == "") {
				return apoyo.Errorf(apoyo.EINVALID, "cli.usage", "give --cycle C with one of --list, --sign HASH or --all-pending; or case ids")
			}
			if reject && len(args) == 0 {
				return apoyo.Errorf(apoyo.EINVALID, "cli.usage", "--reject is per case, with a --reason: lists are signed to approve")
			}
			return a.withApp(cmd, true, func(ctx context.Context, s *services, who apoyo.Identity) error {
				if sec != "" && apoyo.Secretariat(strings.ToUpper(sec)) != who.Secretariat {
					return apoyo.ErrForbidden.With("--secretariat %s: %s approves for %q only", strings.ToUpper(sec), who.Name, who.Secretariat)
				}
				switch {
				case list:
					l, err := s.app.PendingRoster(ctx, who, cycle)
					if err != nil {
						return err
					}
					if o.json() {
						return writeJSON(a.out, l)
					}
					printRoster(a, l)
					return nil
				case sign != "" || allPending:
					hash := sign
					if allPending {
						l, err := s.app.PendingRoster(ctx, who, cycle)
						if err != nil {
							return err
						}
						if l.Size == 0 {
							fmt.Fprintf(a.out, "%s: nothing waits for %s in cycle %s\n", who.Name, who.Secretariat, cycle)
							return nil
						}
						if !o.json() {
							printRoster(a, l)
						}
						hash = l.Hash
					}
					rec, err := s.app.ApproveRoster(ctx, who, cycle, hash)
					if err != nil {
						return err
					}
					if o.json() {
						return writeJSON(a.out, rec)
					}
					fmt.Fprintf(a.out, "%s signed for %s: %d cases, %s MXN, list %s; %d votes recorded, %d skipped\n",
						rec.ApproverName, rec.Secretariat, rec.Size, rec.Total.StringFixed(2), rec.Hash, rec.Voted, rec.Skipped)
					if rec.Queued > 0 {
						fmt.Fprintf(a.out, "%d cases now have all their approvals: the cycle starts their payment within a minute\n", rec.Queued)
					}
					for _, e := range rec.Errors {
						fmt.Fprintln(a.errOut, e)
					}
					return nil
				}
				var failed int
				var states []apoyo.CaseState
				for _, id := range args {
					st, err := s.app.Vote(ctx, who, id, apoyo.VoteRequest{Approve: !reject, Reason: reason})
					if err != nil {
						failed++
						fmt.Fprintf(a.errOut, "%s: %v\n", id, err)
						continue
					}
					states = append(states, st)
					if !o.json() {
						fmt.Fprintf(a.out, "%s  %s  step %s  waiting on %s\n", id, voteLabel(!reject), st.Step, strings.Join(st.WaitingOn, ","))
					}
				}
				if o.json() {
					if err := writeJSON(a.out, states); err != nil {
						return err
					}
				}
				if failed > 0 {
					return fmt.Errorf("%d of %d cases not updated", failed, len(args))
				}
				return nil
			})
		},
	}
	o.add(cmd, "table or json")
	cmd.Flags().StringVar(&sec, "secretariat", "", "your secretariat (optional: checked against your identity)")
	cmd.Flags().BoolVar(&reject, "reject", false, "reject the given cases instead of approving them")
	cmd.Flags().StringVar(&reason, "reason", "", "reason (required to reject)")
	cmd.Flags().StringVar(&cycle, "cycle", "", "the cycle whose pending list to show or sign")
	cmd.Flags().BoolVar(&list, "list", false, "show the pending list for your secretariat, with its hash")
	cmd.Flags().StringVar(&sign, "sign", "", "approve the pending list with this hash")
	cmd.Flags().BoolVar(&allPending, "all-pending", false, "list the pending cases and sign that list")
	return cmd
}

func printRoster(a *cli, l apoyo.RosterList) {
	fmt.Fprintf(a.out, "cycle %s, %s: %d cases, %s MXN, list hash %s\n", l.CycleID, l.Secretariat, l.Size, l.Total.StringFixed(2), l.Hash)
	if l.Excluded > 0 {
		fmt.Fprintf(a.out, "%d more cases wait for %s that you enrolled or handled: another approver decides them\n", l.Excluded, l.Secretariat)
	}
	for _, line := range l.Lines {
		fmt.Fprintf(a.out, "  %s  %s\n", line.CaseID, line.Amount.StringFixed(2))
	}
}

func voteLabel(approve bool) string {
	if approve {
		return "approved"
	}
	return "rejected"
}

func newCaseCmd(a *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "case", Short: "Look at and move on individual cases"}

	var so output
	show := &cobra.Command{
		Use:   "show CASE_ID",
		Short: "A case's step timeline, votes, payments and referrals",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := so.check("table", "json"); err != nil {
				return err
			}
			return a.withApp(cmd, true, func(ctx context.Context, s *services, who apoyo.Identity) error {
				d, err := s.app.Case(cmd.Context(), who, args[0])
				if err != nil {
					return err
				}
				if so.json() {
					return writeJSON(a.out, d.State)
				}
				printCase(a, d.State)
				return nil
			})
		},
	}
	so.add(show, "table or json")

	var lo output
	var f apoyo.CaseFilter
	list := &cobra.Command{
		Use:   "list",
		Short: "Find cases: by cycle, step, who they wait on, overdue",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withApp(cmd, false, func(ctx context.Context, s *services, who apoyo.Identity) error {
				ps, err := s.app.Cases(cmd.Context(), who, f)
				if err != nil {
					return err
				}
				if lo.json() {
					return writeJSON(a.out, ps)
				}
				tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "CASE\tSTEP\tSTATUS\tWAITING ON\tOVERDUE\tOUTCOME")
				for _, p := range ps {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%s\n", p.CaseID, p.Step, p.Status, strings.Join(p.WaitingOn, ","), p.Overdue, p.Outcome)
				}
				return tw.Flush()
			})
		},
	}
	lo.add(list, "table or json")
	list.Flags().StringVar(&f.CycleID, "cycle", "", "cycle id")
	list.Flags().StringVar((*string)(&f.Step), "step", "", "identity, approval, payment, referrals, done")
	list.Flags().StringVar(&f.WaitingOn, "waiting-on", "", "STYFE, SIBISO, SEDESA or caseworker")
	list.Flags().BoolVar(&f.Overdue, "overdue", false, "only overdue cases")
	list.Flags().IntVar(&f.Limit, "limit", 1000, "at most this many")

	var vo output
	var d apoyo.IdentityDecision
	verify := &cobra.Command{
		Use:   "verify-identity CASE_ID",
		Short: "Decide on a document under review: --decision verified|rejected|new_document",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.caseAction(cmd, &vo, func(ctx context.Context, s *services, who apoyo.Identity) (apoyo.CaseState, error) {
				return s.app.DecideIdentity(ctx, who, args[0], d)
			}, func(st apoyo.CaseState) string {
				return fmt.Sprintf("%s  identity %s  step %s", args[0], d.Decision, st.Step)
			})
		},
	}
	vo.add(verify, "table or json")
	verify.Flags().StringVar((*string)(&d.Decision), "decision", "verified", "verified, rejected or new_document")
	verify.Flags().StringVar(&d.Reason, "reason", "", "reason (required to reject)")
	verify.Flags().StringVar((*string)(&d.DocumentType), "document-type", "", "with new_document: the new document's type")
	verify.Flags().StringVar(&d.DocumentNumber, "document-number", "", "with new_document: its number")

	var io output
	var in apoyo.InstrumentRequest
	instrument := &cobra.Command{
		Use:   "set-payment-instrument CASE_ID",
		Short: "Put a new payment instrument on file for a case whose payment came back; the case pays again",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.caseAction(cmd, &io, func(ctx context.Context, s *services, who apoyo.Identity) (apoyo.CaseState, error) {
				return s.app.SetPaymentInstrument(ctx, who, args[0], in)
			}, func(apoyo.CaseState) string {
				return fmt.Sprintf("%s  new %s instrument on file; paying again", args[0], in.Method)
			})
		},
	}
	io.add(instrument, "table or json")
	instrument.Flags().StringVar((*string)(&in.Method), "method", "spei", "spei, cash_pickup or card")
	instrument.Flags().StringVar(&in.CLABE, "clabe", "", "CLABE (with spei)")
	instrument.Flags().StringVar(&in.CardNumber, "card-number", "", "card number (with card)")
	instrument.Flags().BoolVar(&in.SharedConfirmed, "shared-confirmed", false, "the CLABE is on file for another beneficiary too, and you checked it is right")

	var ro output
	var retryReason string
	retry := &cobra.Command{
		Use:   "retry CASE_ID",
		Short: "Run a case's failed step again (a step_failed task), under the same keys: nothing is done twice",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.caseAction(cmd, &ro, func(ctx context.Context, s *services, who apoyo.Identity) (apoyo.CaseState, error) {
				return s.app.RetryStep(ctx, who, args[0], retryReason)
			}, func(st apoyo.CaseState) string {
				return fmt.Sprintf("%s  retrying step %s", args[0], st.Step)
			})
		},
	}
	ro.add(retry, "table or json")
	retry.Flags().StringVar(&retryReason, "reason", "", "what was fixed (required; no personal data)")

	var co output
	var cancelReason string
	cancelCase := &cobra.Command{
		Use:   "cancel CASE_ID",
		Short: "Stop a case that has not been paid (a payment already sent is followed to its end); its money goes back",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.caseAction(cmd, &co, func(ctx context.Context, s *services, who apoyo.Identity) (apoyo.CaseState, error) {
				return s.app.CancelCase(ctx, who, args[0], cancelReason)
			}, func(st apoyo.CaseState) string {
				return fmt.Sprintf("%s  cancel sent  step %s", args[0], st.Step)
			})
		},
	}
	co.add(cancelCase, "table or json")
	cancelCase.Flags().StringVar(&cancelReason, "reason", "", "why (required; no personal data)")

	var to output
	var tf apoyo.TaskFilter
	tasks := &cobra.Command{
		Use:   "tasks",
		Short: "Open caseworker tasks: documents to check, overdue approvals, returned payments, referrals with no outcome",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withApp(cmd, false, func(ctx context.Context, s *services, who apoyo.Identity) error {
				ts, err := s.app.Tasks(cmd.Context(), who, tf)
				if err != nil {
					return err
				}
				if to.json() {
					return writeJSON(a.out, ts)
				}
				tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "CASE\tTASK\tSINCE\tDETAIL")
				for _, t := range ts {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.CaseID, t.Kind, t.CreatedAt.Format(time.RFC3339), t.Detail)
				}
				return tw.Flush()
			})
		},
	}
	to.add(tasks, "table or json")
	tasks.Flags().StringVar(&tf.CycleID, "cycle", "", "cycle id")
	tasks.Flags().StringVar((*string)(&tf.Kind), "kind", "", "only tasks of this kind")
	tasks.Flags().IntVar(&tf.Limit, "limit", 1000, "at most this many")

	cmd.AddCommand(show, list, verify, instrument, retry, cancelCase, tasks)
	return cmd
}

func printCase(a *cli, st apoyo.CaseState) {
	fmt.Fprintf(a.out, "case      %s\nstep      %s (%s)\n", st.CaseID, st.Step, st.Status)
	if len(st.WaitingOn) > 0 {
		fmt.Fprintf(a.out, "waiting   %s%s\n", strings.Join(st.WaitingOn, ", "), map[bool]string{true: "  OVERDUE"}[st.Overdue])
	}
	if st.Outcome != "" {
		fmt.Fprintf(a.out, "outcome   %s: %s\n", st.Outcome, st.Reason)
	}
	tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nTIME\tSTEP\tOUTCOME\tBY\tREASON")
	for _, e := range st.Timeline {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.At.Format("2006-01-02 15:04:05"), e.Step, e.Outcome, e.Actor, e.Reason)
	}
	_ = tw.Flush()
	for _, p := range st.Payments {
		fmt.Fprintf(a.out, "payment   %s %s %s %s\n", p.OrderID, p.Rail, p.State, p.Reason)
	}
	for _, r := range st.Referrals {
		out := string(r.Outcome)
		if out == "" {
			out = "open"
		}
		fmt.Fprintf(a.out, "referral  %-22s %-8s %-10s %s\n", r.ID, r.Secretariat, out, r.Service)
	}
}

func newReferralCmd(a *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "referral", Short: "Follow-up referrals"}
	var o output
	var outcome, note string
	oc := &cobra.Command{
		Use:   "outcome CASE_ID REFERRAL_ID",
		Short: "Record a referral's outcome: --outcome attended|not_attended|declined",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.caseAction(cmd, &o, func(ctx context.Context, s *services, who apoyo.Identity) (apoyo.CaseState, error) {
				return s.app.RecordReferralOutcome(ctx, who, args[0], apoyo.ReferralOutcomeRequest{ReferralID: args[1], Outcome: apoyo.ReferralOutcome(outcome), Note: note})
			}, func(st apoyo.CaseState) string {
				return fmt.Sprintf("%s  referral %s %s  step %s", args[0], args[1], outcome, st.Step)
			})
		},
	}
	o.add(oc, "table or json")
	oc.Flags().StringVar(&outcome, "outcome", "", "attended, not_attended or declined (required)")
	oc.Flags().StringVar(&note, "note", "", "note (no personal data)")
	_ = oc.MarkFlagRequired("outcome")
	cmd.AddCommand(oc)
	return cmd
}

// caseAction runs one caseworker action on a case, as the acting
// identity, and prints the case's new state: a one-line summary, or the
// whole state with -o json.
func (a *cli) caseAction(cmd *cobra.Command, o *output, act func(context.Context, *services, apoyo.Identity) (apoyo.CaseState, error), line func(apoyo.CaseState) string) error {
	if err := o.check("table", "json"); err != nil {
		return err
	}
	return a.withApp(cmd, true, func(ctx context.Context, s *services, who apoyo.Identity) error {
		st, err := act(ctx, s, who)
		if err != nil {
			return err
		}
		if o.json() {
			return writeJSON(a.out, st)
		}
		fmt.Fprintln(a.out, line(st))
		return nil
	})
}
