package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/casework"
	"github.com/apoyo-cdmx/apoyo/workflows"
)

func newCycleCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "cycle", Short: "Payment cycles"}
	var o output
	var prog, name, period, date string
	var lo casework.LaunchOptions
	launch := &cobra.Command{
		Use:   "launch",
		Short: "Launch a payment cycle: reserve its amount against the budget, then one case per enrolled beneficiary (launching again starts nothing new)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.check("table", "json"); err != nil {
				return err
			}
			day := time.Now().UTC().Truncate(24 * time.Hour)
			if date != "" {
				d, err := time.Parse("2006-01-02", date)
				if err != nil {
					return apoyo.Errorf(apoyo.EINVALID, "cli.date", "--date %q: use YYYY-MM-DD", date)
				}
				day = d
			}
			if period != "" {
				if _, err := time.Parse("2006-01", period); err != nil {
					return apoyo.Errorf(apoyo.EINVALID, "cli.period", "--period %q: use YYYY-MM", period)
				}
			}
			s, err := a.open(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer s.close()
			p, err := resolveProgram(cmd, s, prog)
			if err != nil {
				return err
			}
			res, err := s.work.LaunchCycle(cmd.Context(), p.ID, name, period, day, lo)
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
		},
	}
	o.add(launch, "table or json")
	launch.Flags().StringVar(&prog, "program", "", "programme id or name (required)")
	launch.Flags().StringVar(&name, "name", "", "cycle name (default: the period, or this month)")
	launch.Flags().StringVar(&period, "period", "", "period paid, YYYY-MM")
	launch.Flags().StringVar(&date, "date", "", "cycle date for eligibility (age), YYYY-MM-DD (default today)")
	launch.Flags().IntVar(&lo.StartWindow, "start-window", 100, "case starts in flight at most")
	launch.Flags().IntVar(&lo.MaxActive, "max-active", 0, "unfinished cases at most (0: no bound; cases wait days for approvers)")
	_ = launch.MarkFlagRequired("program")
	cmd.AddCommand(launch)
	cmd.AddCommand(newCycleControlCmds(a)...)
	return cmd
}

