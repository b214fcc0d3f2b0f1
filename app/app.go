// Package app is apoyo's application layer: every action a person or a
// partner system can take is one method of Service, taking the acting
// identity (apoyo.Service lists them, with their errors). The CLI, the
// HTTP API, the demo and the console call it; no adapter writes a store
// directly. It talks to the case and cycle workflows through Temporal
// updates and signals, to PostgreSQL through the stores, and keeps the
// caseworkers' projection in step with the state each update returns.
//
// Service itself neither authorizes nor records: Authorized (roles and
// separation of duties) and Audited (the hash-chained audit log) wrap it,
// in this package, and New puts the three together in the one order that
// is right: Audited(Authorized(core)), so that a refused call is recorded
// too.
package app

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/singleflight"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/audit"
	"github.com/apoyo-cdmx/apoyo/cases"
	"github.com/apoyo-cdmx/apoyo/enrolment"
	"github.com/apoyo-cdmx/apoyo/identity"
	"github.com/apoyo-cdmx/apoyo/ledger"
	"github.com/apoyo-cdmx/apoyo/program"
	"github.com/apoyo-cdmx/apoyo/reconcile"
	"github.com/apoyo-cdmx/apoyo/workflows"
)

// Service is the application layer's core: it does what it is asked, for
// whoever asks. Hand out New(core), never the core itself.
type Service struct {
	Temporal  client.Client
	TaskQueue string
	// PaymentQueues is each rail's payment task queue, for the cycles it
	// launches (empty: TaskQueue for everything).
	PaymentQueues    map[apoyo.Rail]string
	Pool             *pgxpool.Pool
	ProgramStore     *program.Store
	BeneficiaryStore *enrolment.Store
	CaseStore        *cases.Store
	Ledger           *ledger.Ledger
	Audit            *audit.Log
	Accounts         *identity.Store

	// StatusMaxAge is how old a cycle's status a read may show (see
	// CycleStatus), unless reading it took more than
	// 1/apoyo.StatusReadCostShare of that (apoyo.StatusShownFor).
	// Default (0): apoyo.DefaultStatusMaxAge; negative: read it anew
	// every time (but for a closed cycle's progress, which never changes
	// and is asked once).
	StatusMaxAge time.Duration

	// shapes caches each cycle's workflow shape (cycle id → int; it never
	// changes).
	shapes sync.Map
	// statuses holds what each cycle's status reads keep (cycle id →
	// *cycleStatuses); statusReads makes concurrent reads of one cycle
	// one read.
	statuses    sync.Map
	statusReads singleflight.Group
}

var _ apoyo.Service = (*Service)(nil)

// New returns the application layer as everyone must use it: the core,
// authorized, audited.
func New(core *Service) apoyo.Service {
	return NewAudited(core.Audit, NewAuthorized(core, core.Audit, core.BeneficiaryStore))
}

// ErrUpdateRejected: the case refused the action (wrong step, a changed
// vote, an unknown referral…); the message says why.
var ErrUpdateRejected = apoyo.Errorf(apoyo.ECONFLICT, "case.action_refused", "the case refused the action")

// Errors of actions that need a reason: a case's (a document rejected, a
// cancel, a retry), a vote's (a rejection), a cycle's (a cancel).
var (
	ErrReasonRequired      = apoyo.Errorf(apoyo.EINVALID, "case.reason_required", "a reason is required")
	ErrVoteReasonRequired  = apoyo.Errorf(apoyo.EINVALID, "approval.reason_required", "a rejection needs a reason")
	ErrCycleReasonRequired = apoyo.Errorf(apoyo.EINVALID, "cycle.reason_required", "cancelling a cycle needs a reason")
)

// requireReason refuses an empty reason with missing, naming what needs
// it and the field.
func requireReason(reason string, missing *apoyo.Error, what string) error {
	if strings.TrimSpace(reason) == "" {
		return missing.With("%s needs a reason", what).At(0, "reason")
	}
	return nil
}

// reconciler is reconciliation wired to reopen the cases whose settled
// payments came back. Without Temporal it still books everything and
// raises the tasks; the reopening happens at the next run with Temporal,
// which hands every such return over again.
func (s *Service) reconciler() *reconcile.Reconciler {
	r := reconcile.New(s.Pool, s.Ledger, s.CaseStore)
	if s.Temporal != nil {
		r = r.WithReopener(s)
	}
	return r
}

