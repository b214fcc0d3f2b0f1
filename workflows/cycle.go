package workflows

import (
	"errors"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/shopspring/decimal"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/workflows/searchattr"
)

// Cycle workflow names.
const (
	CycleWorkflowName = "PaymentCycle"
	// SignalCaseDone is sent by each case to its cycle when it ends (CaseDone).
	SignalCaseDone = "case-done"
	// SignalPause stops starting new cases; SignalResume starts again.
	SignalPause  = "pause"
	SignalResume = "resume"
	// SignalCancelCycle stops unpaid cases and starts no more (CancelRequest).
	SignalCancelCycle = "cancel-cycle"
	// SignalControl carries pause, resume and cancel in one channel
	// (CycleControl), so that they apply in the order they were decided.
	// The separate pause/resume/cancel-cycle signals stay for cycles started
	// by older clients.
	SignalControl = "cycle-control"
	// QueryCycle returns the CycleProgress.
	QueryCycle = "cycle"

	ActivityRosterPage  = "RosterPage"
	ActivityCancelCases = "CancelCases"
	ActivityCloseCycle  = "CloseCycle"
)

// CycleWorkflowID is the workflow id of a cycle: one per cycle, so
// launching the same cycle twice finds the running one.
func CycleWorkflowID(cycleID string) string { return "cycle/" + cycleID }

// CycleInput starts (or continues) a payment cycle.
type CycleInput struct {
	ProgramID  string                 `json:"program_id"`
	CycleID    string                 `json:"cycle_id"`
	CycleDate  time.Time              `json:"cycle_date"`
	Amount     decimal.Decimal        `json:"amount"`
	Rules      CaseRules              `json:"rules"`
	Allocation []apoyo.FundAllocation `json:"allocation"`
	// StartWindow bounds case starts in flight. Cases wait days for
	// approvers, so what must be bounded is the rate of starts (and the
	// worker's activity slots), not the number of unfinished cases.
	StartWindow int `json:"start_window"`
	// MaxActive, when > 0, also bounds unfinished cases: a sliding window
	// that starts a case only when another has ended (for benchmarks and
	// fully automated cycles).
	MaxActive int `json:"max_active"`
	// PageSize is the number of roster ids read per activity.
	PageSize int `json:"page_size"`
	// ContinueAfter is the number of cases a run starts before it continues
	// as new, keeping every run's history small at any cycle size.
	ContinueAfter int `json:"continue_after"`
	// PaymentQueues is each rail's payment task queue (PaymentCycle3 hands
	// it to its cases); empty: the cases' own queue.
	PaymentQueues map[apoyo.Rail]string `json:"payment_queues,omitempty"`
	// Progress carries the state across continue-as-new.
	Progress CycleProgress `json:"progress"`
}

// CycleProgress is a cycle's state.
type CycleProgress struct {
	Cursor       string         `json:"cursor"`
	RosterDone   bool           `json:"roster_done"`
	Started      int            `json:"started"`
	Done         int            `json:"done"`
	Outcomes     map[string]int `json:"outcomes"`
	Assigned     []int          `json:"assigned"`
	Paused       bool           `json:"paused"`
	Cancelled    bool           `json:"cancelled"`
	CancelReason string         `json:"cancel_reason,omitempty"`
	CancelSent   bool           `json:"cancel_sent"`
	Closed       bool           `json:"closed"`
	Runs         int            `json:"runs"`
	// ControlSeq is the sequence number of the last CycleControl applied.
	ControlSeq int64 `json:"control_seq,omitempty"`
	// Adopted counts cases that already existed when this cycle went to
	// start them (a relaunch after a failed cycle workflow): not waited for.
	Adopted int `json:"adopted,omitempty"`
}

