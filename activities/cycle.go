package activities

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	batchpb "go.temporal.io/api/batch/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/sync/errgroup"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/ledger"
	"github.com/apoyo-cdmx/apoyo/program"
	"github.com/apoyo-cdmx/apoyo/workflows"
	"github.com/apoyo-cdmx/apoyo/workflows/searchattr"
)

// RosterPage returns the next page of a cycle's beneficiary ids (opaque
// ids only), in id order after in.After. With a CycleID it pages the
// roster frozen at the cycle's launch, so people enrolled later (who have
// no share in the reservation) wait for the next cycle; without one (runs
// started before snapshots existed), or for a cycle launched before them,
// it pages the programme's live roster.
func (a *Activities) RosterPage(ctx context.Context, in workflows.RosterPageInput) ([]string, error) {
	if in.CycleID != "" {
		ids, frozen, err := a.Cases.RosterPage(ctx, in.CycleID, in.After, in.Limit)
		if err != nil || frozen {
			return ids, temporalError(err)
		}
	}
	ids, err := a.Beneficiaries.ListIDs(ctx, in.ProgramID, in.After, in.Limit)
	return ids, temporalError(err)
}

// CancelCases marks the cycle cancelled (so cases not yet screened or paid
// stop by themselves) and tells every unfinished case to stop. Cases whose
// payment order already left finish that payment: nothing is ever
// half-paid. A cycle the person's command already cancelled (the usual
// path: the database first, then the signal) is fine; one the state
// machine will not cancel (closed without a cancel) is a non-retryable
// error.
//
// The cases are told by one Temporal batch operation (cancelByBatch), run
// by the server at its own rate, so that no activity signals a national
// cycle's millions one by one. Where no batch can be trusted to reach
// every case (no namespace configured, the cluster refuses batches, its
// visibility does not show every case the database knows, the batch
// failed) it signals each unfinished case itself, in pages from the
// database; it heartbeats its cursor and resumes from it after a retry.
func (a *Activities) CancelCases(ctx context.Context, in workflows.CancelCasesInput) error {
	if _, err := a.Cases.TransitionCycle(ctx, in.CycleID, workflows.ControlCancel, in.Reason); err != nil {
		return temporalError(err)
	}
	if err := a.cancelKept(ctx, in); err != nil {
		return err
	}
	var cursor cancelCursor
	if activity.IsActivity(ctx) && activity.HasHeartbeatDetails(ctx) {
		_ = activity.GetHeartbeatDetails(ctx, &cursor)
	}
	if !cursor.Paged {
		done, err := a.cancelByBatch(ctx, in)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		cursor.Paged = true
	}
	return a.signalEachUnfinished(ctx, in, cursor)
}

// cancelCursor is CancelCases' heartbeat: whether it fell back to paging,
// and the last case id it signalled.
type cancelCursor struct {
	Paged bool   `json:"paged"`
	After string `json:"after"`
}

// Bounds of the batch path, variables so that tests can shorten them.
var (
	// cancelVisibilityWait is how long one attempt waits for visibility
	// to show every case the database knows before it retries.
	cancelVisibilityWait = 30 * time.Second
	// cancelBatchAttempts is how many attempts wait for visibility before
	// the cases are signalled one by one instead.
	cancelBatchAttempts int32 = 3
	// cancelBatchWait is how long an attempt follows a started batch: one
	// that runs longer is left to the server, and the cycle's sweeps count
	// the cases as they record their ends.
	cancelBatchWait = 40 * time.Second
)

// CancelBatchJobID is the id of the batch operation that tells a cycle's
// cases to stop: one per cycle, so that a retry finds the batch it began.
func CancelBatchJobID(cycleID string) string { return "cancel-" + cycleID }

