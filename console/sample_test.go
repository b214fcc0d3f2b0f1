package console_test

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shopspring/decimal"

	"github.com/apoyo-cdmx/apoyo"
)

// sampleService answers the console's calls with a small, fixed world:
// one programme, one running cycle, one stuck case waiting for an identity
// review, a signed list, the books. It records the calls that change
// something or read personal data, so tests can tell what a page did.
// Methods the console never calls are left to the embedded nil interface
// (a call panics, and the console answers 500: a test would see it).
type sampleService struct {
	apoyo.Service
	mu    sync.Mutex
	calls []string
	// running makes the cycle run (its progress stream then goes on);
	// statusReads counts CycleStatus calls.
	running     bool
	statusReads atomic.Int64
	// state, when set, is the case's state instead of sampleState's.
	state atomic.Pointer[apoyo.CaseState]
}

func (s *sampleService) record(call string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, call)
}

func (s *sampleService) called() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

const (
	sampleProgram = "prg_sample0000000000"
	sampleCycle   = "cyc_sample000000"
	samplePerson  = "ben_sample0000000"
	sampleName    = "Orlando"
)

var (
	sampleCase = apoyo.CaseID(sampleCycle, samplePerson)
	benefit    = decimal.RequireFromString("5600")
	at         = time.Date(2026, 11, 30, 16, 4, 0, 0, time.UTC)
)

func (s *sampleService) Programs(ctx context.Context, who apoyo.Identity) ([]apoyo.Program, error) {
	p, _ := s.Program(ctx, who, sampleProgram)
	return []apoyo.Program{p}, nil
}

func (s *sampleService) Program(context.Context, apoyo.Identity, string) (apoyo.Program, error) {
	return apoyo.Program{ID: sampleProgram, Name: "Ingreso Inclusivo", Currency: "MXN", BenefitAmount: benefit,
		Funds: []apoyo.Fund{{Code: "city", Name: "Presupuesto CDMX", Budget: decimal.RequireFromString("1000000")}}}, nil
}

func (s *sampleService) ImportRoster(_ context.Context, _ apoyo.Identity, _ string, r io.Reader, o apoyo.ImportOptions) (apoyo.ImportReport, error) {
	_, _ = io.Copy(io.Discard, r)
	s.record("ImportRoster")
	return apoyo.ImportReport{Accepted: 2, Rejected: 1, Errors: []apoyo.ImportRowError{{Row: 3, Field: "curp", ValueHint: "AB…", Message: "not a valid CURP"}}}, nil
}

func (s *sampleService) Beneficiary(context.Context, apoyo.Identity, string) (apoyo.Beneficiary, error) {
	return apoyo.Beneficiary{ID: samplePerson, ProgramID: sampleProgram, Alcaldia: "Iztapalapa", PopulationGroup: "refugee", PaymentMethod: apoyo.RailCard}, nil
}

func (s *sampleService) PersonalData(_ context.Context, _ apoyo.Identity, id, purpose string) (apoyo.PersonalData, error) {
	if purpose == "" {
		return apoyo.PersonalData{}, apoyo.Errorf(apoyo.EINVALID, "auth.purpose_required", "purpose: reading personal data needs a purpose").At(0, "purpose")
	}
	s.record("PersonalData:" + purpose)
	return apoyo.PersonalData{BeneficiaryID: id, GivenNames: sampleName, FirstSurname: "Funes", DocumentType: apoyo.DocTVRH, DocumentNumber: "TVRH1"}, nil
}

func (s *sampleService) LaunchCycle(context.Context, apoyo.Identity, apoyo.LaunchRequest) (apoyo.LaunchResult, error) {
	s.record("LaunchCycle")
	return apoyo.LaunchResult{Cycle: sampleCycleValue()}, nil
}

func sampleCycleValue() apoyo.Cycle {
	return apoyo.Cycle{ID: sampleCycle, ProgramID: sampleProgram, Name: "2026-11", Status: apoyo.CycleRunning, RosterSize: 3,
		Amount: decimal.RequireFromString("16800"), CreatedAt: at}
}

func (s *sampleService) Cycles(context.Context, apoyo.Identity, string) ([]apoyo.Cycle, error) {
	return []apoyo.Cycle{sampleCycleValue()}, nil
}

func (s *sampleService) CycleStatus(context.Context, apoyo.Identity, string) (apoyo.CycleStatusView, error) {
	s.statusReads.Add(1)
	c := sampleCycleValue()
	if s.running {
		return apoyo.CycleStatusView{Cycle: c, Cases: apoyo.CycleCounts{Total: 3, ByStep: map[string]int{"approval": 3}}}, nil
	}
	c.Status = apoyo.CycleClosed // closed: the progress stream ends after one event
	return apoyo.CycleStatusView{Cycle: c, Progress: apoyo.CycleProgress{Closed: true},
		Cases:   apoyo.CycleCounts{Total: 3, Done: 3, ByStep: map[string]int{"done": 3}},
		Amounts: map[string]decimal.Decimal{"paid": decimal.RequireFromString("16800")}}, nil
}