// Control actions of a CycleControl.
const (
	ControlPause  = "pause"
	ControlResume = "resume"
	ControlCancel = "cancel"
	// ControlSweep asks a running cycle to sweep now: a signed list left
	// cases for its sweep to start (activities' startApproved). It moves
	// no state and has no Seq, and applyControls passes over it, as every
	// build before it did with an action it did not know: the signal only
	// wakes the cycle's wait, and a PaymentCycle3 whose roster is read
	// (or that is paused) sweeps on every turn of its loop.
	ControlSweep = "sweep"
)

// CycleControl is a pause, resume or cancel decided by a person. Seq is the
// cycle's control sequence number after the database accepted the
// transition (cycles move by a state machine the database enforces): the
// workflow applies a control only when its Seq is newer than the last one
// it applied, so it converges on the database's last word whatever order
// signals arrive in.
type CycleControl struct {
	Action string `json:"action"`
	Seq    int64  `json:"seq"`
	Reason string `json:"reason,omitempty"`
}

// RosterPageInput asks for the next page of a cycle's roster.
type RosterPageInput struct {
	ProgramID string `json:"program_id"`
	// CycleID, when set, pages the roster frozen at the cycle's launch;
	// runs started before the snapshot existed leave it empty and page the
	// programme's live roster.
	CycleID string `json:"cycle_id,omitempty"`
	After   string `json:"after"`
	Limit   int    `json:"limit"`
}

// CancelCasesInput asks every unfinished case of a cycle to stop.
type CancelCasesInput struct {
	CycleID string `json:"cycle_id"`
	Reason  string `json:"reason"`
}

// CloseCycleInput releases a cycle's unspent reservation and marks it done.
type CloseCycleInput struct {
	ProgramID string `json:"program_id"`
	CycleID   string `json:"cycle_id"`
	Status    string `json:"status"` // done, cancelled
}

// CaseDone is a case's report to its cycle.
type CaseDone struct {
	BeneficiaryID string        `json:"beneficiary_id"`
	Outcome       apoyo.Outcome `json:"outcome"`
}

// Versions of the cycle workflow, read once at the start of each run
// (workflow.GetVersion), so that runs recorded before a change replay as
// they ran.
const (
	cycleVersionChange = "cycle-v2"
	// cycleV1 is the first shape (no version marker).
	cycleV1 = workflow.DefaultVersion
	// cycleV2 drains every delivered signal before it continues as new,
	// applies pause/resume/cancel from SignalControl in decision order,
	// pages the roster frozen at launch, and does not count a case that
	// already existed as one it started.
	cycleV2 workflow.Version = 1
)

