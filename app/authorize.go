package app

import (
	"context"
	"io"
	"slices"
	"time"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/audit"
	"github.com/apoyo-cdmx/apoyo/enrolment"
)

// Permissions is who may do what: the one table of it. Separation of
// duties adds, per case, what no table can say (see Authorized).
var Permissions = map[apoyo.Action][]apoyo.Role{
	apoyo.ActProgramCreate: {apoyo.RoleProgramManager},
	apoyo.ActProgramRead:   {apoyo.RoleProgramManager, apoyo.RoleCaseworker, apoyo.RoleApprover, apoyo.RoleAuditor},

	apoyo.ActRosterImport:     {apoyo.RoleProgramManager},
	apoyo.ActBeneficiaryRead:  {apoyo.RoleProgramManager, apoyo.RoleCaseworker},
	apoyo.ActPersonalDataRead: {apoyo.RoleCaseworker},

	apoyo.ActCycleLaunch: {apoyo.RoleProgramManager},
	apoyo.ActCycleRead:   {apoyo.RoleProgramManager, apoyo.RoleCaseworker, apoyo.RoleApprover, apoyo.RoleAuditor},
	apoyo.ActCyclePause:  {apoyo.RoleProgramManager},
	apoyo.ActCycleResume: {apoyo.RoleProgramManager},
	apoyo.ActCycleCancel: {apoyo.RoleProgramManager},
	apoyo.ActCycleReport: {apoyo.RoleProgramManager, apoyo.RoleAuditor},

	apoyo.ActApprovalVote:  {apoyo.RoleApprover},
	apoyo.ActRosterRead:    {apoyo.RoleApprover},
	apoyo.ActRosterSign:    {apoyo.RoleApprover},
	apoyo.ActApprovalsRead: {apoyo.RoleProgramManager, apoyo.RoleApprover, apoyo.RoleAuditor},

	apoyo.ActCaseRead:        {apoyo.RoleProgramManager, apoyo.RoleCaseworker, apoyo.RoleApprover},
	apoyo.ActTaskRead:        {apoyo.RoleProgramManager, apoyo.RoleCaseworker},
	apoyo.ActIdentityDecide:  {apoyo.RoleCaseworker},
	apoyo.ActInstrumentSet:   {apoyo.RoleCaseworker},
	apoyo.ActReferralOutcome: {apoyo.RoleCaseworker},
	apoyo.ActCaseRetry:       {apoyo.RoleCaseworker},
	apoyo.ActCaseCancel:      {apoyo.RoleCaseworker, apoyo.RoleProgramManager},

	apoyo.ActLedgerRead:   {apoyo.RoleProgramManager, apoyo.RoleAuditor},
	apoyo.ActLedgerVerify: {apoyo.RoleProgramManager, apoyo.RoleAuditor},

	apoyo.ActReconcile:          {apoyo.RoleProgramManager},
	apoyo.ActReconciliationRead: {apoyo.RoleProgramManager, apoyo.RoleAuditor},

	apoyo.ActAuditRead:   {apoyo.RoleAuditor},
	apoyo.ActAuditVerify: {apoyo.RoleAuditor},

	apoyo.ActUserCreate:  {apoyo.RoleAdmin, apoyo.RoleSystem},
	apoyo.ActUserUpdate:  {apoyo.RoleAdmin},
	apoyo.ActUserRead:    {apoyo.RoleAdmin, apoyo.RoleSystem},
	apoyo.ActTokenCreate: {apoyo.RoleAdmin, apoyo.RoleSystem},
	apoyo.ActTokenRevoke: {apoyo.RoleAdmin},
	apoyo.ActTokenRead:   {apoyo.RoleAdmin, apoyo.RoleSystem},
}

// Allowed reports whether who's role may take action act (nil), or why
// not: ErrUnauthenticated for no identity, ErrForbidden otherwise. An
// approver must be bound to a secretariat to do anything.
func Allowed(who apoyo.Identity, act apoyo.Action) error {
	if who.Anonymous() {
		return apoyo.ErrUnauthenticated.With("%s needs an identity: sign in or give a token", act)
	}
	if !slices.Contains(Permissions[act], who.Role) {
		return apoyo.ErrForbidden.With("%s (%s) may not %s", who.Name, who.Role, act)
	}
	if who.Role == apoyo.RoleApprover && !who.Secretariat.Valid() {
		return apoyo.ErrForbidden.With("%s is an approver without a secretariat", who.Name)
	}
	return nil
}

