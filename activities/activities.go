// Package activities implements the beneficiary workflow's activities: the
// only code that touches personal data, the ledger and the bank. Each is a
// method on Activities, which holds its dependencies, and each is
// idempotent: ledger entries and payment orders carry keys derived from
// business ids (cycle, beneficiary, attempt), so a retry after a crash or a
// timeout finds what the first try did instead of doing it again.
package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/cases"
	"github.com/apoyo-cdmx/apoyo/enrolment"
	"github.com/apoyo-cdmx/apoyo/ledger"
	"github.com/apoyo-cdmx/apoyo/mxid"
	"github.com/apoyo-cdmx/apoyo/payment"
	"github.com/apoyo-cdmx/apoyo/program"
	"github.com/apoyo-cdmx/apoyo/workflows"
)

// Activities holds what the activities need.
type Activities struct {
	Programs      *program.Store
	Beneficiaries *enrolment.Store
	Cases         *cases.Store
	Ledger        *ledger.Ledger
	Payments      payment.Provider
	// Temporal signals cases (cycle cancellation).
	Temporal client.Client
	// Namespace is Temporal's namespace of the cases, for the batch
	// operation that cancels a cycle's cases. Default "": no batches (each
	// case is signalled by CancelCases itself).
	Namespace string
	// DataConverter encodes what a batch operation sends to cases, as the
	// client does for its own calls (apoyo's client encrypts payloads).
	// Default: Temporal's default converter.
	DataConverter converter.DataConverter
	// PollInterval is how often Disburse asks the bank for an order's
	// status while it waits. Default 500ms.
	PollInterval time.Duration
	// BankCallTimeout bounds each call to the bank (and is held below half
	// of Disburse's heartbeat timeout). Default DefaultBankCallTimeout.
	BankCallTimeout time.Duration
	// CallbackURL is where the bank posts an order's status changes
	// (CallbackHandler serves it); empty means no callbacks, and the
	// cycle's sweep asks the bank instead (later answers, same outcome).
	CallbackURL string
	// AskAfter is how long an order may wait for its callback before the
	// cycle's sweep asks the bank. Default DefaultAskAfter.
	AskAfter time.Duration
	// RedeliverAfter is how long after a list's signature the cycle's
	// sweep tells again a case whose approvals are in but which still
	// waits at approval. Default one minute.
	RedeliverAfter time.Duration
	// TaskQueue is where StartCasePage starts cases. Default: the queue
	// of the activity that starts them.
	TaskQueue string
	Log       *slog.Logger

	// Per-worker caches of what does not change under a running cycle:
	// programmes (cases carry a copy of their rules; a programme is not
	// edited in place) and cycles whose ledger accounts exist.
	programs      sync.Map // id → apoyo.Program
	cycleAccounts sync.Map // cycle id → struct{}
}

// dataConverter is DataConverter or its default.
func (a *Activities) dataConverter() converter.DataConverter {
	if a.DataConverter != nil {
		return a.DataConverter
	}
	return converter.GetDefaultDataConverter()
}

// program returns a programme, read once per worker.
func (a *Activities) program(ctx context.Context, id string) (apoyo.Program, error) {
	if p, ok := a.programs.Load(id); ok {
		return p.(apoyo.Program), nil
	}
	p, err := a.Programs.Get(ctx, id)
	if err == nil {
		a.programs.Store(id, p)
	}
	return p, err
}

// ensureCycleAccounts makes sure a cycle's ledger accounts exist, once per
// worker (the launch creates them; this covers cases started otherwise).
func (a *Activities) ensureCycleAccounts(ctx context.Context, programID, cycleID string) error {
	if _, ok := a.cycleAccounts.Load(cycleID); ok {
		return nil
	}
	if err := program.EnsureCycleAccounts(ctx, a.Ledger, programID, cycleID); err != nil {
		return err
	}
	a.cycleAccounts.Store(cycleID, struct{}{})
	return nil
}

// temporalError maps apoyo's error codes to Temporal in one place: invalid
// input, missing records and conflicts will not get better by retrying, so
// they are non-retryable; everything else retries with backoff.
func temporalError(err error) error {
	if err == nil {
		return nil
	}
	if apoyo.Retryable(err) {
		return err
	}
	var e *apoyo.Error
	if errors.As(err, &e) {
		return temporal.NewNonRetryableApplicationError(e.Error(), e.Reason, nil)
	}
	return temporal.NewNonRetryableApplicationError(err.Error(), string(apoyo.ErrorCodeOf(err)), nil)
}