// PaymentCycle starts one case per roster entry, reading the roster page by
// page, and follows them to the end; then it releases what the cycle
// reserved and did not pay. Cases are children that outlive a
// continue-as-new (parent close policy: abandon) and report to whichever
// run of the cycle is current, by workflow id.
func PaymentCycle(ctx workflow.Context, in CycleInput) (CycleProgress, error) {
	if in.StartWindow <= 0 {
		in.StartWindow = 100
	}
	if in.PageSize <= 0 {
		in.PageSize = 500
	}
	if in.ContinueAfter <= 0 {
		in.ContinueAfter = 2000
	}
	version := workflow.GetVersion(ctx, cycleVersionChange, cycleV1, cycleV2)
	p, err := beginRun(ctx, &in)
	if err != nil {
		return *p, err
	}

	doneCh := workflow.GetSignalChannel(ctx, SignalCaseDone)
	pauseCh := workflow.GetSignalChannel(ctx, SignalPause)
	resumeCh := workflow.GetSignalChannel(ctx, SignalResume)
	cancelCh := workflow.GetSignalChannel(ctx, SignalCancelCycle)
	controlCh := workflow.GetSignalChannel(ctx, SignalControl)
	cancel := func(reason string) {
		if !p.Cancelled {
			p.Cancelled, p.CancelReason = true, reason
		}
	}
	// drain applies every signal already delivered, without blocking.
	drain := func() {
		for {
			var d CaseDone
			if !doneCh.ReceiveAsync(&d) {
				break
			}
			p.Done++
			p.Outcomes[string(d.Outcome)]++
		}
		applyControls(controlCh, p)
		// The separate signals of older clients.
		for pauseCh.ReceiveAsync(nil) {
			p.Paused = true
		}
		for resumeCh.ReceiveAsync(nil) {
			p.Paused = false
		}
		var c CancelRequest
		for cancelCh.ReceiveAsync(&c) {
			cancel(c.Reason)
		}
	}
	// wait blocks until a signal arrives, then applies all that came.
	wait := func() {
		sel := workflow.NewSelector(ctx)
		for _, ch := range []workflow.ReceiveChannel{doneCh, pauseCh, resumeCh, cancelCh, controlCh} {
			sel.AddReceive(ch, func(workflow.ReceiveChannel, bool) {})
		}
		sel.Select(ctx)
		drain()
	}
	// continueAsNew hands the progress to a new run. From cycleV2 on it
	// first applies every signal already delivered: a case-done left
	// unread would be lost with this run, and the cycle would never see
	// Done reach Started.
	continueAsNew := func() (CycleProgress, error) {
		if version >= cycleV2 {
			drain()
		}
		return *p, workflow.NewContinueAsNewError(ctx, PaymentCycle, in)
	}

	actx := workflow.WithActivityOptions(ctx, shortActivity)
	startedThisRun := 0
	for {
		drain()
		if p.Cancelled && !p.CancelSent {
			if err := workflow.ExecuteActivity(actx, ActivityCancelCases, CancelCasesInput{CycleID: in.CycleID, Reason: p.CancelReason}).Get(ctx, nil); err != nil {
				return *p, err
			}
			p.CancelSent = true
			if version >= cycleV2 {
				drain() // reports that came in while the cases were told
			}
		}
		if (p.RosterDone || p.Cancelled) && p.Done >= p.Started {
			break
		}
		if p.RosterDone || p.Cancelled || p.Paused {
			// Waiting for the cases' reports (or for a resume): the reports
			// keep growing this run's history, so continue as new when the
			// server suggests it.
			if workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
				return continueAsNew()
			}
			wait()
			continue
		}
		if startedThisRun >= in.ContinueAfter || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			drain()
			return continueAsNew()
		}
		var page []string
		pageIn := RosterPageInput{ProgramID: in.ProgramID, After: p.Cursor, Limit: in.PageSize}
		if version >= cycleV2 {
			pageIn.CycleID = in.CycleID
		}
		if err := workflow.ExecuteActivity(actx, ActivityRosterPage, pageIn).Get(ctx, &page); err != nil {
			return *p, err
		}
		if len(page) == 0 {
			p.RosterDone = true
			continue
		}
		n, err := startCases(ctx, &in, page, drain, wait, version)
		if err != nil {
			return *p, err
		}
		startedThisRun += n
	}

	return *p, closeCycle(ctx, actx, &in)
}

// closeCycle releases what the cycle reserved and did not pay and records
// how it ended (CloseCycle), then marks the progress closed.
func closeCycle(ctx, actx workflow.Context, in *CycleInput) error {
	p := &in.Progress
	status := "done"
	if p.Cancelled {
		status = "cancelled"
	}
	if err := workflow.ExecuteActivity(actx, ActivityCloseCycle, CloseCycleInput{ProgramID: in.ProgramID, CycleID: in.CycleID, Status: status}).Get(ctx, nil); err != nil {
		return err
	}
	p.Closed = true
	return nil
}

// beginRun counts a new run of a cycle, readies its progress for it and
// answers QueryCycle with it.
func beginRun(ctx workflow.Context, in *CycleInput) (*CycleProgress, error) {
	p := &in.Progress
	p.Runs++
	if p.Outcomes == nil {
		p.Outcomes = map[string]int{}
	}
	if len(p.Assigned) != len(in.Allocation) {
		p.Assigned = make([]int, len(in.Allocation))
	}
	return p, workflow.SetQueryHandler(ctx, QueryCycle, func() (CycleProgress, error) { return *p, nil })
}

