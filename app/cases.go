package app

import (
	"context"
	"strings"
	"sync"

	enumspb "go.temporal.io/api/enums/v1"
	"golang.org/x/sync/errgroup"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/workflows"
)

// Cases implements apoyo.CaseService.
func (s *Service) Cases(ctx context.Context, _ apoyo.Identity, f apoyo.CaseFilter) ([]apoyo.Case, error) {
	if f.Step != "" && !f.Step.Valid() {
		return nil, apoyo.Errorf(apoyo.EINVALID, "case.bad_step", "step %q: use identity, eligibility, approval, payment, referrals or done", f.Step).At(0, "step")
	}
	if f.Limit > 5000 {
		f.Limit = 5000
	}
	return s.CaseStore.ListCases(ctx, f)
}

// Case implements apoyo.CaseService.
func (s *Service) Case(ctx context.Context, _ apoyo.Identity, caseID string) (apoyo.CaseDetail, error) {
	st, err := s.caseState(ctx, caseID)
	if err != nil {
		return apoyo.CaseDetail{}, err
	}
	pays, err := s.CaseStore.CasePayments(ctx, caseID)
	if err != nil {
		return apoyo.CaseDetail{}, err
	}
	if pays == nil {
		pays = []apoyo.Payment{}
	}
	return apoyo.CaseDetail{State: st, Payments: pays}, nil
}

// caseState returns a case's current state: asked of the workflow while
// it runs, its result once it has finished, and what was kept for a case
// kept without a workflow.
func (s *Service) caseState(ctx context.Context, caseID string) (apoyo.CaseState, error) {
	if _, _, err := apoyo.ParseCaseID(caseID); err != nil {
		return apoyo.CaseState{}, err
	}
	desc, err := s.Temporal.DescribeWorkflowExecution(ctx, caseID, "")
	if isNotFound(err) {
		// A case kept without a workflow is as it was kept.
		k, in, ok, kerr := s.keptUnstarted(ctx, caseID)
		if kerr != nil {
			return apoyo.CaseState{}, kerr
		}
		if ok {
			return workflows.KeptState(in, k.Kept)
		}
	}
	if err != nil {
		return apoyo.CaseState{}, mapTemporal(caseID, err)
	}
	var st apoyo.CaseState
	if desc.WorkflowExecutionInfo.Status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		v, err := s.Temporal.QueryWorkflow(ctx, caseID, "", workflows.QueryCase)
		if err != nil {
			return st, mapTemporal(caseID, err)
		}
		return st, v.Get(&st)
	}
	err = s.Temporal.GetWorkflow(ctx, caseID, "").Get(ctx, &st)
	return st, mapTemporal(caseID, err)
}

// Tasks implements apoyo.CaseService.
func (s *Service) Tasks(ctx context.Context, _ apoyo.Identity, f apoyo.TaskFilter) ([]apoyo.Task, error) {
	if f.Kind != "" && !f.Kind.Valid() {
		return nil, apoyo.Errorf(apoyo.EINVALID, "task.bad_kind", "task kind %q is not one apoyo raises", f.Kind).At(0, "kind")
	}
	return s.CaseStore.Tasks(ctx, f)
}

// Queue implements apoyo.CaseService: a page of the stuck-case queue from
// the projection (the store checks the filter), never from Temporal.
func (s *Service) Queue(ctx context.Context, _ apoyo.Identity, f apoyo.QueueFilter) (apoyo.QueuePage, error) {
	return s.CaseStore.Queue(ctx, f)
}

// Vote implements apoyo.CaseService: the vote is the approver's
// secretariat's.
func (s *Service) Vote(ctx context.Context, who apoyo.Identity, caseID string, v apoyo.VoteRequest) (apoyo.CaseState, error) {
	if !v.Approve {
		if err := requireReason(v.Reason, ErrVoteReasonRequired, "a rejection"); err != nil {
			return apoyo.CaseState{}, err
		}
	}
	st, err := s.vote(ctx, caseID, apoyo.ApprovalVote{Secretariat: who.Secretariat, Approve: v.Approve, Reason: v.Reason, Approver: who.UserID})
	if err != nil || !v.Approve {
		return st, err
	}
	cycleID, _, _ := apoyo.ParseCaseID(caseID)
	if shape, err := s.cycleShape(ctx, cycleID); err != nil || shape != 3 {
		return st, err
	}
	// A shape-3 case hears of signed lists when all are in: this vote may
	// be the one that completes them.
	var voted []apoyo.Secretariat
	for sec, vote := range st.Votes {
		if vote.Approve {
			voted = append(voted, sec)
		}
	}
	if _, _, failed, err := s.completeApprovals(ctx, cycleID, []string{caseID}, map[string][]apoyo.Secretariat{caseID: voted}); err != nil || len(failed) > 0 {
		if err == nil {
			err = apoyo.Errorf(apoyo.EUNAVAILABLE, "approval.not_told", "the vote is in, but the case could not be told its approvals are complete: %s", failed[0])
		}
		return st, err
	}
	return st, nil
}

