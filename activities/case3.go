package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/sync/errgroup"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/cases"
	"github.com/apoyo-cdmx/apoyo/payment"
	"github.com/apoyo-cdmx/apoyo/program"
	"github.com/apoyo-cdmx/apoyo/workflows"
)

// DefaultAskAfter is how long the cycle's sweep leaves an order without a
// final answer before it asks the bank itself (a quarter of the order's
// age, at least this): callbacks are best effort.
const DefaultAskAfter = 30 * time.Second

// SendPayment sends one attempt's order (see Disburse for the ledger's
// steps and the checks before an order may leave). A final answer on the
// spot (a refusal, or a retry that finds the order settled) is recorded
// and returned. Otherwise the activity stays open without its worker
// (activity.ErrResultPending): FinishPayment completes it by its task
// token when the bank's answer comes. No slot is held and no heartbeat
// billed while the bank decides, however long a cash pickup waits. Its
// first write says that it waits, so the cycle's sweep sees every attempt
// that does, even one whose worker died before the order left.
func (a *Activities) SendPayment(ctx context.Context, in workflows.DisburseInput) (apoyo.PaymentResult, error) {
	orderID := OrderID(in.CycleID, in.BeneficiaryID, in.Attempt)
	if activity.IsActivity(ctx) {
		if err := a.Cases.Wait(ctx, cases.PaymentWait{OrderID: orderID, CaseID: apoyo.CaseID(in.CycleID, in.BeneficiaryID), CycleID: in.CycleID,
			TaskToken: activity.GetInfo(ctx).TaskToken, CaseVersion: in.Version, Referrals: len(in.Referrals)}); err != nil {
			return apoyo.PaymentResult{}, temporalError(err)
		}
	}
	o, err := a.sendOrder(ctx, in, true)
	if err != nil {
		return apoyo.PaymentResult{}, temporalError(err)
	}
	if o.early != nil { // no order left: the answer is this result
		return *o.early, temporalError(a.Cases.Delivered(ctx, orderID))
	}
	// The case left approval (its workflow writes no projection of its own
	// there): it now waits on the bank. The version is the case's before
	// the answer's two events; the answer's record outranks it.
	if err := a.Cases.Save(ctx, apoyo.Case{ProgramID: in.ProgramID, CycleID: in.CycleID, BeneficiaryID: in.BeneficiaryID,
		Version: in.Version - 2, Step: apoyo.StepPayment, Status: apoyo.CaseWaiting, WaitingOn: []string{apoyo.WaitingOnBank}}); err != nil {
		return apoyo.PaymentResult{}, temporalError(err)
	}
	if !o.st.Final() {
		return apoyo.PaymentResult{}, activity.ErrResultPending
	}
	res, err := a.finish(ctx, o, in.Version, len(in.Referrals))
	if err != nil {
		return res, temporalError(err)
	}
	return res, temporalError(a.Cases.Delivered(ctx, orderID)) // the answer is this result
}

// ErrNotSent: an attempt that waits on an order the bank never received
// (its worker died before the order left); failed so that Temporal runs
// the attempt again.
var ErrNotSent = apoyo.Errorf(apoyo.EUNAVAILABLE, "payment.not_sent", "the order never reached the bank")

// FinishPayment records an order's final answer, if the bank has one, and
// completes the SendPayment attempt that waits on it: the ledger, the
// payment's row and the case's projection first, the completion last, so a
// case never hears of money that is not booked. The bank is asked for the
// order's status: a callback only says that something changed, so a
// forged or stale one changes nothing. An order the bank does not know,
// whose send cannot be under way any more, fails the attempt, which
// Temporal then runs again (same order id and keys: nothing is paid
// twice). Running it again books nothing twice and completes nothing
// twice. final is false while the order waits at the bank. Errors:
// cases.ErrWaitNotFound (no case waits on the order), payment.ErrUnavailable.
func (a *Activities) FinishPayment(ctx context.Context, orderID string) (final bool, err error) {
	w, err := a.Cases.PaymentWaitByOrder(ctx, orderID)
	if err != nil {
		return false, err
	}
	if w.Delivered {
		return true, nil
	}
	st, err := a.status(ctx, orderID)
	if apoyo.ErrorCodeOf(err) == apoyo.ENOTFOUND {
		inFlight, err := a.Cases.SendMayBeInFlight(ctx, orderID, a.sendWindow())
		if err != nil || inFlight {
			return false, err
		}
		a.log().WarnContext(ctx, "payment wait: order never reached the bank; running the attempt again", "case", w.CaseID, "order", orderID)
		_, err = a.complete(ctx, w, nil, temporal.NewApplicationError(ErrNotSent.Message+"; sending again", ErrNotSent.Reason))
		return false, err
	}
	if err != nil || !st.Final() {
		return false, err
	}
	p, err := a.Cases.PaymentByOrder(ctx, orderID)
	if err != nil {
		return false, err
	}
	o := sentOrder{orderID: orderID, rail: p.Rail, fund: p.Fund, st: st,
		att: program.Attempt{Program: p.ProgramID, Cycle: p.CycleID, Beneficiary: p.BeneficiaryID, N: p.Attempt, Fund: p.Fund, Amount: p.Amount}}
	res, err := a.finish(ctx, o, w.CaseVersion, w.Referrals)
	if err != nil {
		return false, err
	}
	waiting, err := a.complete(ctx, w, res, nil)
	if err != nil || waiting {
		return true, err // not delivered: the open attempt finds the answer itself, or a later sweep tells it
	}
	return true, a.Cases.Delivered(ctx, orderID)
}