// applyControls applies every CycleControl already delivered, in the
// order they arrived, each only when newer than the last one applied: the
// database decided them in that order. Nothing leaves a cancelled cycle.
func applyControls(ch workflow.ReceiveChannel, p *CycleProgress) {
	for {
		var c CycleControl
		if !ch.ReceiveAsync(&c) {
			return
		}
		if c.Seq != 0 && c.Seq <= p.ControlSeq {
			continue
		}
		p.ControlSeq = max(p.ControlSeq, c.Seq)
		switch c.Action {
		case ControlPause:
			p.Paused = !p.Cancelled
		case ControlResume:
			p.Paused = false
		case ControlCancel:
			if !p.Cancelled {
				p.Cancelled, p.CancelReason = true, c.Reason
			}
		}
	}
}

// startCases starts one page of cases, at most StartWindow starts in
// flight (and, with MaxActive, at most that many unfinished cases). It stops
// early when the cycle is paused or cancelled (the cursor stays at the last
// case started, so the rest of the page is read again on resume) and
// returns how many cases it started.
func startCases(ctx workflow.Context, in *CycleInput, page []string, drain, wait func(), version workflow.Version) (int, error) {
	p := &in.Progress
	type pending struct {
		f  workflow.ChildWorkflowFuture
		id string
	}
	var inflight []pending
	started := 0
	settle := func(x pending) error {
		err := x.f.GetChildWorkflowExecution().Get(ctx, nil)
		var already *temporal.ChildWorkflowExecutionAlreadyStartedError
		if errors.As(err, &already) {
			// The case exists from an earlier cycle workflow of the same
			// cycle (one that failed or was terminated): it ended or
			// reports to whichever run is current, but it is not one this
			// cycle waits for, or the cycle would never close.
			if version >= cycleV2 {
				p.Started--
				p.Adopted++
			}
			return nil
		}
		return err
	}
	for _, id := range page {
		drain()
		for in.MaxActive > 0 && p.Started-p.Done >= in.MaxActive && !p.Paused && !p.Cancelled {
			wait()
		}
		if p.Paused || p.Cancelled {
			break
		}
		fund := assignFund(in)
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID:            apoyo.CaseID(in.CycleID, id),
			ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			TypedSearchAttributes: temporal.NewSearchAttributes(searchattr.Program.ValueSet(in.ProgramID), searchattr.Cycle.ValueSet(in.CycleID)),
		})
		f := workflow.ExecuteChildWorkflow(cctx, BeneficiaryWorkflowName, BeneficiaryInput{
			ProgramID: in.ProgramID, CycleID: in.CycleID, BeneficiaryID: id, CycleDate: in.CycleDate, Amount: in.Amount,
			Rules: in.Rules, Reserved: fund != "", Fund: fund, CycleWorkflowID: CycleWorkflowID(in.CycleID),
		})
		inflight = append(inflight, pending{f, id})
		p.Started++
		p.Cursor = id
		started++
		if len(inflight) >= in.StartWindow {
			if err := settle(inflight[0]); err != nil {
				return started, err
			}
			inflight = inflight[1:]
		}
	}
	for _, x := range inflight {
		if err := settle(x); err != nil {
			return started, err
		}
	}
	return started, nil
}

// assignFund gives the next case to the first fund whose reservation still
// has room, in the programme's fund order.
func assignFund(in *CycleInput) string {
	p := &in.Progress
	for i, a := range in.Allocation {
		if p.Assigned[i] < a.Cases {
			p.Assigned[i]++
			return a.Fund
		}
	}
	// More people than the reservation covers (the roster grew after the
	// launch): the case pays from the budget if it can.
	return ""
}
