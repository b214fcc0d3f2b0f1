package app

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/shopspring/decimal"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/ledger"
	"github.com/apoyo-cdmx/apoyo/program"
	"github.com/apoyo-cdmx/apoyo/report"
	"github.com/apoyo-cdmx/apoyo/workflows"
	"github.com/apoyo-cdmx/apoyo/workflows/searchattr"
)

// ErrCycleWorkflowEnded: the cycle's workflow already closed as failed,
// terminated, timed out or cancelled, so launching the cycle again starts
// nothing; the message names the status. A person must look (the cycle's
// reservation has not been released).
var ErrCycleWorkflowEnded = apoyo.Errorf(apoyo.ECONFLICT, "cycle.workflow_ended", "the cycle's workflow has ended without finishing")

// ErrBudgetShortfall: the cycle does not fit the programme's budget.
var ErrBudgetShortfall = apoyo.Errorf(apoyo.ECONFLICT, "cycle.budget_shortfall", "the cycle does not fit the budget")

// LaunchCycle implements apoyo.CycleService. It reserves the whole
// cycle's amount against the budget, fund by fund in the programme's
// order (refusing, with the shortfall named, a cycle that does not fit),
// and starts the cycle workflow, which starts one case per person on the
// roster frozen at launch. Launching the same cycle again starts nothing
// new: the cycle, its reservation (same ledger keys and amounts) and its
// workflow are found as they are.
func (s *Service) LaunchCycle(ctx context.Context, who apoyo.Identity, r apoyo.LaunchRequest) (apoyo.LaunchResult, error) {
	prog, err := s.Program(ctx, who, r.ProgramID)
	if err != nil {
		return apoyo.LaunchResult{}, err
	}
	if r.Period != "" {
		if _, err := time.Parse("2006-01", r.Period); err != nil {
			return apoyo.LaunchResult{}, apoyo.Errorf(apoyo.EINVALID, "cycle.bad_period", "period %q: use YYYY-MM", r.Period).At(0, "period")
		}
	}
	if r.Shape != 0 && r.Shape != 2 && r.Shape != 3 {
		return apoyo.LaunchResult{}, apoyo.Errorf(apoyo.EINVALID, "cycle.bad_shape", "shape %d: use 3 (the default) or 2", r.Shape).At(0, "shape")
	}
	cycleDate := r.CycleDate
	if cycleDate.IsZero() {
		cycleDate = time.Now().UTC().Truncate(24 * time.Hour)
	}
	name := strings.TrimSpace(r.Name)
	if name == "" {
		name = r.Period
		if name == "" {
			name = cycleDate.Format("2006-01")
		}
	}
	// The roster is frozen with the cycle, and the reservation sized on
	// that snapshot, in one transaction: later enrolments wait for the
	// next cycle. A relaunch finds the cycle, its snapshot and allocation.
	cyc, created, err := s.CaseStore.CreateCycleWithRoster(ctx, apoyo.Cycle{ProgramID: prog.ID, Name: name, Period: r.Period, CycleDate: cycleDate,
		Amount: prog.BenefitAmount}, func(n int) ([]apoyo.FundAllocation, error) { return s.allocate(ctx, prog, n) })
	if err != nil {
		return apoyo.LaunchResult{}, err
	}
	if err := program.EnsureCycleAccounts(ctx, s.Ledger, prog.ID, cyc.ID); err != nil {
		return apoyo.LaunchResult{}, err
	}
	res := apoyo.LaunchResult{Cycle: cyc, Created: created, Cases: cyc.RosterSize, Allocation: cyc.Allocation, Reserved: decimal.Zero,
		WorkflowID: workflows.CycleWorkflowID(cyc.ID)}
	for _, a := range cyc.Allocation {
		if a.Cases == 0 {
			continue
		}
		amount := cyc.Amount.Mul(decimal.NewFromInt(int64(a.Cases)))
		_, err := s.Ledger.Post(ctx, ledger.TransactionRequest{IdempotencyKey: program.ReserveKey(cyc.ID, a.Fund), Currency: prog.Currency,
			Description: fmt.Sprintf("cycle %s reservation: %d × %s", cyc.Name, a.Cases, cyc.Amount.StringFixed(2)),
			Metadata:    map[string]string{"program": prog.ID, "cycle": cyc.ID},
			Postings: []ledger.Posting{
				{Account: program.CycleAccount(prog.ID, cyc.ID, program.CycleCommitted), Fund: a.Fund, Direction: ledger.Debit, Amount: amount},
				{Account: program.AvailableAccount(prog.ID), Fund: a.Fund, Direction: ledger.Credit, Amount: amount},
			}})
		if errors.Is(err, ledger.ErrBalanceRule) {
			return res, ErrBudgetShortfall.With("cycle %s: fund %s can no longer cover %d cases (another cycle spent it meanwhile): %v", cyc.Name, a.Fund, a.Cases, err)
		}
		if err != nil {
			return res, err
		}
		res.Reserved = res.Reserved.Add(amount)
	}
	cycleType := workflows.Cycle3WorkflowName
	if r.Shape == 2 {
		cycleType = workflows.CycleWorkflowName
	}
	_, err = s.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       res.WorkflowID,
		TaskQueue:                s.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		TypedSearchAttributes:    temporal.NewSearchAttributes(searchattr.Program.ValueSet(prog.ID), searchattr.Cycle.ValueSet(cyc.ID)),
	}, cycleType, workflows.CycleInput{ProgramID: prog.ID, CycleID: cyc.ID, CycleDate: cyc.CycleDate, Amount: cyc.Amount,
		Rules: RulesOf(prog), Allocation: cyc.Allocation, StartWindow: r.StartWindow, MaxActive: r.MaxActive, ContinueAfter: r.ContinueAfter,
		PaymentQueues: s.PaymentQueues})
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if err != nil && !errors.As(err, &already) {
		return res, fmt.Errorf("starting cycle workflow: %w", err)
	}
	// Started, or found: the SDK hands back the existing workflow of the id
	// without an error even when that one has closed, so ask how it is.
	desc, err := s.Temporal.DescribeWorkflowExecution(ctx, res.WorkflowID, "")
	if err != nil {
		return res, fmt.Errorf("cycle %s: describing its workflow: %w", cyc.ID, err)
	}
	st := desc.GetWorkflowExecutionInfo().GetStatus()
	res.WorkflowStatus = workflowStatusName(st)
	switch st {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		return res, nil
	}
	return res, ErrCycleWorkflowEnded.With("cycle %s (%s): its workflow %s %s; launching it again starts nothing, and its unspent reservation is still held: look at the workflow's history before deciding",
		cyc.ID, cyc.Name, res.WorkflowID, res.WorkflowStatus)
}