// complete tells the attempt that waits on w's order its answer (res, or
// failure), by the wait's task token. When that token's attempt is closed
// — completed already by another finisher, or it failed, or its worker
// died and Temporal runs another that has not written its own token — the
// attempt open now is told by its activity id, if a worker has held it
// quietly for RedeliverAfter; else a lost worker's attempt would hold the
// case until its 8-day timeout. waiting is true while an open attempt was
// not told (still queued, or young): it finds the answer itself when it
// runs, or a later sweep tells it.
func (a *Activities) complete(ctx context.Context, w cases.PaymentWait, res any, failure error) (waiting bool, err error) {
	err = a.Temporal.CompleteActivity(ctx, w.TaskToken, res, failure)
	var gone *serviceerror.NotFound
	if !errors.As(err, &gone) {
		return false, err
	}
	n, err := orderAttempt(w.CaseID, w.OrderID)
	if err != nil {
		return false, err
	}
	return a.completeTakenSend(ctx, w.CaseID, n, res, failure)
}

// CallbackHandler receives the bank's callbacks (a payment.Status as JSON)
// and finishes the order they name. It answers 204 when done (or when the
// order still waits), 404 for an order it does not know, 400 for a body
// it cannot read and 503 when it could not finish now (the bank calls
// again; the cycle's sweep asks the bank in any case).
func (a *Activities) CallbackHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		var st payment.Status
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&st); err != nil || st.OrderID == "" {
			http.Error(w, "expected a payment status with order_id", http.StatusBadRequest)
			return
		}
		_, err := a.FinishPayment(r.Context(), st.OrderID)
		switch apoyo.ErrorCodeOf(err) {
		case "":
			w.WriteHeader(http.StatusNoContent)
		case apoyo.ENOTFOUND:
			http.Error(w, "unknown order", http.StatusNotFound)
		default:
			a.log().WarnContext(r.Context(), "bank callback not finished", "order", st.OrderID, "err", err)
			http.Error(w, "not finished; call again", http.StatusServiceUnavailable)
		}
	})
}