// cycleIDPattern is what a cycle id may hold inside a visibility query.
var cycleIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// cancelByBatch tells the cycle's running cases to stop through one batch
// operation, once visibility shows every case the database knows (a case
// started just before the cancel may not be indexed yet, and a batch only
// reaches what its query finds; the cycle starts no case after the
// cancel, and screening refuses one of a cancelled cycle). done false
// means the caller must signal each case itself.
func (a *Activities) cancelByBatch(ctx context.Context, in workflows.CancelCasesInput) (done bool, err error) {
	if a.Namespace == "" || a.Temporal == nil || !cycleIDPattern.MatchString(in.CycleID) {
		return false, nil
	}
	cycle := fmt.Sprintf("%s = '%s' AND WorkflowType IN ('%s', '%s')", searchattr.Cycle.GetName(), in.CycleID,
		workflows.BeneficiaryWorkflowName, workflows.Case3WorkflowName)
	counts, err := a.Cases.CycleCounts(ctx, in.CycleID)
	if err != nil {
		return false, temporalError(err)
	}
	for deadline := time.Now().Add(cancelVisibilityWait); ; {
		visible, err := a.Temporal.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: a.Namespace, Query: cycle})
		if err != nil {
			a.log().WarnContext(ctx, "cancel: visibility unavailable, signalling each case", "cycle", in.CycleID, "err", err)
			return false, nil
		}
		if visible.GetCount() >= int64(counts.Total) {
			break
		}
		if time.Now().After(deadline) {
			if activity.IsActivity(ctx) && activity.GetInfo(ctx).Attempt < cancelBatchAttempts {
				return false, temporal.NewApplicationError("cancel: visibility does not show every case yet", "VisibilityBehind")
			}
			a.log().WarnContext(ctx, "cancel: visibility behind the database, signalling each case", "cycle", in.CycleID,
				"visible", visible.GetCount(), "cases", counts.Total)
			return false, nil
		}
		if err := sleepHeartbeat(ctx, 250*time.Millisecond); err != nil {
			return false, err
		}
	}
	input, err := a.dataConverter().ToPayloads(workflows.CancelRequest{Reason: in.Reason})
	if err != nil {
		return false, err
	}
	job := CancelBatchJobID(in.CycleID)
	_, err = a.Temporal.WorkflowService().StartBatchOperation(ctx, &workflowservice.StartBatchOperationRequest{
		Namespace: a.Namespace, JobId: job, Reason: "cycle cancelled",
		VisibilityQuery: cycle + " AND ExecutionStatus = 'Running'",
		Operation: &workflowservice.StartBatchOperationRequest_SignalOperation{SignalOperation: &batchpb.BatchOperationSignal{
			Signal: workflows.SignalCancel, Input: input, Identity: "apoyo-cancel-cases"}},
	})
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	var exists *serviceerror.AlreadyExists
	switch {
	case err == nil, errors.As(err, &started), errors.As(err, &exists):
		// Begun now or by an earlier attempt: follow it.
	case isUnsupported(err):
		a.log().WarnContext(ctx, "cancel: the cluster runs no batches, signalling each case", "cycle", in.CycleID, "err", err)
		return false, nil
	default:
		return false, err
	}
	deadline := time.Now().Add(cancelBatchWait)
	if activity.IsActivity(ctx) {
		// Leave the attempt time to answer before its own timeout.
		if d := activity.GetInfo(ctx).Deadline; !d.IsZero() && d.Add(-5*time.Second).Before(deadline) {
			deadline = d.Add(-5 * time.Second)
		}
	}
	for time.Now().Before(deadline) {
		d, err := a.Temporal.WorkflowService().DescribeBatchOperation(ctx, &workflowservice.DescribeBatchOperationRequest{Namespace: a.Namespace, JobId: job})
		if err != nil {
			return false, err
		}
		switch d.GetState() {
		case enumspb.BATCH_OPERATION_STATE_COMPLETED:
			return true, nil
		case enumspb.BATCH_OPERATION_STATE_FAILED:
			a.log().WarnContext(ctx, "cancel: the batch failed, signalling each case", "cycle", in.CycleID, "job", job)
			return false, nil
		}
		if err := sleepHeartbeat(ctx, 250*time.Millisecond); err != nil {
			return false, err
		}
	}
	return true, nil // still running: the server finishes it
}

// isUnsupported says whether the server refuses an API as switched off or
// unknown (a cluster without batches or advanced visibility).
func isUnsupported(err error) bool {
	var unimpl *serviceerror.Unimplemented
	var denied *serviceerror.PermissionDenied
	var failedPre *serviceerror.FailedPrecondition
	return errors.As(err, &unimpl) || errors.As(err, &denied) || errors.As(err, &failedPre)
}