// DecideIdentity implements apoyo.CaseService. A new document is stored
// (sealed) first, and the case checks it again.
func (s *Service) DecideIdentity(ctx context.Context, who apoyo.Identity, caseID string, d apoyo.IdentityDecision) (apoyo.CaseState, error) {
	_, benID, err := apoyo.ParseCaseID(caseID)
	if err != nil {
		return apoyo.CaseState{}, err
	}
	if !d.Decision.Valid() {
		return apoyo.CaseState{}, apoyo.Errorf(apoyo.EINVALID, "case.bad_decision", "decision %q: use verified, rejected or new_document", d.Decision).At(0, "decision")
	}
	if d.Decision == apoyo.DecisionRejected {
		if err := requireReason(d.Reason, ErrReasonRequired, "rejecting a document"); err != nil {
			return apoyo.CaseState{}, err
		}
	}
	if d.Decision == apoyo.DecisionNewDocument {
		if d.DocumentType == "" || d.DocumentNumber == "" {
			return apoyo.CaseState{}, apoyo.Errorf(apoyo.EINVALID, "case.document_required", "a new document needs its type and number").At(0, "document_number")
		}
		cur, err := s.caseState(ctx, caseID)
		if err != nil {
			return cur, err
		}
		if cur.Step != apoyo.StepIdentity || cur.Status != apoyo.CaseWaiting {
			return cur, ErrUpdateRejected.With("case %s is not waiting for an identity decision (step %s, status %s); nothing was changed", caseID, cur.Step, cur.Status)
		}
		if err := s.BeneficiaryStore.UpdateDocument(ctx, benID, d.DocumentType, d.DocumentNumber); err != nil {
			return apoyo.CaseState{}, err
		}
	}
	return s.update(ctx, caseID, workflows.UpdateIdentityDecision, "",
		workflows.IdentityDecision{Decision: string(d.Decision), Reason: d.Reason, Caseworker: who.UserID})
}

// SetPaymentInstrument implements apoyo.CaseService.
func (s *Service) SetPaymentInstrument(ctx context.Context, who apoyo.Identity, caseID string, in apoyo.InstrumentRequest) (apoyo.CaseState, error) {
	_, benID, err := apoyo.ParseCaseID(caseID)
	if err != nil {
		return apoyo.CaseState{}, err
	}
	if !in.Method.Valid() {
		return apoyo.CaseState{}, apoyo.Errorf(apoyo.EINVALID, "case.bad_method", "payment method %q: use spei, cash_pickup or card", in.Method).At(0, "method")
	}
	// The instrument on file changes only for a case that waits for one:
	// otherwise the update would be refused after the account had changed
	// anyway (a finished case, a return after settlement not yet reopened).
	cur, err := s.caseState(ctx, caseID)
	if err != nil {
		return cur, err
	}
	if !cur.AwaitsInstrument() {
		// The caseworker acted on a projection that says the case waits;
		// it may lag (the write after an accepted change failed), and a
		// lagging one hides the case from the sweep's checks: bring it up
		// to the case's own state (never back: SaveState keeps a newer one).
		_ = s.CaseStore.SaveState(ctx, cur)
		return cur, ErrUpdateRejected.With("case %s is not waiting for a new payment instrument (step %s, status %s, waiting on %s); nothing was changed",
			caseID, cur.Step, cur.Status, strings.Join(cur.WaitingOn, ", "))
	}
	store := s.BeneficiaryStore.UpdatePaymentInstrument
	if in.SharedConfirmed {
		store = s.BeneficiaryStore.UpdatePaymentInstrumentShared
	}
	if err := store(ctx, benID, in.Method, in.CLABE, in.CardNumber); err != nil {
		return apoyo.CaseState{}, err
	}
	return s.update(ctx, caseID, workflows.UpdatePaymentInstrument, "", workflows.InstrumentChange{Caseworker: who.UserID, Rail: in.Method})
}