// redeliverApprovals looks again, once per RedeliverAfter, at the cases
// whose signed lists make their quorum but which still wait at approval:
// it tells them again (the application's signal or start did not reach
// them: Temporal was unreachable, or the process died between the
// signature and the signal; a case ignores votes it has; a case kept
// without a workflow is started approved), and fails their first payment
// attempt if it never wrote anything (its worker died as it began: the
// case has left approval, but nothing says so). It also fails the attempt
// of a case whose payment step runs with nothing waiting at the bank (a
// re-payment whose worker died as it began). A kept case told already
// (cases.Store.MarkTold) is not told again: it waits for its first
// workflow task, queued at Temporal. It returns how many cases it told
// again or whose stalled attempt it failed.
func (a *Activities) redeliverApprovals(ctx context.Context, cycleID string, rules workflows.CaseRules) (int, error) {
	quiet := a.redeliverAfter()
	waiting, err := a.Cases.ApprovedAwaitingSignal(ctx, cycleID, len(rules.Required)-rules.Quorum, quiet, 500)
	if err != nil {
		return 0, err
	}
	stalled, err := a.Cases.StalledSends(ctx, cycleID, quiet, 500)
	if err != nil || len(waiting)+len(stalled) == 0 {
		return 0, err
	}
	ids := make([]string, 0, len(waiting))
	for id := range waiting {
		ids = append(ids, id)
	}
	lists, err := a.Cases.ListVotes(ctx, ids)
	if err != nil {
		return 0, err
	}
	kept, err := a.Cases.KeptStarts(ctx, ids)
	if err != nil {
		return 0, err
	}
	// acted are the cases looked at (touched, so that they are looked at
	// again only after quiet); told those told their approvals again.
	var acted, told, started []string
	// The tellings and starts made are marked in one write, on every way
	// out.
	mark := func(err error) error {
		return errors.Join(err, a.Cases.MarkTold(ctx, told, started))
	}
	for _, id := range ids {
		if !rules.Approved(workflows.ApprovedBy(lists[id], waiting[id], rules.Required, nil)) {
			continue
		}
		// A case told already (started approved, or signalled) waits for
		// its first workflow task: telling it again would cost a signal
		// and a task. Only its lost first attempt is looked for.
		if k := kept[id]; k.Told.IsZero() {
			start := k.StartInput()
			err := workflows.TellApproved(ctx, a.Temporal, id, k.TaskQueue, start, lists[id])
			var gone *serviceerror.NotFound
			if errors.As(err, &gone) {
				continue // ended meanwhile (a cancel)
			}
			if err != nil {
				return len(told), mark(err)
			}
			if start != nil {
				started = append(started, id)
			}
			told = append(told, id)
			a.log().InfoContext(ctx, "sweep: approvals told again", "case", id)
		}
		if err := a.failLostSend(ctx, id, 1); err != nil {
			return len(told), mark(err)
		}
		acted = append(acted, id)
	}
	if err := mark(nil); err != nil {
		return len(told), err
	}
	redone := len(told)
	for id, attempt := range stalled {
		if err := a.failLostSend(ctx, id, attempt); err != nil {
			return redone, err
		}
		acted = append(acted, id)
		redone++
	}
	if len(acted) == 0 {
		return 0, nil
	}
	return redone, a.Cases.Touch(ctx, acted)
}

// startApprovedFor bounds the starts of one sweep, which does them last,
// and startApprovedLeave is what it leaves of its attempt's time: a cycle
// that has more to start sweeps again (a sweep that started cases counts
// them as Redelivered), but between two sweeps its workflow tasks wait in
// the task queue behind the cases' own, so the longer each pass, the fewer
// the gaps.
var (
	startApprovedFor   = 45 * time.Second
	startApprovedLeave = 5 * time.Second
)

// startApproved starts, approved, the kept cases that signed lists left to
// the cycle (cases.Store.RequestTells): a page at a time in case id order,
// at most 32 starts in flight, each page's starts marked told in one write,
// for at most startApprovedFor. A pass that finds none left clears the
// request; a start that failed keeps it, for the next sweep. A paused or
// cancelled cycle starts none: a pause holds them until the resume (whose
// signal wakes the cycle), and a cancel ends them (CancelCases).
//
// The signature's request used to start them itself: a list of millions
// then took as long as starting them all, inside one request.
func (a *Activities) startApproved(ctx context.Context, cycleID string, rules workflows.CaseRules) (int, error) {
	requested, ok, err := a.Cases.TellsRequested(ctx, cycleID)
	if err != nil || !ok {
		return 0, err
	}
	cyc, err := a.Cases.Cycle(ctx, cycleID)
	if err != nil {
		return 0, err
	}
	if cyc.Status != apoyo.CycleRunning {
		return 0, nil
	}
	deadline := time.Now().Add(startApprovedFor)
	if activity.IsActivity(ctx) {
		if d := activity.GetInfo(ctx).Deadline; !d.IsZero() && d.Add(-startApprovedLeave).Before(deadline) {
			deadline = d.Add(-startApprovedLeave)
		}
	}
	n, failed := 0, false
	for after := ""; time.Now().Before(deadline); {
		page, waiting, err := a.Cases.ApprovedUnstarted(ctx, cycleID, len(rules.Required)-rules.Quorum, after, tellPage)
		if err != nil {
			return n, err
		}
		if len(page) == 0 {
			if failed {
				return n, nil
			}
			return n, a.Cases.ClearTellsRequest(ctx, cycleID, requested)
		}
		ids := make([]string, len(page))
		for i, k := range page {
			ids[i] = k.CaseID
		}
		after = ids[len(ids)-1]
		lists, err := a.Cases.ListVotes(ctx, ids)
		if err != nil {
			return n, err
		}
		var mu sync.Mutex
		var told []string
		var g errgroup.Group
		g.SetLimit(32)
		for _, k := range page {
			id := k.CaseID
			if !rules.Approved(workflows.ApprovedBy(lists[id], waiting[id], rules.Required, nil)) {
				continue
			}
			g.Go(func() error {
				err := workflows.TellApproved(ctx, a.Temporal, id, k.TaskQueue, k.StartInput(), lists[id])
				mu.Lock()
				defer mu.Unlock()
				var gone *serviceerror.NotFound
				if err != nil && !errors.As(err, &gone) { // gone: started and ended meanwhile (a cancel)
					failed = true
					a.log().WarnContext(ctx, "sweep: approved case not started", "case", id, "err", err)
					return nil
				}
				told = append(told, id)
				return nil
			})
		}
		_ = g.Wait()
		// Started approved, each of them (StartInput is set for a case
		// with no workflow): told and started in one mark.
		if err := a.Cases.MarkTold(ctx, told, told); err != nil {
			return n, err
		}
		n += len(told)
	}
	return n, nil
}

