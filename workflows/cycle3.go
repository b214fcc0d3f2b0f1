package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"
)

// Names of the third cycle shape.
const (
	// Cycle3WorkflowName is the cycle that starts BeneficiaryCase3 cases.
	Cycle3WorkflowName = "PaymentCycle3"
	// ActivityStartCasePage starts one roster page's cases (StartCasePageInput).
	ActivityStartCasePage = "StartCasePage"
	// ActivitySweepCycle counts a cycle's ended cases and does the cycle's
	// timed work (SweepCycleInput).
	ActivitySweepCycle = "SweepCycle"
)

// StartCasePageInput starts the cases of one roster page: every case gets
// Template with its beneficiary id and the fund the cycle assigned it.
type StartCasePageInput struct {
	Template BeneficiaryInput `json:"template"`
	IDs      []string         `json:"ids"`
	// Funds[i] is the reservation's fund of IDs[i] ("" when none covers it).
	Funds []string `json:"funds"`
}

// SweepCycleInput asks for a cycle's counts and its timed work: the final
// answer of orders whose callback did not come, overdue approvals and
// referrals (the SLAs of the cycle's rules).
type SweepCycleInput struct {
	ProgramID string    `json:"program_id"`
	CycleID   string    `json:"cycle_id"`
	Rules     CaseRules `json:"rules"`
}

// SweepCycleResult is what a sweep found.
type SweepCycleResult struct {
	// Cases is how many cases of the cycle PostgreSQL knows, Done how
	// many have ended, by outcome in Outcomes.
	Cases    int            `json:"cases"`
	Done     int            `json:"done"`
	Outcomes map[string]int `json:"outcomes"`
	// Delivered counts final answers the sweep found and told their
	// cases; Overdue the approvals and referrals it marked overdue.
	Delivered int `json:"delivered"`
	Overdue   int `json:"overdue"`
	// Redelivered counts cases told again that their approvals are in.
	Redelivered int `json:"redelivered,omitempty"`
	// Waiting counts payment attempts still waiting for the bank's answer.
	Waiting int `json:"waiting,omitempty"`
}

// Sweep cadence: the cycle sweeps often while cases move and backs off to
// once in sweepMax while nothing changes.
const (
	sweepMin = time.Second
	sweepMax = time.Minute
)