// update sends a Temporal update to a case and saves the state it returns
// as the case's projection. updateID makes a retried call the same update.
// A case a workflow task behind its projection (an activity listed it as
// waiting for this person just before the run applied the result) refuses
// as catching up: such an update is sent again, with backoff, for a few
// seconds; every other answer is final.
func (s *Service) update(ctx context.Context, caseID, name, updateID string, arg any) (apoyo.CaseState, error) {
	if _, _, err := apoyo.ParseCaseID(caseID); err != nil {
		return apoyo.CaseState{}, err
	}
	delay := 50 * time.Millisecond
	for try := 0; ; try++ {
		st, err := s.updateOnce(ctx, caseID, name, updateID, arg)
		if err == nil || try == 8 || !errors.Is(err, catchingUp) {
			if errors.Is(err, ErrUpdateRejected) {
				s.repairProjection(ctx, caseID)
			}
			return st, err
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, time.Second)
	}
}

// repairProjection writes a case's own state to its projection after the
// case refused what a person asked of it. The person acted on the
// projection, which may lag the case: the write after an earlier accepted
// change can fail (PostgreSQL restarting), and a projection that still
// says the case waits on a caseworker, when it runs, hides it from the
// sweep's search for lost payment attempts, so that a lost one held the
// case until its timeout. SaveState never writes an older state over a
// newer one; an error leaves the projection as it was.
func (s *Service) repairProjection(ctx context.Context, caseID string) {
	if st, err := s.caseState(ctx, caseID); err == nil {
		_ = s.CaseStore.SaveState(ctx, st)
	}
}

// catchingUp matches an update refused by a case a task behind.
var catchingUp = &apoyo.Error{Reason: workflows.ReasonCatchingUp}

func (s *Service) updateOnce(ctx context.Context, caseID, name, updateID string, arg any) (apoyo.CaseState, error) {
	opts := client.UpdateWorkflowOptions{
		WorkflowID: caseID, UpdateName: name, UpdateID: updateID, Args: []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	}
	h, err := s.Temporal.UpdateWorkflow(ctx, opts)
	if isNotFound(err) {
		// A case kept without a workflow gets one first.
		if started, serr := s.startKept(ctx, caseID); serr != nil {
			return apoyo.CaseState{}, serr
		} else if started {
			h, err = s.Temporal.UpdateWorkflow(ctx, opts)
		}
	}
	if err != nil {
		return apoyo.CaseState{}, mapTemporal(caseID, err)
	}
	var st apoyo.CaseState
	if err := h.Get(ctx, &st); err != nil {
		return st, mapTemporal(caseID, err)
	}
	if err := s.CaseStore.SaveState(ctx, st); err != nil {
		return st, err
	}
	return st, s.CaseStore.ResolveStaleTasks(ctx, caseID, st.Step)
}

// mapTemporal turns Temporal's errors about a case into apoyo's: a
// workflow that is not there (or has ended) is cases.ErrCaseNotFound, a
// refusal by the case's validator is ErrUpdateRejected with its message.
func mapTemporal(caseID string, err error) error {
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return cases.ErrCaseNotFound.With("case %s not found or already finished", caseID)
	}
	if r := workflows.Refusal(err); r != nil {
		// The case's validator said why; keep its reason as the cause.
		return ErrUpdateRejected.With("%s", r.Message).Wrap(r)
	}
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		return ErrUpdateRejected.With("%s", ae.Error())
	}
	return err
}

// vote sends a vote to a case (a Temporal update with a fixed id: sent
// twice, answered once).
func (s *Service) vote(ctx context.Context, caseID string, v apoyo.ApprovalVote) (apoyo.CaseState, error) {
	return s.update(ctx, caseID, workflows.UpdateApprove, workflows.VoteUpdateID(v), v)
}

// workflowStatusName is a Temporal status in words ("failed", "timed out").
func workflowStatusName(st enumspb.WorkflowExecutionStatus) string {
	switch st {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		return "running"
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		return "completed"
	case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:
		return "failed"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		return "terminated"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		return "timed out"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		return "cancelled"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		return "continued as new"
	}
	return strings.ToLower(strings.TrimPrefix(st.String(), "WORKFLOW_EXECUTION_STATUS_"))
}

// RulesOf copies a programme's rules into a case's input, with every
// default filled in: what changes a case's behaviour travels in its input.
func RulesOf(p apoyo.Program) workflows.CaseRules {
	return workflows.CaseRules{Required: p.Approval.Required, Quorum: p.Approval.Quorum, ApprovalSLA: p.Approval.SLA,
		ReviewDeadline: p.Identity.ReviewDeadline, FollowUp: p.Referrals.FollowUp}.WithDefaults()
}