func (a *Activities) log() *slog.Logger {
	if a.Log == nil {
		return slog.Default()
	}
	return a.Log
}

// Screen checks identity (unless a caseworker already verified it) and, if
// it holds, eligibility; it writes the case's projection and raises an
// identity-review task when a person must look at a document.
func (a *Activities) Screen(ctx context.Context, in workflows.ScreenInput) (workflows.ScreenResult, error) {
	res, err := a.screen(ctx, in)
	return res, temporalError(err)
}

func (a *Activities) screen(ctx context.Context, in workflows.ScreenInput) (workflows.ScreenResult, error) {
	res, rec, err := a.decideScreen(ctx, in)
	if err != nil {
		return res, err
	}
	return res, a.recordScreen(ctx, rec)
}

// screenRecord is what screening writes: the projection, and whether an
// identity review opens (with its reason) or closes.
type screenRecord struct {
	proj          apoyo.Case
	review        string
	resolveReview bool
}

// decideScreen reads what screening needs and decides, writing nothing.
func (a *Activities) decideScreen(ctx context.Context, in workflows.ScreenInput) (workflows.ScreenResult, screenRecord, error) {
	var res workflows.ScreenResult
	rec := screenRecord{proj: apoyo.Case{ProgramID: in.ProgramID, CycleID: in.CycleID, BeneficiaryID: in.BeneficiaryID, Version: in.Version}}
	proj := &rec.proj
	prog, err := a.program(ctx, in.ProgramID)
	if err != nil {
		return res, rec, err
	}
	ben, err := a.Beneficiaries.Get(ctx, in.BeneficiaryID)
	if err != nil {
		return res, rec, err
	}
	if cyc, err := a.Cases.Cycle(ctx, in.CycleID); err != nil {
		return res, rec, err
	} else if cyc.Cancelled() {
		res.CycleCancelled = true
		proj.Step, proj.Status, proj.Outcome, proj.Reason = apoyo.StepDone, apoyo.CaseDone, apoyo.OutcomeCancelled, "cycle cancelled"
		return res, rec, nil
	}
	if in.SkipIdentity {
		res.Identity = apoyo.IdentityVerified
	} else {
		res.Identity, res.IdentityReason = checkIdentity(prog, ben)
	}
	switch res.Identity {
	case apoyo.IdentityRejected:
		proj.Step, proj.Status, proj.Outcome, proj.Reason = apoyo.StepDone, apoyo.CaseDone, apoyo.OutcomeIdentityRejected, res.IdentityReason
		return res, rec, nil
	case apoyo.IdentityNeedsReview:
		proj.Step, proj.Status, proj.WaitingOn = apoyo.StepIdentity, apoyo.CaseWaiting, []string{apoyo.WaitingOnCaseworker}
		rec.review = res.IdentityReason
		return res, rec, nil
	}
	// Identity holds: a document review, if there was one, is done.
	rec.resolveReview = true
	paid, err := a.Cases.PaidInCycle(ctx, in.CycleID, in.BeneficiaryID)
	if err != nil {
		return res, rec, err
	}
	res.Rules = eligibility(prog, ben, in.CycleDate, paid)
	res.Eligible = true
	for _, r := range res.Rules {
		res.Eligible = res.Eligible && r.Passed
	}
	if !res.Eligible {
		proj.Step, proj.Status, proj.Outcome, proj.Reason = apoyo.StepDone, apoyo.CaseDone, apoyo.OutcomeIneligible, failedRules(res.Rules)
		return res, rec, nil
	}
	res.Rail = ben.Record.PaymentMethod
	for _, svc := range prog.Referrals.For(ben.Record.Needs) {
		res.Referrals = append(res.Referrals, apoyo.Referral{ID: svc.Code, Service: svc.Name, Need: string(svc.Need), Secretariat: svc.Secretariat})
	}
	proj.Step, proj.Status = apoyo.StepApproval, "waiting"
	for _, s := range in.Required {
		proj.WaitingOn = append(proj.WaitingOn, string(s))
	}
	return res, rec, nil
}