func (s *sampleService) control(name string) (apoyo.CycleTransition, error) {
	s.record(name)
	return apoyo.CycleTransition{Cycle: sampleCycleValue(), Applied: true}, nil
}

func (s *sampleService) PauseCycle(context.Context, apoyo.Identity, string) (apoyo.CycleTransition, error) {
	return s.control("PauseCycle")
}
func (s *sampleService) ResumeCycle(context.Context, apoyo.Identity, string) (apoyo.CycleTransition, error) {
	return s.control("ResumeCycle")
}
func (s *sampleService) CancelCycle(context.Context, apoyo.Identity, string, string) (apoyo.CycleTransition, error) {
	return s.control("CancelCycle")
}

func (s *sampleService) CycleReport(context.Context, apoyo.Identity, string, apoyo.ReportOptions) (apoyo.CycleReport, error) {
	return apoyo.CycleReport{Cycle: apoyo.ReportCycle{ID: sampleCycle, Name: "2026-11"}, MinCell: 5, GeneratedAt: at,
		Dimensions: []apoyo.Dimension{{Name: "sex", Categories: []apoyo.Category{
			{Name: "M", Enrolled: apoyo.ReportCount{Value: 7}, Approved: apoyo.ReportCount{Value: 7}, Paid: apoyo.ReportCount{Value: 6},
				AmountPaid: apoyo.ReportAmount{Value: decimal.RequireFromString("33600")}},
			{Name: "X", Enrolled: apoyo.ReportCount{Suppressed: true, Label: "<5"}, Approved: apoyo.ReportCount{Suppressed: true, Label: "<5"},
				Paid: apoyo.ReportCount{Suppressed: true, Label: "<5"}, AmountPaid: apoyo.ReportAmount{Suppressed: true, Label: "x"}},
		}}}}, nil
}

func (s *sampleService) PendingRoster(context.Context, apoyo.Identity, string) (apoyo.RosterList, error) {
	return apoyo.RosterList{CycleID: sampleCycle, Secretariat: apoyo.SIBISO, Size: 1, Total: benefit, Hash: "ab12",
		Lines: []apoyo.RosterLine{{CaseID: sampleCase, Amount: benefit}}}, nil
}

func (s *sampleService) ApproveRoster(_ context.Context, _ apoyo.Identity, _, hash string) (apoyo.RosterApproval, error) {
	if hash == "stale" {
		return apoyo.RosterApproval{}, apoyo.Errorf(apoyo.ECONFLICT, "approval.list_changed", "the list changed: fetch it again")
	}
	s.record("ApproveRoster:" + hash)
	return apoyo.RosterApproval{Hash: hash, Size: 1, Total: benefit, Voted: 1}, nil
}

func (s *sampleService) RosterApprovals(context.Context, apoyo.Identity, string) ([]apoyo.RosterApproval, error) {
	return nil, nil
}

func (s *sampleService) Queue(_ context.Context, _ apoyo.Identity, f apoyo.QueueFilter) (apoyo.QueuePage, error) {
	if f.Step != "" && !f.Step.Valid() {
		return apoyo.QueuePage{}, apoyo.Errorf(apoyo.EINVALID, "queue.invalid", "step %q: not a step", f.Step).At(0, "step")
	}
	return apoyo.QueuePage{Items: []apoyo.QueueItem{{TaskID: 7, Kind: apoyo.TaskIdentityReview, CaseID: sampleCase, ProgramID: sampleProgram,
		CycleID: sampleCycle, BeneficiaryID: samplePerson, Step: apoyo.StepIdentity, Status: apoyo.CaseWaiting, Secretariat: apoyo.SIBISO,
		Alcaldia: "Iztapalapa", Since: at, Detail: "tvrh: a caseworker checks it"}}, Next: 7}, nil
}

func sampleState() apoyo.CaseState {
	return apoyo.CaseState{CaseID: sampleCase, Step: apoyo.StepIdentity, Status: apoyo.CaseWaiting, WaitingOn: []string{apoyo.WaitingOnCaseworker},
		Timeline: []apoyo.Event{{At: at, Step: apoyo.StepIdentity, Outcome: "needs_review", Reason: "tvrh: a caseworker checks it", Actor: "system"}}}
}

func (s *sampleService) Case(context.Context, apoyo.Identity, string) (apoyo.CaseDetail, error) {
	if st := s.state.Load(); st != nil {
		return apoyo.CaseDetail{State: *st}, nil
	}
	return apoyo.CaseDetail{State: sampleState()}, nil
}