// tellPage is how many cases startApproved reads and starts at a time.
var tellPage = 500

func (a *Activities) redeliverAfter() time.Duration {
	if a.RedeliverAfter <= 0 {
		return time.Minute
	}
	return a.RedeliverAfter
}

// failLostSend fails a case's SendPayment attempt that a worker took but
// that never wrote its wait (by the attempt's activity id), so that
// Temporal runs it again now.
// No such open attempt (the case never scheduled it, or it finished) is
// nothing to do. A live attempt failed by mistake is run again: the same
// order id and keys, so nothing is paid twice.
func (a *Activities) failLostSend(ctx context.Context, caseID string, attempt int) error {
	cycleID, benID, err := apoyo.ParseCaseID(caseID)
	if err != nil {
		return err
	}
	if waited, err := a.Cases.HasWait(ctx, OrderID(cycleID, benID, attempt)); err != nil || waited {
		return err
	}
	_, err = a.completeTakenSend(ctx, caseID, attempt, nil,
		temporal.NewApplicationError(ErrNotSent.Message+": its attempt wrote nothing; sending again", ErrNotSent.Reason))
	return err
}

// orderAttempt is the payment attempt whose order id (OrderID) is orderID,
// for the case caseID.
func orderAttempt(caseID, orderID string) (int, error) {
	c, b, err := apoyo.ParseCaseID(caseID)
	if err != nil {
		return 0, err
	}
	n, ok := program.AttemptOfOrder(c, b, orderID)
	if !ok {
		return 0, fmt.Errorf("order %s is not an order of case %s", orderID, caseID)
	}
	return n, nil
}

// completeTakenSend completes (res) or fails (failure) the open attempt of
// a case's SendPayment, by its activity id (send-<attempt>), if a worker
// took it more than RedeliverAfter ago. waiting is true when an attempt is
// open but was left alone (still queued, or taken recently); none open
// (the run ended, or the attempt completed) is nothing to do.
func (a *Activities) completeTakenSend(ctx context.Context, caseID string, attempt int, res any, failure error) (waiting bool, err error) {
	desc, err := a.Temporal.DescribeWorkflowExecution(ctx, caseID, "")
	var gone *serviceerror.NotFound
	if errors.As(err, &gone) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var open *workflowpb.PendingActivityInfo
	for _, pa := range desc.GetPendingActivities() {
		if pa.GetActivityId() == workflows.SendActivityID(attempt) {
			open = pa
		}
	}
	if open == nil {
		return false, nil
	}
	// Only an attempt that a worker took and then stayed quiet for a
	// while: one still queued (a backlog of sends) is not lost.
	if open.GetState() != enumspb.PENDING_ACTIVITY_STATE_STARTED || time.Since(open.GetLastStartedTime().AsTime()) <= a.redeliverAfter() {
		return true, nil
	}
	ex := desc.GetWorkflowExecutionInfo().GetExecution()
	namespace := ""
	if activity.IsActivity(ctx) {
		namespace = activity.GetInfo(ctx).WorkflowNamespace
	}
	err = a.Temporal.CompleteActivityByID(ctx, namespace, ex.GetWorkflowId(), ex.GetRunId(), workflows.SendActivityID(attempt), res, failure)
	if errors.As(err, &gone) {
		return false, nil
	}
	if err == nil {
		a.log().WarnContext(ctx, "payment wait: a quiet attempt told by its activity id", "case", caseID, "attempt", attempt, "failed", failure != nil)
	}
	return false, err
}