// allocate spreads n cases over the programme's funds in order, each fund
// covering as many whole benefits as its available balance allows, and
// refuses a cycle that does not fit, naming the shortfall.
func (s *Service) allocate(ctx context.Context, prog apoyo.Program, n int) ([]apoyo.FundAllocation, error) {
	left := n
	var alloc []apoyo.FundAllocation
	var avail []string
	for _, f := range prog.Funds {
		fund := program.LedgerFund(prog.ID, f.Code)
		bal, err := s.Ledger.AccountBalance(ctx, program.AvailableAccount(prog.ID), fund)
		if err != nil {
			return nil, err
		}
		covers := int(bal.Div(prog.BenefitAmount).Floor().IntPart())
		take := min(covers, left)
		left -= take
		alloc = append(alloc, apoyo.FundAllocation{Fund: fund, Cases: take})
		avail = append(avail, fmt.Sprintf("%s %s (covers %d)", f.Code, bal.StringFixed(2), covers))
	}
	if left > 0 {
		need := prog.BenefitAmount.Mul(decimal.NewFromInt(int64(n)))
		short := prog.BenefitAmount.Mul(decimal.NewFromInt(int64(left)))
		return nil, ErrBudgetShortfall.With("cycle needs %d × %s = %s MXN; available: %s; short by %s MXN (%d beneficiaries)",
			n, prog.BenefitAmount.StringFixed(2), need.StringFixed(2), strings.Join(avail, ", "), short.StringFixed(2), left)
	}
	return alloc, nil
}

// Cycles implements apoyo.CycleService.
func (s *Service) Cycles(ctx context.Context, _ apoyo.Identity, programID string) ([]apoyo.Cycle, error) {
	return s.CaseStore.Cycles(ctx, programID)
}

// controlCycle applies a person's pause, resume or cancel: in the
// database FIRST (the state machine refuses what may not happen, e.g. a
// cancelled cycle paused, and numbers what it accepts), then to the
// workflow as a CycleControl carrying that number, which applies only
// controls newer than the last it applied. A repeated command (pause a
// paused cycle) changes nothing in the database and resends the current
// seq, so a command retried after a lost signal completes it.
func (s *Service) controlCycle(ctx context.Context, cycleID string, action apoyo.CycleAction, reason string) (apoyo.CycleTransition, error) {
	tr, err := s.CaseStore.TransitionCycle(ctx, cycleID, action, reason)
	if err != nil {
		return tr, err
	}
	// Whoever sent the control sees its effect as soon as the workflow
	// applies it, not after the status read before it ages out, nor a
	// read that was under way as it was sent.
	defer s.cycleStatuses(cycleID).controls.Add(1)
	return tr, s.signalCycle(ctx, cycleID, workflows.CycleControl{Action: string(action), Seq: tr.Seq, Reason: reason})
}