// PaymentCycle3 starts one BeneficiaryCase3 per roster entry, a page at a
// time by one activity (a workflow start each, not a child start: no
// parent history carries millions of children, and each start is billed
// once), and follows the cycle from PostgreSQL: cases record their ends
// there, and a sweep on a backing-off timer counts them, asks the bank for
// answers that no callback brought, and raises overdue tasks. Pause stops
// starting pages; cancel tells unfinished cases to stop (CancelCases).
func PaymentCycle3(ctx workflow.Context, in CycleInput) (CycleProgress, error) {
	if in.PageSize <= 0 {
		in.PageSize = 500
	}
	if in.ContinueAfter <= 0 {
		in.ContinueAfter = 100_000
	}
	p, err := beginRun(ctx, &in)
	if err != nil {
		return *p, err
	}
	controlCh := workflow.GetSignalChannel(ctx, SignalControl)
	drain := func() { applyControls(controlCh, p) }
	actx := workflow.WithActivityOptions(ctx, shortActivity)
	every := sweepMin
	lastSweep := time.Time{}
	sweep := func() error {
		var res SweepCycleResult
		if err := workflow.ExecuteActivity(actx, ActivitySweepCycle, SweepCycleInput{ProgramID: in.ProgramID, CycleID: in.CycleID, Rules: in.Rules}).Get(ctx, &res); err != nil {
			return err
		}
		if res.Done != p.Done || res.Delivered > 0 || res.Redelivered > 0 {
			every = sweepMin // things move: look again soon
		} else {
			every = min(2*every, sweepMax)
		}
		p.Done, p.Outcomes = res.Done, res.Outcomes
		if p.Outcomes == nil {
			p.Outcomes = map[string]int{}
		}
		lastSweep = workflow.Now(ctx)
		return nil
	}
	// pause waits for the next sweep, or for a control signal.
	pause := func() {
		tctx, cancel := workflow.WithCancel(ctx)
		sel := workflow.NewSelector(ctx)
		sel.AddFuture(workflow.NewTimer(tctx, every), func(workflow.Future) {})
		sel.AddReceive(controlCh, func(workflow.ReceiveChannel, bool) {})
		sel.Select(ctx)
		cancel()
		drain()
	}
	startedThisRun := 0
	for {
		drain()
		if p.Cancelled && !p.CancelSent {
			if err := workflow.ExecuteActivity(actx, ActivityCancelCases, CancelCasesInput{CycleID: in.CycleID, Reason: p.CancelReason}).Get(ctx, nil); err != nil {
				return *p, err
			}
			p.CancelSent = true
		}
		rosterOpen := !p.RosterDone && !p.Cancelled && !p.Paused
		if workflow.Now(ctx).Sub(lastSweep) >= every || !rosterOpen || (in.MaxActive > 0 && p.Started-p.Done >= in.MaxActive) {
			if err := sweep(); err != nil {
				return *p, err
			}
		}
		if (p.RosterDone || p.Cancelled) && p.Done >= p.Started {
			break
		}
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() || startedThisRun >= in.ContinueAfter {
			drain()
			return *p, workflow.NewContinueAsNewError(ctx, PaymentCycle3, in)
		}
		if !rosterOpen || (in.MaxActive > 0 && p.Started-p.Done >= in.MaxActive) {
			pause()
			continue
		}
		limit := in.PageSize
		if in.MaxActive > 0 {
			limit = min(limit, in.MaxActive-(p.Started-p.Done))
		}
		var page []string
		if err := workflow.ExecuteActivity(actx, ActivityRosterPage, RosterPageInput{ProgramID: in.ProgramID, CycleID: in.CycleID,
			After: p.Cursor, Limit: limit}).Get(ctx, &page); err != nil {
			return *p, err
		}
		if len(page) == 0 {
			p.RosterDone = true
			continue
		}
		funds := make([]string, len(page))
		for i := range page {
			funds[i] = assignFund(&in)
		}
		tmpl := BeneficiaryInput{ProgramID: in.ProgramID, CycleID: in.CycleID, CycleDate: in.CycleDate, Amount: in.Amount, Rules: in.Rules,
			PaymentQueues: in.PaymentQueues}
		if err := workflow.ExecuteActivity(actx, ActivityStartCasePage, StartCasePageInput{Template: tmpl, IDs: page, Funds: funds}).Get(ctx, nil); err != nil {
			return *p, err
		}
		p.Started += len(page)
		p.Cursor = page[len(page)-1]
		startedThisRun += len(page)
	}
	return *p, closeCycle(ctx, actx, &in)
}

// CycleSweeperWorkflowName sweeps a cycle after its cycle workflow closed.
const CycleSweeperWorkflowName = "CycleSweeper"

// CycleSweeperID is the workflow id of a cycle's sweeper.
func CycleSweeperID(cycleID string) string { return CycleWorkflowID(cycleID) + "/sweeper" }

// CycleSweeper does a closed cycle's sweep (SweepCycle) until every case
// has ended and no payment waits for the bank's answer: a return after
// settlement reopens a case days after its cycle closed, and its new
// payment's answer must still be asked for when no callback comes. The
// application starts it when it reopens a case of the third shape.
func CycleSweeper(ctx workflow.Context, in SweepCycleInput) error {
	actx := workflow.WithActivityOptions(ctx, shortActivity)
	every := sweepMin
	for i := 0; ; i++ {
		var res SweepCycleResult
		if err := workflow.ExecuteActivity(actx, ActivitySweepCycle, in).Get(ctx, &res); err != nil {
			return err
		}
		if res.Done >= res.Cases && res.Waiting == 0 {
			return nil
		}
		if res.Delivered > 0 || res.Redelivered > 0 {
			every = sweepMin
		} else {
			every = min(2*every, sweepMax)
		}
		if i >= 1000 || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			return workflow.NewContinueAsNewError(ctx, CycleSweeper, in)
		}
		if err := workflow.Sleep(ctx, every); err != nil {
			return err
		}
	}
}