func newApproveCmd(a *app) *cobra.Command {
	var o output
	var sec, reason, approver, cycle string
	var reject, allPending bool
	var concurrency int
	cmd := &cobra.Command{
		Use:   "approve [CASE_ID...]",
		Short: "Approve (or --reject with --reason) cases for your secretariat, one by one or --cycle C --all-pending",
		Long: `approve records your secretariat's vote on each case. A secretariat votes
once per case; a changed vote is refused. A rejection needs a reason and
ends the case without payment.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.check("table", "json"); err != nil {
				return err
			}
			secretariat := apoyo.Secretariat(strings.ToUpper(sec))
			if !secretariat.Valid() {
				return apoyo.Errorf(apoyo.EINVALID, "cli.secretariat", "--secretariat %q: use STYFE, SIBISO or SEDESA", sec)
			}
			if allPending == (len(args) > 0) || (allPending && cycle == "") {
				return apoyo.Errorf(apoyo.EINVALID, "cli.usage", "give case ids, or --cycle C --all-pending")
			}
			s, err := a.open(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer s.close()
			if allPending {
				res, err := s.work.ApprovePending(cmd.Context(), cycle, apoyo.ApprovalVote{Secretariat: secretariat, Approve: !reject, Reason: reason, Approver: approver}, concurrency)
				if err != nil {
					return err
				}
				if o.json() {
					return writeJSON(a.out, res)
				}
				fmt.Fprintf(a.out, "%s %s %d cases (%d skipped)\n", secretariat, voteLabel(!reject), res.Acted, res.Skipped)
				for _, e := range res.Errors {
					fmt.Fprintln(a.errOut, e)
				}
				return nil
			}
			var failed int
			var states []apoyo.CaseState
			for _, id := range args {
				st, err := s.work.Approve(cmd.Context(), id, apoyo.ApprovalVote{Secretariat: secretariat, Approve: !reject, Reason: reason, Approver: approver})
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
		},
	}
	o.add(cmd, "table or json")
	cmd.Flags().StringVar(&sec, "secretariat", "", "STYFE, SIBISO or SEDESA (required)")
	cmd.Flags().BoolVar(&reject, "reject", false, "reject instead of approve")
	cmd.Flags().StringVar(&reason, "reason", "", "reason (required to reject)")
	cmd.Flags().StringVar(&approver, "approver", "", "your user id, for the audit trail")
	cmd.Flags().StringVar(&cycle, "cycle", "", "with --all-pending: the cycle")
	cmd.Flags().BoolVar(&allPending, "all-pending", false, "act on every case of --cycle waiting for this secretariat")
	cmd.Flags().IntVar(&concurrency, "concurrency", 32, "with --all-pending: updates in flight")
	_ = cmd.MarkFlagRequired("secretariat")
	return cmd
}

func voteLabel(approve bool) string {
	if approve {
		return "approved"
	}
	return "rejected"
}

func newCaseCmd(a *app) *cobra.Command {
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
			s, err := a.open(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer s.close()
			st, err := s.work.Case(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if so.json() {
				return writeJSON(a.out, st)
			}
			printCase(a, st)
			return nil
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
			s, err := a.open(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer s.close()
			ps, err := s.cases.ListCases(cmd.Context(), f)
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
		},
	}
	lo.add(list, "table or json")
	list.Flags().StringVar(&f.CycleID, "cycle", "", "cycle id")
	list.Flags().StringVar((*string)(&f.Step), "step", "", "identity, approval, payment, referrals, done")
	list.Flags().StringVar(&f.WaitingOn, "waiting-on", "", "STYFE, SIBISO, SEDESA or caseworker")
	list.Flags().BoolVar(&f.Overdue, "overdue", false, "only overdue cases")
	list.Flags().IntVar(&f.Limit, "limit", 1000, "at most this many")

	var vo output
	var decision, reason, docType, docNumber, worker string
	verify := &cobra.Command{
		Use:   "verify-identity CASE_ID",
		Short: "Decide on a document under review: --decision verified|rejected|new_document",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.caseAction(cmd, &vo, func(ctx context.Context, w *casework.Service) (apoyo.CaseState, error) {
				return w.DecideIdentity(ctx, args[0], workflows.IdentityDecision{Decision: decision, Reason: reason, Caseworker: worker},
					apoyo.IDDocumentType(docType), docNumber)
			}, func(st apoyo.CaseState) string {
				return fmt.Sprintf("%s  identity %s  step %s", args[0], decision, st.Step)
			})
		},
	}
	vo.add(verify, "table or json")
	verify.Flags().StringVar(&decision, "decision", "verified", "verified, rejected or new_document")
	verify.Flags().StringVar(&reason, "reason", "", "reason (required to reject)")
	verify.Flags().StringVar(&docType, "document-type", "", "with new_document: the new document's type")
	verify.Flags().StringVar(&docNumber, "document-number", "", "with new_document: its number")
	verify.Flags().StringVar(&worker, "caseworker", "", "your user id")

	var io output
	var method, clabe, card string
	instrument := &cobra.Command{
		Use:   "set-payment-instrument CASE_ID",
		Short: "Put a new payment instrument on file for a case whose payment came back; the case pays again",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.caseAction(cmd, &io, func(ctx context.Context, w *casework.Service) (apoyo.CaseState, error) {
				return w.SetPaymentInstrument(ctx, args[0], apoyo.Rail(method), clabe, card, worker)
			}, func(apoyo.CaseState) string {
				return fmt.Sprintf("%s  new %s instrument on file; paying again", args[0], method)
			})
		},
	}
	io.add(instrument, "table or json")
	instrument.Flags().StringVar(&method, "method", "spei", "spei, cash_pickup or card")
	instrument.Flags().StringVar(&clabe, "clabe", "", "CLABE (with spei)")
	instrument.Flags().StringVar(&card, "card-number", "", "card number (with card)")
	instrument.Flags().StringVar(&worker, "caseworker", "", "your user id")

	var ro output
	var retryReason string
	retry := &cobra.Command{
		Use:   "retry CASE_ID",
		Short: "Run a case's failed step again (a step_failed task), under the same keys: nothing is done twice",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.caseAction(cmd, &ro, func(ctx context.Context, w *casework.Service) (apoyo.CaseState, error) {
				return w.RetryStep(ctx, args[0], worker, retryReason)
			}, func(st apoyo.CaseState) string {
				return fmt.Sprintf("%s  retrying step %s", args[0], st.Step)
			})
		},
	}
	ro.add(retry, "table or json")
	retry.Flags().StringVar(&retryReason, "reason", "", "what was fixed (no personal data)")
	retry.Flags().StringVar(&worker, "caseworker", "", "your user id")

	var to output
	var cycle string
	tasks := &cobra.Command{
		Use:   "tasks",
		Short: "Open caseworker tasks: documents to check, overdue approvals, returned payments, referrals with no outcome",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.open(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer s.close()
			ts, err := s.cases.OpenTasks(cmd.Context(), cycle, 1000)
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
		},
	}
	to.add(tasks, "table or json")
	tasks.Flags().StringVar(&cycle, "cycle", "", "cycle id")

	cmd.AddCommand(show, list, verify, instrument, retry, tasks)
	return cmd
}

func printCase(a *app, st apoyo.CaseState) {
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
		out := r.Outcome
		if out == "" {
			out = "open"
		}
		fmt.Fprintf(a.out, "referral  %-22s %-8s %-10s %s\n", r.ID, r.Secretariat, out, r.Service)
	}
}

func newReferralCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "referral", Short: "Follow-up referrals"}
	var o output
	var outcome, worker, note string
	oc := &cobra.Command{
		Use:   "outcome CASE_ID REFERRAL_ID",
		Short: "Record a referral's outcome: --outcome attended|not_attended|declined",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.caseAction(cmd, &o, func(ctx context.Context, w *casework.Service) (apoyo.CaseState, error) {
				return w.RecordReferralOutcome(ctx, args[0], workflows.ReferralOutcomeInput{ReferralID: args[1], Outcome: apoyo.ReferralOutcome(outcome), Caseworker: worker, Note: note})
			}, func(st apoyo.CaseState) string {
				return fmt.Sprintf("%s  referral %s %s  step %s", args[0], args[1], outcome, st.Step)
			})
		},
	}
	o.add(oc, "table or json")
	oc.Flags().StringVar(&outcome, "outcome", "", "attended, not_attended or declined (required)")
	oc.Flags().StringVar(&worker, "caseworker", "", "your user id")
	oc.Flags().StringVar(&note, "note", "", "note (no personal data)")
	_ = oc.MarkFlagRequired("outcome")
	cmd.AddCommand(oc)
	return cmd
}

// caseAction runs one caseworker action on a case and prints the case's
// new state: a one-line summary, or the whole state with -o json.
func (a *app) caseAction(cmd *cobra.Command, o *output, act func(context.Context, *casework.Service) (apoyo.CaseState, error), line func(apoyo.CaseState) string) error {
	if err := o.check("table", "json"); err != nil {
		return err
	}
	s, err := a.open(cmd.Context(), true)
	if err != nil {
		return err
	}
	defer s.close()
	st, err := act(cmd.Context(), s.work)
	if err != nil {
		return err
	}
	if o.json() {
		return writeJSON(a.out, st)
	}
	fmt.Fprintln(a.out, line(st))
	return nil
}