// signalCycle sends a control to a cycle's workflow.
func (s *Service) signalCycle(ctx context.Context, cycleID string, c workflows.CycleControl) error {
	err := s.Temporal.SignalWorkflow(ctx, workflows.CycleWorkflowID(cycleID), "", workflows.SignalControl, c)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return apoyo.Errorf(apoyo.ECONFLICT, "cycle.not_running",
			"cycle %s: the %s is recorded, but the cycle's workflow is not running, so nothing applies it; relaunch the cycle to see how its workflow ended", cycleID, c.Action)
	}
	return err
}

// PauseCycle implements apoyo.CycleService.
func (s *Service) PauseCycle(ctx context.Context, _ apoyo.Identity, cycleID string) (apoyo.CycleTransition, error) {
	return s.controlCycle(ctx, cycleID, apoyo.CyclePause, "")
}

// ResumeCycle implements apoyo.CycleService.
func (s *Service) ResumeCycle(ctx context.Context, _ apoyo.Identity, cycleID string) (apoyo.CycleTransition, error) {
	return s.controlCycle(ctx, cycleID, apoyo.CycleResume, "")
}

// CancelCycle implements apoyo.CycleService.
func (s *Service) CancelCycle(ctx context.Context, _ apoyo.Identity, cycleID, reason string) (apoyo.CycleTransition, error) {
	if err := requireReason(reason, ErrCycleReasonRequired, "cancelling a cycle"); err != nil {
		return apoyo.CycleTransition{}, err
	}
	return s.controlCycle(ctx, cycleID, apoyo.CycleCancel, reason)
}

// cycleProgress is a cycle workflow's progress as readCycleProgress
// reads it. A closed cycle's progress never changes, so it is asked once.
func (s *Service) cycleProgress(ctx context.Context, cycleID string) (apoyo.CycleProgress, error) {
	cs := s.cycleStatuses(cycleID)
	if p := cs.closed.Load(); p != nil {
		return cloneProgress(*p), nil
	}
	p, err := s.readCycleProgress(ctx, cycleID)
	if err == nil && p.Closed {
		kept := cloneProgress(p)
		cs.closed.Store(&kept)
	}
	return p, err
}

// readCycleProgress asks a cycle workflow for its progress (its result
// once it has finished), read into the domain's view of it (a subset of
// the workflow's state, by its JSON names).
func (s *Service) readCycleProgress(ctx context.Context, cycleID string) (apoyo.CycleProgress, error) {
	var p apoyo.CycleProgress
	id := workflows.CycleWorkflowID(cycleID)
	desc, err := s.Temporal.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		return p, mapTemporal(id, err)
	}
	if desc.WorkflowExecutionInfo.Status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		v, err := s.Temporal.QueryWorkflow(ctx, id, "", workflows.QueryCycle)
		if err != nil {
			return p, mapTemporal(id, err)
		}
		return p, v.Get(&p)
	}
	return p, mapTemporal(id, s.Temporal.GetWorkflow(ctx, id, "").Get(ctx, &p))
}

// CycleStatus implements apoyo.CycleService. A status is read at most
// once per StatusMaxAge per cycle (less often when a read takes more than
// a tenth of that: apoyo.StatusShownFor), and concurrent reads of one
// cycle share one: each read costs Temporal a describe and a query (an
// action Temporal Cloud bills) and PostgreSQL two aggregates over the
// cycle's cases, and a progress view refreshed by many people, or a
// script polling, would otherwise cost that on every read.
func (s *Service) CycleStatus(ctx context.Context, _ apoyo.Identity, cycleID string) (apoyo.CycleStatusView, error) {
	maxAge := s.StatusMaxAge
	if maxAge == 0 {
		maxAge = apoyo.DefaultStatusMaxAge
	}
	cs := s.cycleStatuses(cycleID)
	g := cs.controls.Load()
	if r := cs.last.Load(); r != nil && r.controls == g && time.Since(r.at) < r.keep {
		return cloneStatus(r.view), nil
	}
	// The read is shared, so one reader leaving (its request cancelled)
	// must not fail the others: it runs on its own deadline, and each
	// reader waits for it only as long as its own context lets it.
	// Readers after a control do not join a read begun before it.
	ch := s.statusReads.DoChan(cycleID+"@"+strconv.FormatUint(g, 10), func() (any, error) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), statusReadTimeout)
		defer cancel()
		r := statusRead{at: time.Now(), controls: g}
		var err error
		if r.view, err = s.readCycleStatus(rctx, cycleID); err != nil {
			return nil, err
		}
		r.view.AsOf = r.at.UTC()
		r.keep = apoyo.StatusShownFor(maxAge, time.Since(r.at))
		if cs.controls.Load() == g {
			cs.last.Store(&r)
		}
		return r, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return apoyo.CycleStatusView{}, res.Err
		}
		return cloneStatus(res.Val.(statusRead).view), nil
	case <-ctx.Done():
		return apoyo.CycleStatusView{}, ctx.Err()
	}
}