// RecordReferralOutcome implements apoyo.CaseService.
func (s *Service) RecordReferralOutcome(ctx context.Context, who apoyo.Identity, caseID string, r apoyo.ReferralOutcomeRequest) (apoyo.CaseState, error) {
	if !r.Outcome.Valid() {
		return apoyo.CaseState{}, apoyo.Errorf(apoyo.EINVALID, "case.bad_outcome", "outcome %q: use attended, not_attended or declined", r.Outcome).At(0, "outcome")
	}
	in := workflows.ReferralOutcomeInput{ReferralID: r.ReferralID, Outcome: r.Outcome, Caseworker: who.UserID, Note: r.Note}
	return s.update(ctx, caseID, workflows.UpdateReferralOutcome, in.UpdateID(), in)
}

// CancelCase implements apoyo.CaseService: the case stops cleanly (a
// payment already sent is followed to its end; an unpaid case's money
// goes back). The signal is delivered once; the state returned is the
// case's as it is then.
func (s *Service) CancelCase(ctx context.Context, _ apoyo.Identity, caseID, reason string) (apoyo.CaseState, error) {
	if err := requireReason(reason, ErrReasonRequired, "cancelling a case"); err != nil {
		return apoyo.CaseState{}, err
	}
	if _, _, err := apoyo.ParseCaseID(caseID); err != nil {
		return apoyo.CaseState{}, err
	}
	req := workflows.CancelRequest{Reason: reason}
	err := s.Temporal.SignalWorkflow(ctx, caseID, "", workflows.SignalCancel, req)
	if isNotFound(err) {
		// A case kept without a workflow starts with the cancel as its
		// first signal, and ends in its first task.
		k, in, ok, kerr := s.keptUnstarted(ctx, caseID)
		if kerr != nil {
			return apoyo.CaseState{}, kerr
		}
		if ok {
			if err = workflows.StartCancelled(ctx, s.Temporal, k.TaskQueue, in, req); err == nil {
				err = s.CaseStore.MarkStarted(ctx, []string{caseID})
			}
		}
	}
	if err != nil {
		return apoyo.CaseState{}, mapTemporal(caseID, err)
	}
	return s.caseState(ctx, caseID)
}

// PendingRoster implements apoyo.CycleService for the approver's
// secretariat.
func (s *Service) PendingRoster(ctx context.Context, who apoyo.Identity, cycleID string) (apoyo.RosterList, error) {
	return s.CaseStore.PendingRoster(ctx, cycleID, who.Secretariat, who.UserID)
}

// ApproveRoster implements apoyo.CycleService: the signature is recorded
// first (with its audit entry, in one transaction), then each listed case
// gets the secretariat's vote, with at most 32 updates in flight. A case
// that moved on meanwhile is skipped and said why; signing the same list
// again sends the votes still missing, and no vote twice (a vote is a
// Temporal update with a fixed id).
func (s *Service) ApproveRoster(ctx context.Context, who apoyo.Identity, cycleID, listHash string) (apoyo.RosterApproval, error) {
	rec, ids, _, err := s.CaseStore.SignRoster(ctx, cycleID, who, strings.ToLower(strings.TrimSpace(listHash)))
	if err != nil {
		return rec, err
	}
	shape, err := s.cycleShape(ctx, cycleID)
	if err != nil {
		return rec, err
	}
	if shape == 3 {
		// The signature is the vote: each case hears of it once, when
		// every required secretariat's is in (one signal, not one update
		// per secretariat). Signing the same list again tells the cases
		// still untold.
		if err := s.CaseStore.DropWaiting(ctx, ids, who.Secretariat); err != nil {
			return rec, err
		}
		_, handed, failed, err := s.completeApprovals(ctx, cycleID, ids, nil)
		rec.Voted, rec.Skipped, rec.Queued = len(ids)-len(failed), len(failed), handed
		if len(failed) > 100 {
			failed = failed[:100]
		}
		rec.Errors = failed
		return rec, err
	}
	vote := apoyo.ApprovalVote{Secretariat: who.Secretariat, Approve: true, Approver: who.UserID, List: rec.Hash}
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(32)
	for _, id := range ids {
		g.Go(func() error {
			_, err := s.vote(ctx, id, vote)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				rec.Skipped++
				if len(rec.Errors) < 100 {
					rec.Errors = append(rec.Errors, id+": "+err.Error())
				}
				return nil // a case that refused the vote does not stop the others
			}
			rec.Voted++
			return nil
		})
	}
	_ = g.Wait()
	return rec, ctx.Err()
}

// RosterApprovals implements apoyo.CycleService.
func (s *Service) RosterApprovals(ctx context.Context, _ apoyo.Identity, cycleID string) ([]apoyo.RosterApproval, error) {
	return s.CaseStore.RosterApprovals(ctx, cycleID)
}
