package api_test

import (
	"context"
	"io"
	"time"

	"github.com/apoyo-cdmx/apoyo"
)

// nothingService answers every call with zero values and no error: behind
// the authorization decorator it tells "allowed" (anything but 403) from
// "refused" in tests of the HTTP layer alone. Uploads are drained, as the
// real service reads them.
type nothingService struct{}

var _ apoyo.Service = nothingService{}

func (nothingService) CreateProgram(ctx context.Context, who apoyo.Identity, spec apoyo.ProgramSpec) (apoyo.Program, error) {
	return apoyo.Program{}, nil
}
func (nothingService) Program(ctx context.Context, who apoyo.Identity, idOrName string) (apoyo.Program, error) {
	return apoyo.Program{}, nil
}
func (nothingService) Programs(ctx context.Context, who apoyo.Identity) ([]apoyo.Program, error) {
	return []apoyo.Program{}, nil
}
func (nothingService) ImportRoster(ctx context.Context, who apoyo.Identity, programID string, r io.Reader, o apoyo.ImportOptions) (apoyo.ImportReport, error) {
	_, _ = io.Copy(io.Discard, r)
	return apoyo.ImportReport{}, nil
}
func (nothingService) Beneficiary(ctx context.Context, who apoyo.Identity, beneficiaryID string) (apoyo.Beneficiary, error) {
	return apoyo.Beneficiary{}, nil
}
func (nothingService) PersonalData(ctx context.Context, who apoyo.Identity, beneficiaryID, purpose string) (apoyo.PersonalData, error) {
	return apoyo.PersonalData{}, nil
}
func (nothingService) LaunchCycle(ctx context.Context, who apoyo.Identity, r apoyo.LaunchRequest) (apoyo.LaunchResult, error) {
	return apoyo.LaunchResult{}, nil
}
func (nothingService) Cycles(ctx context.Context, who apoyo.Identity, programID string) ([]apoyo.Cycle, error) {
	return []apoyo.Cycle{}, nil
}
func (nothingService) CycleStatus(ctx context.Context, who apoyo.Identity, cycleID string) (apoyo.CycleStatusView, error) {
	return apoyo.CycleStatusView{}, nil
}
func (nothingService) PauseCycle(ctx context.Context, who apoyo.Identity, cycleID string) (apoyo.CycleTransition, error) {
	return apoyo.CycleTransition{}, nil
}
func (nothingService) ResumeCycle(ctx context.Context, who apoyo.Identity, cycleID string) (apoyo.CycleTransition, error) {
	return apoyo.CycleTransition{}, nil
}
func (nothingService) CancelCycle(ctx context.Context, who apoyo.Identity, cycleID, reason string) (apoyo.CycleTransition, error) {
	return apoyo.CycleTransition{}, nil
}
func (nothingService) CycleReport(ctx context.Context, who apoyo.Identity, cycleID string, o apoyo.ReportOptions) (apoyo.CycleReport, error) {
	return apoyo.CycleReport{}, nil
}
func (nothingService) PendingRoster(ctx context.Context, who apoyo.Identity, cycleID string) (apoyo.RosterList, error) {
	return apoyo.RosterList{}, nil
}
func (nothingService) ApproveRoster(ctx context.Context, who apoyo.Identity, cycleID, listHash string) (apoyo.RosterApproval, error) {
	return apoyo.RosterApproval{}, nil
}
func (nothingService) RosterApprovals(ctx context.Context, who apoyo.Identity, cycleID string) ([]apoyo.RosterApproval, error) {
	return []apoyo.RosterApproval{}, nil
}
func (nothingService) Cases(ctx context.Context, who apoyo.Identity, f apoyo.CaseFilter) ([]apoyo.Case, error) {
	return []apoyo.Case{}, nil
}
func (nothingService) Case(ctx context.Context, who apoyo.Identity, caseID string) (apoyo.CaseDetail, error) {
	return apoyo.CaseDetail{}, nil
}
func (nothingService) Tasks(ctx context.Context, who apoyo.Identity, f apoyo.TaskFilter) ([]apoyo.Task, error) {
	return []apoyo.Task{}, nil
}
func (nothingService) Queue(ctx context.Context, who apoyo.Identity, f apoyo.QueueFilter) (apoyo.QueuePage, error) {
	return apoyo.QueuePage{Items: []apoyo.QueueItem{}}, nil
}
func (nothingService) Vote(ctx context.Context, who apoyo.Identity, caseID string, v apoyo.VoteRequest) (apoyo.CaseState, error) {
	return apoyo.CaseState{}, nil
}
func (nothingService) DecideIdentity(ctx context.Context, who apoyo.Identity, caseID string, d apoyo.IdentityDecision) (apoyo.CaseState, error) {
	return apoyo.CaseState{}, nil
}
func (nothingService) SetPaymentInstrument(ctx context.Context, who apoyo.Identity, caseID string, in apoyo.InstrumentRequest) (apoyo.CaseState, error) {
	return apoyo.CaseState{}, nil
}
func (nothingService) RecordReferralOutcome(ctx context.Context, who apoyo.Identity, caseID string, r apoyo.ReferralOutcomeRequest) (apoyo.CaseState, error) {
	return apoyo.CaseState{}, nil
}
func (nothingService) RetryStep(ctx context.Context, who apoyo.Identity, caseID, reason string) (apoyo.CaseState, error) {
	return apoyo.CaseState{}, nil
}
func (nothingService) CancelCase(ctx context.Context, who apoyo.Identity, caseID, reason string) (apoyo.CaseState, error) {
	return apoyo.CaseState{}, nil
}
func (nothingService) TrialBalance(ctx context.Context, who apoyo.Identity) (apoyo.TrialBalance, error) {
	return apoyo.TrialBalance{}, nil
}
func (nothingService) Statement(ctx context.Context, who apoyo.Identity, account string, o apoyo.StatementOptions) (apoyo.Statement, error) {
	return apoyo.Statement{}, nil
}
func (nothingService) Balances(ctx context.Context, who apoyo.Identity, f apoyo.BalanceFilter) ([]apoyo.Balance, error) {
	return []apoyo.Balance{}, nil
}
func (nothingService) VerifyLedger(ctx context.Context, who apoyo.Identity, _ apoyo.LedgerVerifyOptions) (apoyo.LedgerVerifyReport, error) {
	return apoyo.LedgerVerifyReport{}, nil
}
func (nothingService) Reconcile(ctx context.Context, who apoyo.Identity, name string, statement io.Reader) (apoyo.ReconcileReport, error) {
	_, _ = io.Copy(io.Discard, statement)
	return apoyo.ReconcileReport{}, nil
}
func (nothingService) Reconciliations(ctx context.Context, who apoyo.Identity, limit int) ([]apoyo.ReconcileRun, error) {
	return []apoyo.ReconcileRun{}, nil
}
func (nothingService) Reconciliation(ctx context.Context, who apoyo.Identity, id int64) (apoyo.ReconcileReport, error) {
	return apoyo.ReconcileReport{}, nil
}
func (nothingService) AuditEntries(ctx context.Context, who apoyo.Identity, f apoyo.AuditFilter) ([]apoyo.AuditEntry, error) {
	return []apoyo.AuditEntry{}, nil
}
func (nothingService) VerifyAudit(ctx context.Context, who apoyo.Identity) (apoyo.AuditVerifyReport, error) {
	return apoyo.AuditVerifyReport{}, nil
}
func (nothingService) AuditHead(ctx context.Context, who apoyo.Identity) (apoyo.AuditHead, error) {
	return apoyo.AuditHead{}, nil
}
func (nothingService) CreateUser(ctx context.Context, who apoyo.Identity, u apoyo.NewUser) (apoyo.User, error) {
	return apoyo.User{}, nil
}
func (nothingService) Users(ctx context.Context, who apoyo.Identity) ([]apoyo.User, error) {
	return []apoyo.User{}, nil
}
func (nothingService) DisableUser(ctx context.Context, who apoyo.Identity, name string) (apoyo.User, error) {
	return apoyo.User{}, nil
}
func (nothingService) CreateToken(ctx context.Context, who apoyo.Identity, userName string, ttl time.Duration) (apoyo.NewToken, error) {
	return apoyo.NewToken{}, nil
}
func (nothingService) Tokens(ctx context.Context, who apoyo.Identity, userName string) ([]apoyo.Token, error) {
	return []apoyo.Token{}, nil
}
func (nothingService) RevokeToken(ctx context.Context, who apoyo.Identity, tokenID string) (apoyo.Token, error) {
	return apoyo.Token{}, nil
}