// statusReadTimeout bounds a shared status read, which no one reader's
// context cancels.
const statusReadTimeout = 30 * time.Second

// statusRead is a cycle's status, when it was read, and how long it is
// shown (apoyo.StatusShownFor).
type statusRead struct {
	view     apoyo.CycleStatusView
	at       time.Time
	keep     time.Duration
	controls uint64 // cycleStatuses.controls when it began
}

// cycleStatuses is what one cycle's status reads keep.
type cycleStatuses struct {
	// controls counts the controls sent through this service: a read
	// begun before one is neither shared with readers after it nor kept.
	controls atomic.Uint64
	// last is the last read kept; closed the progress of a closed cycle,
	// which never changes.
	last   atomic.Pointer[statusRead]
	closed atomic.Pointer[apoyo.CycleProgress]
}

// cycleStatuses is what a cycle's status reads keep, made on first use.
func (s *Service) cycleStatuses(cycleID string) *cycleStatuses {
	if v, ok := s.statuses.Load(cycleID); ok {
		return v.(*cycleStatuses)
	}
	v, _ := s.statuses.LoadOrStore(cycleID, new(cycleStatuses))
	return v.(*cycleStatuses)
}

// cloneStatus is a status with maps of its own, since reads share it.
func cloneStatus(v apoyo.CycleStatusView) apoyo.CycleStatusView {
	v.Progress = cloneProgress(v.Progress)
	v.Cases.ByStep, v.Cases.ByOutcome, v.Cases.Waiting = maps.Clone(v.Cases.ByStep), maps.Clone(v.Cases.ByOutcome), maps.Clone(v.Cases.Waiting)
	v.Amounts, v.OpenTasks = maps.Clone(v.Amounts), maps.Clone(v.OpenTasks)
	if v.AmountsByFund != nil {
		byFund := make(map[string]map[string]decimal.Decimal, len(v.AmountsByFund))
		for fund, m := range v.AmountsByFund {
			byFund[fund] = maps.Clone(m)
		}
		v.AmountsByFund = byFund
	}
	return v
}

// cloneProgress is a progress with a map of its own.
func cloneProgress(p apoyo.CycleProgress) apoyo.CycleProgress {
	p.Outcomes = maps.Clone(p.Outcomes)
	return p
}

// readCycleStatus reads a cycle's status: its row, its workflow's
// progress, its cases' counts, its amounts and its open tasks.
func (s *Service) readCycleStatus(ctx context.Context, cycleID string) (apoyo.CycleStatusView, error) {
	var st apoyo.CycleStatusView
	cyc, err := s.CaseStore.Cycle(ctx, cycleID)
	if err != nil {
		return st, err
	}
	st.Cycle = cyc
	if st.Progress, err = s.cycleProgress(ctx, cycleID); err != nil {
		return st, err
	}
	if st.Progress.Closed && cyc.Status != apoyo.CycleClosed {
		// The cycle closed between the two reads: its CloseCycle activity
		// records it closed before the workflow says so, so read it again,
		// or the view would be closed and running at once (a page
		// following it would stop at "running").
		if st.Cycle, err = s.CaseStore.Cycle(ctx, cycleID); err != nil {
			return st, err
		}
	}
	if st.Cases, err = s.CaseStore.CycleCounts(ctx, cycleID); err != nil {
		return st, err
	}
	prefix := program.CycleAccount(cyc.ProgramID, cyc.ID, "")
	bals, err := s.Ledger.Balances(ctx, apoyo.BalanceFilter{AccountPrefix: prefix})
	if err != nil {
		return st, err
	}
	st.Amounts = map[string]decimal.Decimal{}
	st.AmountsByFund = map[string]map[string]decimal.Decimal{}
	for _, state := range program.CycleStates {
		st.Amounts[state] = decimal.Zero
	}
	for _, b := range bals {
		state := strings.TrimPrefix(b.Account, prefix)
		st.Amounts[state] = st.Amounts[state].Add(b.Balance)
		fund := strings.TrimPrefix(b.Fund, cyc.ProgramID+".")
		if st.AmountsByFund[fund] == nil {
			st.AmountsByFund[fund] = map[string]decimal.Decimal{}
		}
		st.AmountsByFund[fund][state] = b.Balance
	}
	if st.OpenTasks, err = s.CaseStore.OpenTaskCounts(ctx, cycleID); err != nil {
		return st, err
	}
	return st, nil
}

// CycleReport implements apoyo.CycleService.
func (s *Service) CycleReport(ctx context.Context, _ apoyo.Identity, cycleID string, o apoyo.ReportOptions) (apoyo.CycleReport, error) {
	return report.Cycle(ctx, s.Pool, s.Ledger, cycleID, o)
}