func (s *sampleService) act(name string) (apoyo.CaseState, error) {
	s.record(name)
	return sampleState(), nil
}

func (s *sampleService) Vote(context.Context, apoyo.Identity, string, apoyo.VoteRequest) (apoyo.CaseState, error) {
	return s.act("Vote")
}
func (s *sampleService) DecideIdentity(_ context.Context, _ apoyo.Identity, _ string, d apoyo.IdentityDecision) (apoyo.CaseState, error) {
	if !d.Decision.Valid() {
		return apoyo.CaseState{}, apoyo.Errorf(apoyo.EINVALID, "case.invalid_decision", "decision %q: verified, rejected or new_document", d.Decision).At(0, "decision")
	}
	return s.act("DecideIdentity")
}
func (s *sampleService) SetPaymentInstrument(context.Context, apoyo.Identity, string, apoyo.InstrumentRequest) (apoyo.CaseState, error) {
	return s.act("SetPaymentInstrument")
}
func (s *sampleService) RecordReferralOutcome(context.Context, apoyo.Identity, string, apoyo.ReferralOutcomeRequest) (apoyo.CaseState, error) {
	return s.act("RecordReferralOutcome")
}
func (s *sampleService) RetryStep(context.Context, apoyo.Identity, string, string) (apoyo.CaseState, error) {
	return s.act("RetryStep")
}
func (s *sampleService) CancelCase(context.Context, apoyo.Identity, string, string) (apoyo.CaseState, error) {
	return s.act("CancelCase")
}

func (s *sampleService) TrialBalance(context.Context, apoyo.Identity) (apoyo.TrialBalance, error) {
	return apoyo.TrialBalance{Balanced: true, Lines: []apoyo.TrialBalanceLine{{Account: "program.budget", Type: apoyo.Liability, Currency: "MXN",
		Credits: decimal.RequireFromString("1000000")}}}, nil
}

func (s *sampleService) Statement(context.Context, apoyo.Identity, string, apoyo.StatementOptions) (apoyo.Statement, error) {
	return apoyo.Statement{Account: apoyo.LedgerAccount{Code: "program.budget", Type: apoyo.Liability}}, nil
}

func (s *sampleService) Reconcile(_ context.Context, _ apoyo.Identity, name string, r io.Reader) (apoyo.ReconcileReport, error) {
	_, _ = io.Copy(io.Discard, r)
	s.record("Reconcile:" + name)
	return apoyo.ReconcileReport{Statement: name, ImportID: 7}, nil
}

func (s *sampleService) Reconciliations(context.Context, apoyo.Identity, int) ([]apoyo.ReconcileRun, error) {
	return []apoyo.ReconcileRun{{ID: 1, Statement: "2026-11-30.csv", Lines: 3, CreatedAt: at}}, nil
}

func (s *sampleService) Reconciliation(context.Context, apoyo.Identity, int64) (apoyo.ReconcileReport, error) {
	return apoyo.ReconcileReport{Statement: "2026-11-30.csv", Lines: 3, Unmatched: 1, Counts: map[apoyo.FindingClass]int{apoyo.FindingMatched: 2, apoyo.FindingUnknownInStatement: 1},
		Problems: map[apoyo.FindingClass][]apoyo.ReconcileFinding{apoyo.FindingUnknownInStatement: {{Line: 4, TrackingKey: "APOYOX", Amount: "5600.00", Message: "no such order"}}}}, nil
}

func (s *sampleService) AuditEntries(context.Context, apoyo.Identity, apoyo.AuditFilter) ([]apoyo.AuditEntry, error) {
	return []apoyo.AuditEntry{{Seq: 1, At: at, ActorName: "maria.lopez", Role: apoyo.RoleCaseworker, Action: apoyo.ActPersonalDataRead,
		Targets: []string{samplePerson}, Purpose: "verificar TVRH", Outcome: apoyo.AuditOK}}, nil
}

func (s *sampleService) VerifyLedger(context.Context, apoyo.Identity, apoyo.LedgerVerifyOptions) (apoyo.LedgerVerifyReport, error) {
	return apoyo.LedgerVerifyReport{OK: true, Transactions: 4, Postings: 8}, nil
}

func (s *sampleService) VerifyAudit(context.Context, apoyo.Identity) (apoyo.AuditVerifyReport, error) {
	return apoyo.AuditVerifyReport{OK: true, Entries: 1}, nil
}

func (s *sampleService) Users(context.Context, apoyo.Identity) ([]apoyo.User, error) {
	return []apoyo.User{{ID: "usr_1", Name: "maria.lopez", Role: apoyo.RoleCaseworker, CreatedAt: at}}, nil
}