// sleepHeartbeat waits d and heartbeats (keeping what the heartbeat
// already holds).
func sleepHeartbeat(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
	}
	return heartbeat(ctx, cancelCursor{})
}

// cancelKept starts the cycle's cases kept without a workflow (they wait
// for signed lists) with the cancel as their first signal: each ends
// cancelled in its first workflow task and records its end as any cancel
// does, so that every case of the cycle is a workflow that visibility (and
// the batch) sees. No money can have left for them: a case is paid only
// once started, and no order leaves for a cancelled cycle.
func (a *Activities) cancelKept(ctx context.Context, in workflows.CancelCasesInput) error {
	for after := ""; ; {
		kept, err := a.Cases.UnstartedCases(ctx, in.CycleID, after, 500)
		if err != nil || len(kept) == 0 {
			return temporalError(err)
		}
		var g errgroup.Group
		g.SetLimit(32)
		for _, k := range kept {
			g.Go(func() error {
				bin, err := workflows.KeptInput(k.CaseID, k.Input)
				if err != nil {
					return err
				}
				return workflows.StartCancelled(ctx, a.Temporal, k.TaskQueue, bin, workflows.CancelRequest{Reason: in.Reason})
			})
		}
		if err := g.Wait(); err != nil {
			return temporalError(err)
		}
		ids := make([]string, len(kept))
		for i, k := range kept {
			ids[i] = k.CaseID
		}
		if err := a.Cases.MarkStarted(ctx, ids); err != nil {
			return temporalError(err)
		}
		after = ids[len(ids)-1]
		if err := heartbeat(ctx, cancelCursor{}); err != nil {
			return err
		}
	}
}

// signalEachUnfinished signals the cycle's unfinished cases one by one, a
// page of the database at a time, from cursor on.
func (a *Activities) signalEachUnfinished(ctx context.Context, in workflows.CancelCasesInput, cursor cancelCursor) error {
	for {
		ids, err := a.Cases.UnfinishedCaseIDs(ctx, in.CycleID, cursor.After, 500)
		if err != nil {
			return temporalError(err)
		}
		if len(ids) == 0 {
			return nil
		}
		var g errgroup.Group
		g.SetLimit(32)
		for _, id := range ids {
			g.Go(func() error {
				err := a.Temporal.SignalWorkflow(ctx, id, "", workflows.SignalCancel, workflows.CancelRequest{Reason: in.Reason})
				if _, gone := err.(*serviceerror.NotFound); gone {
					return nil // ended meanwhile
				}
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		cursor.After = ids[len(ids)-1]
		if err := heartbeat(ctx, cursor); err != nil {
			return err
		}
	}
}

// CloseCycle releases what the cycle reserved and did not pay (still in
// its committed account, per fund) back to the programme's available
// budget, and records the cycle as closed; with in.Status "cancelled" it
// stays known as cancelled (the status "done" of older runs is a normal
// close). Running it again changes nothing.
func (a *Activities) CloseCycle(ctx context.Context, in workflows.CloseCycleInput) error {
	committed := program.CycleAccount(in.ProgramID, in.CycleID, program.CycleCommitted)
	bals, err := a.Ledger.Balances(ctx, apoyo.BalanceFilter{AccountPrefix: committed})
	if err != nil {
		return temporalError(err)
	}
	for _, b := range bals {
		if b.Account != committed || !b.Balance.IsPositive() {
			continue
		}
		_, err := a.Ledger.Post(ctx, withMeta(ledger.Transfer(program.CloseKey(in.CycleID, b.Fund), program.AvailableAccount(in.ProgramID),
			committed, b.Fund, b.Balance, "unspent reservation released at the end of the cycle"), map[string]string{"program": in.ProgramID, "cycle": in.CycleID}))
		if err != nil {
			return temporalError(err)
		}
	}
	_, err = a.Cases.CloseCycle(ctx, in.CycleID, in.Status == string(apoyo.CycleCancelled), "cycle cancelled")
	return temporalError(err)
}