// StartCasePage screens one roster page's cases and starts each that
// needs a workflow now as a workflow of its own (BeneficiaryCase3) with
// its screening in its input, with at most 32 cases in flight. A case that
// goes straight to approval (identity verified, eligible) gets no workflow
// yet: its start is kept in PostgreSQL, and it is started approved once
// its signed lists make the quorum (TellApproved), or when a person acts
// on it first. A case's projection is written after its workflow exists
// (or its start is kept), so that nobody acts (an approver signing the
// list it appears on) on a case that is not there yet. A case that exists
// already (this activity retried, or the cycle relaunched) is left as it
// is; its projection is written only if it has none (the retry of a page
// whose first try died between a start and its write).
func (a *Activities) StartCasePage(ctx context.Context, in workflows.StartCasePageInput) error {
	queue := a.TaskQueue
	if queue == "" && activity.IsActivity(ctx) {
		queue = activity.GetInfo(ctx).TaskQueue
	}
	var g errgroup.Group
	g.SetLimit(32)
	for i, id := range in.IDs {
		bin := in.Template
		bin.BeneficiaryID = id
		if i < len(in.Funds) {
			bin.Fund = in.Funds[i]
		}
		bin.Reserved = bin.Fund != ""
		g.Go(func() error { return a.startCase(ctx, queue, bin) })
	}
	return temporalError(g.Wait())
}

func (a *Activities) startCase(ctx context.Context, queue string, bin workflows.BeneficiaryInput) error {
	res, rec, err := a.decideScreen(ctx, workflows.ScreenInput{ProgramID: bin.ProgramID, CycleID: bin.CycleID, BeneficiaryID: bin.BeneficiaryID,
		CycleDate: bin.CycleDate, Required: bin.Rules.WithDefaults().Required, Version: 1})
	if err != nil {
		return err
	}
	bin.Screened = &res
	caseID := apoyo.CaseID(bin.CycleID, bin.BeneficiaryID)
	var created bool
	if res.ToApproval() {
		input, err := json.Marshal(bin)
		if err != nil {
			return err
		}
		created, err = a.Cases.KeepStart(ctx, cases.CaseStart{CaseID: caseID, CycleID: bin.CycleID, TaskQueue: queue, Input: input})
		if err != nil {
			return err
		}
	} else if created, err = workflows.StartCase3(ctx, a.Temporal, queue, bin); err != nil {
		return err
	}
	if !created {
		if _, err := a.Cases.Case(ctx, caseID); !errors.Is(err, cases.ErrCaseNotFound) {
			return err // recorded already (or the store failed: try again)
		}
	}
	return a.recordScreen(ctx, rec)
}

// SweepCycle does a cycle's timed work from PostgreSQL, in bounded pages:
// it asks the bank about orders whose final answer has not reached their
// case for a while (and finishes them), marks approvals and referrals
// overdue past the rules' SLAs and raises their tasks, and counts the
// cycle's cases. An order the bank could not answer about is left for the
// next sweep.
func (a *Activities) SweepCycle(ctx context.Context, in workflows.SweepCycleInput) (workflows.SweepCycleResult, error) {
	var res workflows.SweepCycleResult
	askAfter := a.AskAfter
	if askAfter <= 0 {
		askAfter = DefaultAskAfter
	}
	due, err := a.Cases.DueForAsking(ctx, in.CycleID, askAfter, 500)
	if err != nil {
		return res, temporalError(err)
	}
	for _, id := range due {
		final, err := a.FinishPayment(ctx, id)
		if err != nil {
			a.log().WarnContext(ctx, "sweep: order not finished", "order", id, "err", err)
			continue
		}
		if final {
			res.Delivered++
		}
	}
	rules := in.Rules.WithDefaults()
	if res.Redelivered, err = a.redeliverApprovals(ctx, in.CycleID, rules); err != nil {
		return res, temporalError(err)
	}
	for _, o := range []struct {
		step apoyo.Step
		sla  time.Duration
		task apoyo.TaskKind
	}{{apoyo.StepApproval, rules.ApprovalSLA, apoyo.TaskApprovalOverdue}, {apoyo.StepReferrals, rules.FollowUp, apoyo.TaskReferralOverdue}} {
		ids, err := a.Cases.MarkOverdue(ctx, in.CycleID, o.step, o.sla, 1000)
		if err != nil {
			return res, temporalError(err)
		}
		for _, id := range ids {
			if err := a.Cases.RaiseTask(ctx, id, o.task, "past the SLA of "+o.sla.String()); err != nil {
				return res, temporalError(err)
			}
		}
		res.Overdue += len(ids)
	}
	counts, err := a.Cases.CycleCounts(ctx, in.CycleID)
	if err != nil {
		return res, temporalError(err)
	}
	res.Cases, res.Done, res.Outcomes = counts.Total, counts.Done, counts.ByOutcome
	if res.Waiting, err = a.Cases.Undelivered(ctx, in.CycleID); err != nil {
		return res, temporalError(err)
	}
	// Last, with what is left of the attempt: the starts a signed list
	// left to the cycle.
	started, err := a.startApproved(ctx, in.CycleID, rules)
	res.Redelivered += started
	return res, temporalError(err)
}