// Evidence is what separation of duties needs to know about people and
// cases: who enrolled a person, who handled a case as caseworker, and for
// which secretariats someone has approved. The audit log and the
// enrolment store answer it.
type Evidence interface {
	EnrolledBy(ctx context.Context, beneficiaryID string) (string, error)
	Handled(ctx context.Context, actorID string, caseIDs []string) (map[string]bool, error)
	SecretariatsActedFor(ctx context.Context, actorID string) ([]apoyo.Secretariat, error)
}

type evidence struct {
	log   *audit.Log
	enrol *enrolment.Store
}

func (e evidence) EnrolledBy(ctx context.Context, id string) (string, error) {
	return e.enrol.EnrolledBy(ctx, id)
}
func (e evidence) Handled(ctx context.Context, actorID string, ids []string) (map[string]bool, error) {
	return e.log.Handled(ctx, actorID, ids)
}
func (e evidence) SecretariatsActedFor(ctx context.Context, actorID string) ([]apoyo.Secretariat, error) {
	return e.log.SecretariatsActedFor(ctx, actorID)
}

// Authorized is the authorization decorator: every call is checked
// against Permissions, and the approvals against separation of duties:
//   - an approver acts only for their own secretariat (the vote is the
//     identity's secretariat's; nobody can name another);
//   - nobody approves for two secretariats: someone who ever approved for
//     one secretariat cannot approve for another, whatever their role
//     says now;
//   - nobody approves a case of a person they enrolled, or a case they
//     handled as a caseworker (signed lists leave those cases out);
//   - auditors change nothing, administrators neither approve nor pay
//     (Permissions gives them no such action).
//
// A refusal is ErrForbidden (or ErrUnauthenticated), before anything is
// done.
type Authorized struct {
	next     apoyo.Service
	evidence Evidence
}

var _ apoyo.Service = (*Authorized)(nil)

// NewAuthorized wraps next.
func NewAuthorized(next apoyo.Service, log *audit.Log, enrol *enrolment.Store) *Authorized {
	return &Authorized{next: next, evidence: evidence{log: log, enrol: enrol}}
}

// NewAuthorizedWith wraps next with another source of evidence (tests).
func NewAuthorizedWith(next apoyo.Service, e Evidence) *Authorized {
	return &Authorized{next: next, evidence: e}
}

// approverMay checks the separation-of-duties rules that hold for every
// approval by who: one secretariat, for life.
func (a *Authorized) approverMay(ctx context.Context, who apoyo.Identity) error {
	secs, err := a.evidence.SecretariatsActedFor(ctx, who.UserID)
	if err != nil {
		return err
	}
	for _, s := range secs {
		if s != who.Secretariat {
			return apoyo.ErrForbidden.With("%s has approved for %s and cannot approve for %s: nobody approves for two secretariats", who.Name, s, who.Secretariat)
		}
	}
	return nil
}

// mayDecide checks that who neither enrolled the case's person nor
// handled the case as a caseworker.
func (a *Authorized) mayDecide(ctx context.Context, who apoyo.Identity, caseID string) error {
	_, benID, err := apoyo.ParseCaseID(caseID)
	if err != nil {
		return err
	}
	by, err := a.evidence.EnrolledBy(ctx, benID)
	if err != nil && apoyo.ErrorCodeOf(err) != apoyo.ENOTFOUND {
		return err
	}
	if by != "" && by == who.UserID {
		return apoyo.ErrForbidden.With("%s enrolled the person of case %s and cannot approve it", who.Name, caseID)
	}
	handled, err := a.evidence.Handled(ctx, who.UserID, []string{caseID})
	if err != nil {
		return err
	}
	if handled[caseID] {
		return apoyo.ErrForbidden.With("%s handled case %s as a caseworker and cannot approve it", who.Name, caseID)
	}
	return nil
}

// call checks act, then runs fn.
func call[T any](who apoyo.Identity, act apoyo.Action, fn func() (T, error)) (T, error) {
	if err := Allowed(who, act); err != nil {
		var zero T
		return zero, err
	}
	return fn()
}