// recordScreen writes what screening decided.
func (a *Activities) recordScreen(ctx context.Context, rec screenRecord) error {
	if err := a.Cases.Save(ctx, rec.proj); err != nil {
		return err
	}
	caseID := apoyo.CaseID(rec.proj.CycleID, rec.proj.BeneficiaryID)
	switch {
	case rec.review != "":
		return a.Cases.RaiseTask(ctx, caseID, apoyo.TaskIdentityReview, rec.review)
	case rec.resolveReview:
		return a.Cases.ResolveTasks(ctx, caseID, apoyo.TaskIdentityReview)
	}
	return nil
}

// checkIdentity verifies a CURP by its structure and check digit; other
// documents are verified automatically only when the programme says so,
// and otherwise wait for a caseworker. A CLABE shared with another person
// also needs a person's look before any money moves.
func checkIdentity(prog apoyo.Program, ben enrolment.Person) (apoyo.IdentityOutcome, string) {
	r := ben.Record
	if slices.Contains(ben.ReviewFlags, enrolment.FlagSharedCLABE) {
		return apoyo.IdentityNeedsReview, "the CLABE on file is shared with another beneficiary"
	}
	if r.CURP != "" {
		if err := mxid.ValidateCURP(r.CURP); err != nil {
			return apoyo.IdentityRejected, "CURP invalid: " + apoyo.ErrorReasonOf(err)
		}
		return apoyo.IdentityVerified, "CURP structure and check digit valid"
	}
	if slices.Contains(prog.Identity.AutoVerify, r.IDDocumentType) {
		return apoyo.IdentityVerified, string(r.IDDocumentType) + " accepted by programme rule"
	}
	return apoyo.IdentityNeedsReview, string(r.IDDocumentType) + " needs a caseworker's check"
}

// eligibility evaluates every rule (not just until the first failure), so
// a rejection says everything that is wrong.
func eligibility(prog apoyo.Program, ben enrolment.Person, cycleDate time.Time, paid bool) []apoyo.RuleOutcome {
	r := ben.Record
	e := prog.Eligibility
	age := apoyo.AgeOn(r.BirthDate, cycleDate)
	out := []apoyo.RuleOutcome{
		{Rule: "age", Passed: age >= e.MinAge, Reason: fmt.Sprintf("%d on the cycle date, minimum %d", age, e.MinAge)},
		{Rule: "alcaldia", Passed: len(e.Alcaldias) == 0 || slices.Contains(e.Alcaldias, r.Alcaldia), Reason: "lives in " + r.Alcaldia},
		{Rule: "population_group", Passed: len(e.PopulationGroups) == 0 || slices.Contains(e.PopulationGroups, r.PopulationGroup), Reason: string(r.PopulationGroup)},
		{Rule: "consent", Passed: r.Consent || !e.RequireConsent, Reason: consentWord(r.Consent)},
		{Rule: "not_already_paid", Passed: !paid, Reason: paidWord(paid)},
	}
	for i := range out {
		if out[i].Passed && out[i].Rule != "age" && out[i].Rule != "alcaldia" {
			out[i].Reason = ""
		}
	}
	return out
}

func consentWord(c bool) string {
	if c {
		return "given"
	}
	return "not given"
}

func paidWord(p bool) string {
	if p {
		return "already paid in this cycle"
	}
	return ""
}

func failedRules(rs []apoyo.RuleOutcome) string {
	s := ""
	for _, r := range rs {
		if !r.Passed {
			if s != "" {
				s += "; "
			}
			s += r.Rule + ": " + r.Reason
		}
	}
	return s
}

// Record writes a case's projection and, when asked, raises a task.
func (a *Activities) Record(ctx context.Context, in workflows.RecordInput) error {
	err := a.Cases.Save(ctx, apoyo.CaseOf(in.ProgramID, in.CycleID, in.BeneficiaryID, in.State))
	if err == nil {
		err = a.Cases.ResolveStaleTasks(ctx, in.State.CaseID, in.State.Step)
	}
	if err == nil && in.Task != "" {
		err = a.Cases.RaiseTask(ctx, in.State.CaseID, in.Task, in.State.Reason)
	}
	return temporalError(err)
}

// heartbeat reports progress so a crashed worker's activity is retried
// promptly, and returns the context's error once the activity is cancelled.
func heartbeat(ctx context.Context, details ...any) error {
	if activity.IsActivity(ctx) {
		activity.RecordHeartbeat(ctx, details...)
	}
	return ctx.Err()
}
