package activities

import (
	"context"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"golang.org/x/sync/errgroup"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/ledger"
	"github.com/apoyo-cdmx/apoyo/program"
	"github.com/apoyo-cdmx/apoyo/workflows"
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
// stop by themselves) and signals every unfinished case to stop. Cases
// whose payment order already left finish that payment: nothing is ever
// half-paid. A cycle the person's command already cancelled (the usual
// path: the database first, then the signal) is fine; one the state
// machine will not cancel (closed without a cancel) is a non-retryable
// error. It heartbeats its cursor and resumes from it after a retry.
func (a *Activities) CancelCases(ctx context.Context, in workflows.CancelCasesInput) error {
	if _, err := a.Cases.TransitionCycle(ctx, in.CycleID, workflows.ControlCancel, in.Reason); err != nil {
		return temporalError(err)
	}
	after := ""
	if activity.IsActivity(ctx) && activity.HasHeartbeatDetails(ctx) {
		_ = activity.GetHeartbeatDetails(ctx, &after)
	}
	for {
		ids, err := a.Cases.UnfinishedCaseIDs(ctx, in.CycleID, after, 500)
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
		after = ids[len(ids)-1]
		if err := heartbeat(ctx, after); err != nil {
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