func (a *Authorized) CreateProgram(ctx context.Context, who apoyo.Identity, spec apoyo.ProgramSpec) (apoyo.Program, error) {
	return call(who, apoyo.ActProgramCreate, func() (apoyo.Program, error) { return a.next.CreateProgram(ctx, who, spec) })
}
func (a *Authorized) Program(ctx context.Context, who apoyo.Identity, ref string) (apoyo.Program, error) {
	return call(who, apoyo.ActProgramRead, func() (apoyo.Program, error) { return a.next.Program(ctx, who, ref) })
}
func (a *Authorized) Programs(ctx context.Context, who apoyo.Identity) ([]apoyo.Program, error) {
	return call(who, apoyo.ActProgramRead, func() ([]apoyo.Program, error) { return a.next.Programs(ctx, who) })
}
func (a *Authorized) ImportRoster(ctx context.Context, who apoyo.Identity, programID string, r io.Reader, o apoyo.ImportOptions) (apoyo.ImportReport, error) {
	return call(who, apoyo.ActRosterImport, func() (apoyo.ImportReport, error) { return a.next.ImportRoster(ctx, who, programID, r, o) })
}
func (a *Authorized) Beneficiary(ctx context.Context, who apoyo.Identity, id string) (apoyo.Beneficiary, error) {
	return call(who, apoyo.ActBeneficiaryRead, func() (apoyo.Beneficiary, error) { return a.next.Beneficiary(ctx, who, id) })
}
func (a *Authorized) PersonalData(ctx context.Context, who apoyo.Identity, id, purpose string) (apoyo.PersonalData, error) {
	return call(who, apoyo.ActPersonalDataRead, func() (apoyo.PersonalData, error) { return a.next.PersonalData(ctx, who, id, purpose) })
}
func (a *Authorized) LaunchCycle(ctx context.Context, who apoyo.Identity, r apoyo.LaunchRequest) (apoyo.LaunchResult, error) {
	return call(who, apoyo.ActCycleLaunch, func() (apoyo.LaunchResult, error) { return a.next.LaunchCycle(ctx, who, r) })
}
func (a *Authorized) Cycles(ctx context.Context, who apoyo.Identity, programID string) ([]apoyo.Cycle, error) {
	return call(who, apoyo.ActCycleRead, func() ([]apoyo.Cycle, error) { return a.next.Cycles(ctx, who, programID) })
}
func (a *Authorized) CycleStatus(ctx context.Context, who apoyo.Identity, id string) (apoyo.CycleStatusView, error) {
	return call(who, apoyo.ActCycleRead, func() (apoyo.CycleStatusView, error) { return a.next.CycleStatus(ctx, who, id) })
}
func (a *Authorized) PauseCycle(ctx context.Context, who apoyo.Identity, id string) (apoyo.CycleTransition, error) {
	return call(who, apoyo.ActCyclePause, func() (apoyo.CycleTransition, error) { return a.next.PauseCycle(ctx, who, id) })
}
func (a *Authorized) ResumeCycle(ctx context.Context, who apoyo.Identity, id string) (apoyo.CycleTransition, error) {
	return call(who, apoyo.ActCycleResume, func() (apoyo.CycleTransition, error) { return a.next.ResumeCycle(ctx, who, id) })
}
func (a *Authorized) CancelCycle(ctx context.Context, who apoyo.Identity, id, reason string) (apoyo.CycleTransition, error) {
	return call(who, apoyo.ActCycleCancel, func() (apoyo.CycleTransition, error) { return a.next.CancelCycle(ctx, who, id, reason) })
}
func (a *Authorized) CycleReport(ctx context.Context, who apoyo.Identity, id string, o apoyo.ReportOptions) (apoyo.CycleReport, error) {
	return call(who, apoyo.ActCycleReport, func() (apoyo.CycleReport, error) { return a.next.CycleReport(ctx, who, id, o) })
}
func (a *Authorized) PendingRoster(ctx context.Context, who apoyo.Identity, id string) (apoyo.RosterList, error) {
	return call(who, apoyo.ActRosterRead, func() (apoyo.RosterList, error) { return a.next.PendingRoster(ctx, who, id) })
}
func (a *Authorized) ApproveRoster(ctx context.Context, who apoyo.Identity, id, hash string) (apoyo.RosterApproval, error) {
	return call(who, apoyo.ActRosterSign, func() (apoyo.RosterApproval, error) {
		if err := a.approverMay(ctx, who); err != nil {
			return apoyo.RosterApproval{}, err
		}
		return a.next.ApproveRoster(ctx, who, id, hash)
	})
}
func (a *Authorized) RosterApprovals(ctx context.Context, who apoyo.Identity, id string) ([]apoyo.RosterApproval, error) {
	return call(who, apoyo.ActApprovalsRead, func() ([]apoyo.RosterApproval, error) { return a.next.RosterApprovals(ctx, who, id) })
}
func (a *Authorized) Cases(ctx context.Context, who apoyo.Identity, f apoyo.CaseFilter) ([]apoyo.Case, error) {
	return call(who, apoyo.ActCaseRead, func() ([]apoyo.Case, error) { return a.next.Cases(ctx, who, f) })
}
func (a *Authorized) Case(ctx context.Context, who apoyo.Identity, id string) (apoyo.CaseDetail, error) {
	return call(who, apoyo.ActCaseRead, func() (apoyo.CaseDetail, error) { return a.next.Case(ctx, who, id) })
}
func (a *Authorized) Tasks(ctx context.Context, who apoyo.Identity, f apoyo.TaskFilter) ([]apoyo.Task, error) {
	return call(who, apoyo.ActTaskRead, func() ([]apoyo.Task, error) { return a.next.Tasks(ctx, who, f) })
}
func (a *Authorized) Queue(ctx context.Context, who apoyo.Identity, f apoyo.QueueFilter) (apoyo.QueuePage, error) {
	return call(who, apoyo.ActTaskRead, func() (apoyo.QueuePage, error) { return a.next.Queue(ctx, who, f) })
}
func (a *Authorized) Vote(ctx context.Context, who apoyo.Identity, id string, v apoyo.VoteRequest) (apoyo.CaseState, error) {
	return call(who, apoyo.ActApprovalVote, func() (apoyo.CaseState, error) {
		if err := a.approverMay(ctx, who); err != nil {
			return apoyo.CaseState{}, err
		}
		if err := a.mayDecide(ctx, who, id); err != nil {
			return apoyo.CaseState{}, err
		}
		return a.next.Vote(ctx, who, id, v)
	})
}
func (a *Authorized) DecideIdentity(ctx context.Context, who apoyo.Identity, id string, d apoyo.IdentityDecision) (apoyo.CaseState, error) {
	return call(who, apoyo.ActIdentityDecide, func() (apoyo.CaseState, error) { return a.next.DecideIdentity(ctx, who, id, d) })
}
func (a *Authorized) SetPaymentInstrument(ctx context.Context, who apoyo.Identity, id string, in apoyo.InstrumentRequest) (apoyo.CaseState, error) {
	return call(who, apoyo.ActInstrumentSet, func() (apoyo.CaseState, error) { return a.next.SetPaymentInstrument(ctx, who, id, in) })
}
func (a *Authorized) RecordReferralOutcome(ctx context.Context, who apoyo.Identity, id string, r apoyo.ReferralOutcomeRequest) (apoyo.CaseState, error) {
	return call(who, apoyo.ActReferralOutcome, func() (apoyo.CaseState, error) { return a.next.RecordReferralOutcome(ctx, who, id, r) })
}
func (a *Authorized) RetryStep(ctx context.Context, who apoyo.Identity, id, reason string) (apoyo.CaseState, error) {
	return call(who, apoyo.ActCaseRetry, func() (apoyo.CaseState, error) { return a.next.RetryStep(ctx, who, id, reason) })
}
func (a *Authorized) CancelCase(ctx context.Context, who apoyo.Identity, id, reason string) (apoyo.CaseState, error) {
	return call(who, apoyo.ActCaseCancel, func() (apoyo.CaseState, error) { return a.next.CancelCase(ctx, who, id, reason) })
}
func (a *Authorized) TrialBalance(ctx context.Context, who apoyo.Identity) (apoyo.TrialBalance, error) {
	return call(who, apoyo.ActLedgerRead, func() (apoyo.TrialBalance, error) { return a.next.TrialBalance(ctx, who) })
}
func (a *Authorized) Statement(ctx context.Context, who apoyo.Identity, account string, o apoyo.StatementOptions) (apoyo.Statement, error) {
	return call(who, apoyo.ActLedgerRead, func() (apoyo.Statement, error) { return a.next.Statement(ctx, who, account, o) })
}
func (a *Authorized) Balances(ctx context.Context, who apoyo.Identity, f apoyo.BalanceFilter) ([]apoyo.Balance, error) {
	return call(who, apoyo.ActLedgerRead, func() ([]apoyo.Balance, error) { return a.next.Balances(ctx, who, f) })
}
func (a *Authorized) VerifyLedger(ctx context.Context, who apoyo.Identity, o apoyo.LedgerVerifyOptions) (apoyo.LedgerVerifyReport, error) {
	return call(who, apoyo.ActLedgerVerify, func() (apoyo.LedgerVerifyReport, error) { return a.next.VerifyLedger(ctx, who, o) })
}
func (a *Authorized) Reconcile(ctx context.Context, who apoyo.Identity, name string, r io.Reader) (apoyo.ReconcileReport, error) {
	return call(who, apoyo.ActReconcile, func() (apoyo.ReconcileReport, error) { return a.next.Reconcile(ctx, who, name, r) })
}
func (a *Authorized) Reconciliations(ctx context.Context, who apoyo.Identity, limit int) ([]apoyo.ReconcileRun, error) {
	return call(who, apoyo.ActReconciliationRead, func() ([]apoyo.ReconcileRun, error) { return a.next.Reconciliations(ctx, who, limit) })
}
func (a *Authorized) Reconciliation(ctx context.Context, who apoyo.Identity, id int64) (apoyo.ReconcileReport, error) {
	return call(who, apoyo.ActReconciliationRead, func() (apoyo.ReconcileReport, error) { return a.next.Reconciliation(ctx, who, id) })
}
func (a *Authorized) AuditEntries(ctx context.Context, who apoyo.Identity, f apoyo.AuditFilter) ([]apoyo.AuditEntry, error) {
	return call(who, apoyo.ActAuditRead, func() ([]apoyo.AuditEntry, error) { return a.next.AuditEntries(ctx, who, f) })
}
func (a *Authorized) VerifyAudit(ctx context.Context, who apoyo.Identity) (apoyo.AuditVerifyReport, error) {
	return call(who, apoyo.ActAuditVerify, func() (apoyo.AuditVerifyReport, error) { return a.next.VerifyAudit(ctx, who) })
}
func (a *Authorized) AuditHead(ctx context.Context, who apoyo.Identity) (apoyo.AuditHead, error) {
	return call(who, apoyo.ActAuditVerify, func() (apoyo.AuditHead, error) { return a.next.AuditHead(ctx, who) })
}
func (a *Authorized) CreateUser(ctx context.Context, who apoyo.Identity, u apoyo.NewUser) (apoyo.User, error) {
	return call(who, apoyo.ActUserCreate, func() (apoyo.User, error) { return a.next.CreateUser(ctx, who, u) })
}
func (a *Authorized) Users(ctx context.Context, who apoyo.Identity) ([]apoyo.User, error) {
	return call(who, apoyo.ActUserRead, func() ([]apoyo.User, error) { return a.next.Users(ctx, who) })
}
func (a *Authorized) DisableUser(ctx context.Context, who apoyo.Identity, name string) (apoyo.User, error) {
	return call(who, apoyo.ActUserUpdate, func() (apoyo.User, error) { return a.next.DisableUser(ctx, who, name) })
}
func (a *Authorized) CreateToken(ctx context.Context, who apoyo.Identity, user string, ttl time.Duration) (apoyo.NewToken, error) {
	return call(who, apoyo.ActTokenCreate, func() (apoyo.NewToken, error) { return a.next.CreateToken(ctx, who, user, ttl) })
}
func (a *Authorized) Tokens(ctx context.Context, who apoyo.Identity, user string) ([]apoyo.Token, error) {
	return call(who, apoyo.ActTokenRead, func() ([]apoyo.Token, error) { return a.next.Tokens(ctx, who, user) })
}
func (a *Authorized) RevokeToken(ctx context.Context, who apoyo.Identity, id string) (apoyo.Token, error) {
	return call(who, apoyo.ActTokenRevoke, func() (apoyo.Token, error) { return a.next.RevokeToken(ctx, who, id) })
}
