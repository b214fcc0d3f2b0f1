package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/audit"
)

// Audited is the audit decorator: every state-changing call, and every
// read of a person's personal data, leaves one entry in the hash-chained
// audit log (actor, role, secretariat, action, target ids, outcome,
// request id, time). Where the change is a PostgreSQL transaction of
// apoyo's own (users and tokens, a cycle's pause, resume or cancel, a
// signed list, a new document or payment instrument), the entry is
// written inside that transaction, so both commit or neither does. Where
// the change happens elsewhere (a Temporal update, a ledger batch, a
// launch), the entry is written when the call returns, with its outcome:
// ok, failed (error code and reason) or denied. A call whose change was
// made but whose entry cannot be written returns an error saying so. A
// read of personal data is recorded before the data leaves: if it cannot
// be recorded, the data is not returned. Other reads pass through, except
// refused ones, which are recorded as denied.
type Audited struct {
	next apoyo.Service
	log  *audit.Log
}

var _ apoyo.Service = (*Audited)(nil)

// NewAudited wraps next.
func NewAudited(log *audit.Log, next apoyo.Service) *Audited {
	return &Audited{next: next, log: log}
}

// ErrNotRecorded: the call's change was made, but its audit entry could
// not be written. The message names the action and the request.
var ErrNotRecorded = apoyo.Errorf(apoyo.EUNAVAILABLE, "audit.not_recorded", "the action was done, but its audit entry could not be written")

func entry(ctx context.Context, who apoyo.Identity, act apoyo.Action, targets []string) apoyo.AuditEntry {
	if targets == nil {
		targets = []string{}
	}
	return apoyo.AuditEntry{ActorID: who.UserID, ActorName: who.Name, Role: who.Role, Secretariat: who.Secretariat, Via: who.Via,
		TokenID: who.TokenID, Action: act, Targets: targets, RequestID: apoyo.RequestID(ctx)}
}

// validate checks, before a call acts, that its entry will be accepted by
// the log (its outcome is not known yet: any will do).
func validate(e apoyo.AuditEntry) error {
	e.Outcome = apoyo.AuditOK
	return audit.Validate(e)
}

// outcomeOf classifies a call's error for the log.
func outcomeOf(e *apoyo.AuditEntry, err error) {
	switch {
	case err == nil:
		e.Outcome = apoyo.AuditOK
	case errors.Is(err, apoyo.ErrForbidden) || errors.Is(err, apoyo.ErrUnauthenticated):
		e.Outcome, e.ErrorCode, e.ErrorReason = apoyo.AuditDenied, apoyo.ErrorCodeOf(err), apoyo.ErrorReasonOf(err)
	default:
		e.Outcome, e.ErrorCode, e.ErrorReason = apoyo.AuditFailed, apoyo.ErrorCodeOf(err), apoyo.ErrorReasonOf(err)
		if e.ErrorReason == "" && errors.Is(err, context.Canceled) {
			e.ErrorReason = "context.canceled"
		}
	}
}

// appendEntry writes e on its own; a failure after a change that was made
// is ErrNotRecorded.
func (a *Audited) appendEntry(ctx context.Context, e apoyo.AuditEntry, callErr error) error {
	// A caller that went away must not keep a finished change out of the
	// log: write with a context of its own.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if _, err := a.log.Append(wctx, e); err != nil {
		if callErr == nil {
			return ErrNotRecorded.With("%s by %s (request %s) was done, but its audit entry could not be written: %v", e.Action, e.ActorName, e.RequestID, err).Wrap(err)
		}
	}
	return callErr
}

// change records a state-changing call. targets are known before the
// call; more adds what only its result says (a new id) and detail what it
// did (counts, a hash).
func change[T any](a *Audited, ctx context.Context, who apoyo.Identity, act apoyo.Action, targets []string,
	fn func(context.Context) (T, error), more func(T) ([]string, map[string]string)) (T, error) {
	e := entry(ctx, who, act, targets)
	if err := validate(e); err != nil {
		// An entry the log would refuse stops the call before it acts,
		// rather than leaving a change without its record.
		var zero T
		return zero, err
	}
	tctx, pending := audit.WithPending(ctx, a.log, e)
	res, err := fn(tctx)
	if pending.Committed(err) {
		// The entry committed with the change, with what the store noted
		// (audit.Note). A failure after it (a Temporal update refused once
		// the new instrument was stored) is recorded as a second entry.
		if err == nil {
			return res, nil
		}
		e.Detail = map[string]string{"after_change": "the change above committed, then the call failed"}
		outcomeOf(&e, err)
		return res, a.appendEntry(ctx, e, err)
	}
	outcomeOf(&e, err)
	if more != nil {
		// A failed call may still have made what its result names (a
		// launch that created the cycle, then found the budget short):
		// its ids are recorded either way, what it did only on success.
		extra, detail := more(res)
		for _, id := range extra {
			if id != "" {
				e.Targets = append(e.Targets, id)
			}
		}
		if err == nil {
			e.Detail = detail
		}
	}
	return res, a.appendEntry(ctx, e, err)
}

// read passes a read through, recording it only when it was refused.
func read[T any](a *Audited, ctx context.Context, who apoyo.Identity, act apoyo.Action, targets []string, fn func() (T, error)) (T, error) {
	res, err := fn()
	if errors.Is(err, apoyo.ErrForbidden) || errors.Is(err, apoyo.ErrUnauthenticated) {
		e := entry(ctx, who, act, targets)
		outcomeOf(&e, err)
		return res, a.appendEntry(ctx, e, err)
	}
	return res, err
}

func caseTargets(caseID string) []string {
	cyc, ben, err := apoyo.ParseCaseID(caseID)
	if err != nil {
		return []string{caseID}
	}
	return []string{caseID, cyc, ben}
}

func (a *Audited) CreateProgram(ctx context.Context, who apoyo.Identity, spec apoyo.ProgramSpec) (apoyo.Program, error) {
	return change(a, ctx, who, apoyo.ActProgramCreate, nil, func(ctx context.Context) (apoyo.Program, error) { return a.next.CreateProgram(ctx, who, spec) },
		func(p apoyo.Program) ([]string, map[string]string) { return []string{p.ID}, nil })
}
func (a *Audited) Program(ctx context.Context, who apoyo.Identity, ref string) (apoyo.Program, error) {
	return read(a, ctx, who, apoyo.ActProgramRead, []string{ref}, func() (apoyo.Program, error) { return a.next.Program(ctx, who, ref) })
}
func (a *Audited) Programs(ctx context.Context, who apoyo.Identity) ([]apoyo.Program, error) {
	return read(a, ctx, who, apoyo.ActProgramRead, nil, func() ([]apoyo.Program, error) { return a.next.Programs(ctx, who) })
}
func (a *Audited) ImportRoster(ctx context.Context, who apoyo.Identity, programID string, r io.Reader, o apoyo.ImportOptions) (apoyo.ImportReport, error) {
	if o.DryRun {
		return read(a, ctx, who, apoyo.ActRosterImport, []string{programID}, func() (apoyo.ImportReport, error) {
			return a.next.ImportRoster(ctx, who, programID, r, o)
		})
	}
	return change(a, ctx, who, apoyo.ActRosterImport, []string{programID},
		func(ctx context.Context) (apoyo.ImportReport, error) {
			return a.next.ImportRoster(ctx, who, programID, r, o)
		},
		func(rep apoyo.ImportReport) ([]string, map[string]string) {
			return []string{rep.ImportID}, map[string]string{"accepted": strconv.Itoa(rep.Accepted), "rejected": strconv.Itoa(rep.Rejected),
				"duplicates": strconv.Itoa(rep.Duplicates), "flagged": strconv.Itoa(rep.Flagged)}
		})
}
func (a *Audited) Beneficiary(ctx context.Context, who apoyo.Identity, id string) (apoyo.Beneficiary, error) {
	return read(a, ctx, who, apoyo.ActBeneficiaryRead, []string{id}, func() (apoyo.Beneficiary, error) { return a.next.Beneficiary(ctx, who, id) })
}

// PersonalData records the read, with its purpose, before the data
// leaves; without the entry, no data.
func (a *Audited) PersonalData(ctx context.Context, who apoyo.Identity, id, purpose string) (apoyo.PersonalData, error) {
	e := entry(ctx, who, apoyo.ActPersonalDataRead, []string{id})
	e.Purpose = purpose
	if err := validate(e); err != nil {
		return apoyo.PersonalData{}, err // a read that could not be recorded is not made
	}
	res, err := a.next.PersonalData(ctx, who, id, purpose)
	outcomeOf(&e, err)
	if aerr := a.appendEntry(ctx, e, err); aerr != nil {
		if err == nil {
			return apoyo.PersonalData{}, ErrNotRecorded.With("the read could not be recorded, so nothing is shown; try again")
		}
		return apoyo.PersonalData{}, aerr
	}
	return res, nil
}
func (a *Audited) LaunchCycle(ctx context.Context, who apoyo.Identity, r apoyo.LaunchRequest) (apoyo.LaunchResult, error) {
	return change(a, ctx, who, apoyo.ActCycleLaunch, []string{r.ProgramID},
		func(ctx context.Context) (apoyo.LaunchResult, error) { return a.next.LaunchCycle(ctx, who, r) },
		func(res apoyo.LaunchResult) ([]string, map[string]string) {
			return []string{res.Cycle.ID}, map[string]string{"created": strconv.FormatBool(res.Created), "cases": strconv.Itoa(res.Cases),
				"reserved": res.Reserved.StringFixed(2), "roster_hash": res.Cycle.RosterHash}
		})
}
func (a *Audited) Cycles(ctx context.Context, who apoyo.Identity, programID string) ([]apoyo.Cycle, error) {
	return read(a, ctx, who, apoyo.ActCycleRead, []string{programID}, func() ([]apoyo.Cycle, error) { return a.next.Cycles(ctx, who, programID) })
}
func (a *Audited) CycleStatus(ctx context.Context, who apoyo.Identity, id string) (apoyo.CycleStatusView, error) {
	return read(a, ctx, who, apoyo.ActCycleRead, []string{id}, func() (apoyo.CycleStatusView, error) { return a.next.CycleStatus(ctx, who, id) })
}
func transitionDetail(tr apoyo.CycleTransition) ([]string, map[string]string) {
	return nil, map[string]string{"status": string(tr.Cycle.Status), "seq": strconv.FormatInt(tr.Seq, 10), "applied": strconv.FormatBool(tr.Applied)}
}
func (a *Audited) PauseCycle(ctx context.Context, who apoyo.Identity, id string) (apoyo.CycleTransition, error) {
	return change(a, ctx, who, apoyo.ActCyclePause, []string{id}, func(ctx context.Context) (apoyo.CycleTransition, error) { return a.next.PauseCycle(ctx, who, id) }, transitionDetail)
}
func (a *Audited) ResumeCycle(ctx context.Context, who apoyo.Identity, id string) (apoyo.CycleTransition, error) {
	return change(a, ctx, who, apoyo.ActCycleResume, []string{id}, func(ctx context.Context) (apoyo.CycleTransition, error) { return a.next.ResumeCycle(ctx, who, id) }, transitionDetail)
}
func (a *Audited) CancelCycle(ctx context.Context, who apoyo.Identity, id, reason string) (apoyo.CycleTransition, error) {
	return change(a, ctx, who, apoyo.ActCycleCancel, []string{id}, func(ctx context.Context) (apoyo.CycleTransition, error) {
		return a.next.CancelCycle(ctx, who, id, reason)
	}, transitionDetail)
}
func (a *Audited) CycleReport(ctx context.Context, who apoyo.Identity, id string, o apoyo.ReportOptions) (apoyo.CycleReport, error) {
	return read(a, ctx, who, apoyo.ActCycleReport, []string{id}, func() (apoyo.CycleReport, error) { return a.next.CycleReport(ctx, who, id, o) })
}
func (a *Audited) PendingRoster(ctx context.Context, who apoyo.Identity, id string) (apoyo.RosterList, error) {
	return read(a, ctx, who, apoyo.ActRosterRead, []string{id}, func() (apoyo.RosterList, error) { return a.next.PendingRoster(ctx, who, id) })
}
func (a *Audited) ApproveRoster(ctx context.Context, who apoyo.Identity, id, hash string) (apoyo.RosterApproval, error) {
	return change(a, ctx, who, apoyo.ActRosterSign, []string{id, hash}, func(ctx context.Context) (apoyo.RosterApproval, error) {
		return a.next.ApproveRoster(ctx, who, id, hash)
	}, func(r apoyo.RosterApproval) ([]string, map[string]string) {
		return nil, map[string]string{"size": strconv.Itoa(r.Size), "total": r.Total.StringFixed(2), "voted": strconv.Itoa(r.Voted),
			"skipped": strconv.Itoa(r.Skipped), "approval": strconv.FormatInt(r.ID, 10)}
	})
}
func (a *Audited) RosterApprovals(ctx context.Context, who apoyo.Identity, id string) ([]apoyo.RosterApproval, error) {
	return read(a, ctx, who, apoyo.ActApprovalsRead, []string{id}, func() ([]apoyo.RosterApproval, error) { return a.next.RosterApprovals(ctx, who, id) })
}
func (a *Audited) Cases(ctx context.Context, who apoyo.Identity, f apoyo.CaseFilter) ([]apoyo.Case, error) {
	return read(a, ctx, who, apoyo.ActCaseRead, nil, func() ([]apoyo.Case, error) { return a.next.Cases(ctx, who, f) })
}
func (a *Audited) Case(ctx context.Context, who apoyo.Identity, id string) (apoyo.CaseDetail, error) {
	return read(a, ctx, who, apoyo.ActCaseRead, caseTargets(id), func() (apoyo.CaseDetail, error) { return a.next.Case(ctx, who, id) })
}
func (a *Audited) Tasks(ctx context.Context, who apoyo.Identity, f apoyo.TaskFilter) ([]apoyo.Task, error) {
	return read(a, ctx, who, apoyo.ActTaskRead, nil, func() ([]apoyo.Task, error) { return a.next.Tasks(ctx, who, f) })
}
func (a *Audited) Queue(ctx context.Context, who apoyo.Identity, f apoyo.QueueFilter) (apoyo.QueuePage, error) {
	return read(a, ctx, who, apoyo.ActTaskRead, nil, func() (apoyo.QueuePage, error) { return a.next.Queue(ctx, who, f) })
}
func stateDetail(st apoyo.CaseState) ([]string, map[string]string) {
	return nil, map[string]string{"step": string(st.Step), "status": string(st.Status)}
}
func (a *Audited) Vote(ctx context.Context, who apoyo.Identity, id string, v apoyo.VoteRequest) (apoyo.CaseState, error) {
	return change(a, ctx, who, apoyo.ActApprovalVote, caseTargets(id), func(ctx context.Context) (apoyo.CaseState, error) { return a.next.Vote(ctx, who, id, v) },
		func(st apoyo.CaseState) ([]string, map[string]string) {
			_, d := stateDetail(st)
			d["vote"] = fmt.Sprint(map[bool]string{true: "approve", false: "reject"}[v.Approve])
			return nil, d
		})
}
func (a *Audited) DecideIdentity(ctx context.Context, who apoyo.Identity, id string, d apoyo.IdentityDecision) (apoyo.CaseState, error) {
	return change(a, ctx, who, apoyo.ActIdentityDecide, caseTargets(id), func(ctx context.Context) (apoyo.CaseState, error) {
		return a.next.DecideIdentity(ctx, who, id, d)
	}, func(st apoyo.CaseState) ([]string, map[string]string) {
		_, m := stateDetail(st)
		m["decision"] = string(d.Decision)
		return nil, m
	})
}
func (a *Audited) SetPaymentInstrument(ctx context.Context, who apoyo.Identity, id string, in apoyo.InstrumentRequest) (apoyo.CaseState, error) {
	return change(a, ctx, who, apoyo.ActInstrumentSet, caseTargets(id), func(ctx context.Context) (apoyo.CaseState, error) {
		return a.next.SetPaymentInstrument(ctx, who, id, in)
	}, stateDetail)
}
func (a *Audited) RecordReferralOutcome(ctx context.Context, who apoyo.Identity, id string, r apoyo.ReferralOutcomeRequest) (apoyo.CaseState, error) {
	return change(a, ctx, who, apoyo.ActReferralOutcome, append(caseTargets(id), r.ReferralID), func(ctx context.Context) (apoyo.CaseState, error) {
		return a.next.RecordReferralOutcome(ctx, who, id, r)
	}, stateDetail)
}
func (a *Audited) RetryStep(ctx context.Context, who apoyo.Identity, id, reason string) (apoyo.CaseState, error) {
	return change(a, ctx, who, apoyo.ActCaseRetry, caseTargets(id), func(ctx context.Context) (apoyo.CaseState, error) {
		return a.next.RetryStep(ctx, who, id, reason)
	}, stateDetail)
}
func (a *Audited) CancelCase(ctx context.Context, who apoyo.Identity, id, reason string) (apoyo.CaseState, error) {
	return change(a, ctx, who, apoyo.ActCaseCancel, caseTargets(id), func(ctx context.Context) (apoyo.CaseState, error) {
		return a.next.CancelCase(ctx, who, id, reason)
	}, stateDetail)
}
func (a *Audited) TrialBalance(ctx context.Context, who apoyo.Identity) (apoyo.TrialBalance, error) {
	return read(a, ctx, who, apoyo.ActLedgerRead, nil, func() (apoyo.TrialBalance, error) { return a.next.TrialBalance(ctx, who) })
}
func (a *Audited) Statement(ctx context.Context, who apoyo.Identity, account string, o apoyo.StatementOptions) (apoyo.Statement, error) {
	return read(a, ctx, who, apoyo.ActLedgerRead, []string{account}, func() (apoyo.Statement, error) { return a.next.Statement(ctx, who, account, o) })
}
func (a *Audited) Balances(ctx context.Context, who apoyo.Identity, f apoyo.BalanceFilter) ([]apoyo.Balance, error) {
	return read(a, ctx, who, apoyo.ActLedgerRead, nil, func() ([]apoyo.Balance, error) { return a.next.Balances(ctx, who, f) })
}
func (a *Audited) VerifyLedger(ctx context.Context, who apoyo.Identity, o apoyo.LedgerVerifyOptions) (apoyo.LedgerVerifyReport, error) {
	return read(a, ctx, who, apoyo.ActLedgerVerify, nil, func() (apoyo.LedgerVerifyReport, error) { return a.next.VerifyLedger(ctx, who, o) })
}
func (a *Audited) Reconcile(ctx context.Context, who apoyo.Identity, name string, r io.Reader) (apoyo.ReconcileReport, error) {
	return change(a, ctx, who, apoyo.ActReconcile, nil, func(ctx context.Context) (apoyo.ReconcileReport, error) { return a.next.Reconcile(ctx, who, name, r) },
		func(rep apoyo.ReconcileReport) ([]string, map[string]string) {
			return []string{strconv.FormatInt(rep.ImportID, 10)}, map[string]string{"sha256": rep.SHA256, "lines": strconv.Itoa(rep.Lines),
				"posted": strconv.Itoa(rep.Posted), "unmatched": strconv.Itoa(rep.Unmatched)}
		})
}
func (a *Audited) Reconciliations(ctx context.Context, who apoyo.Identity, limit int) ([]apoyo.ReconcileRun, error) {
	return read(a, ctx, who, apoyo.ActReconciliationRead, nil, func() ([]apoyo.ReconcileRun, error) { return a.next.Reconciliations(ctx, who, limit) })
}
func (a *Audited) Reconciliation(ctx context.Context, who apoyo.Identity, id int64) (apoyo.ReconcileReport, error) {
	return read(a, ctx, who, apoyo.ActReconciliationRead, []string{strconv.FormatInt(id, 10)}, func() (apoyo.ReconcileReport, error) {
		return a.next.Reconciliation(ctx, who, id)
	})
}
func (a *Audited) AuditEntries(ctx context.Context, who apoyo.Identity, f apoyo.AuditFilter) ([]apoyo.AuditEntry, error) {
	return read(a, ctx, who, apoyo.ActAuditRead, nil, func() ([]apoyo.AuditEntry, error) { return a.next.AuditEntries(ctx, who, f) })
}
func (a *Audited) VerifyAudit(ctx context.Context, who apoyo.Identity) (apoyo.AuditVerifyReport, error) {
	return read(a, ctx, who, apoyo.ActAuditVerify, nil, func() (apoyo.AuditVerifyReport, error) { return a.next.VerifyAudit(ctx, who) })
}
func (a *Audited) AuditHead(ctx context.Context, who apoyo.Identity) (apoyo.AuditHead, error) {
	return read(a, ctx, who, apoyo.ActAuditVerify, nil, func() (apoyo.AuditHead, error) { return a.next.AuditHead(ctx, who) })
}
func (a *Audited) CreateUser(ctx context.Context, who apoyo.Identity, u apoyo.NewUser) (apoyo.User, error) {
	return change(a, ctx, who, apoyo.ActUserCreate, []string{"user:" + u.Name}, func(ctx context.Context) (apoyo.User, error) { return a.next.CreateUser(ctx, who, u) },
		func(u apoyo.User) ([]string, map[string]string) {
			return []string{u.ID}, map[string]string{"role": string(u.Role), "secretariat": string(u.Secretariat)}
		})
}
func (a *Audited) Users(ctx context.Context, who apoyo.Identity) ([]apoyo.User, error) {
	return read(a, ctx, who, apoyo.ActUserRead, nil, func() ([]apoyo.User, error) { return a.next.Users(ctx, who) })
}
func (a *Audited) DisableUser(ctx context.Context, who apoyo.Identity, name string) (apoyo.User, error) {
	return change(a, ctx, who, apoyo.ActUserUpdate, []string{"user:" + name}, func(ctx context.Context) (apoyo.User, error) { return a.next.DisableUser(ctx, who, name) },
		func(u apoyo.User) ([]string, map[string]string) {
			return []string{u.ID}, map[string]string{"disabled": "true"}
		})
}
func (a *Audited) CreateToken(ctx context.Context, who apoyo.Identity, user string, ttl time.Duration) (apoyo.NewToken, error) {
	return change(a, ctx, who, apoyo.ActTokenCreate, []string{"user:" + user}, func(ctx context.Context) (apoyo.NewToken, error) {
		return a.next.CreateToken(ctx, who, user, ttl)
	}, func(t apoyo.NewToken) ([]string, map[string]string) {
		return []string{t.ID, t.UserID}, map[string]string{"expires_at": t.ExpiresAt.UTC().Format(time.RFC3339)}
	})
}
func (a *Audited) Tokens(ctx context.Context, who apoyo.Identity, user string) ([]apoyo.Token, error) {
	return read(a, ctx, who, apoyo.ActTokenRead, []string{"user:" + user}, func() ([]apoyo.Token, error) { return a.next.Tokens(ctx, who, user) })
}
func (a *Audited) RevokeToken(ctx context.Context, who apoyo.Identity, id string) (apoyo.Token, error) {
	return change(a, ctx, who, apoyo.ActTokenRevoke, []string{id}, func(ctx context.Context) (apoyo.Token, error) { return a.next.RevokeToken(ctx, who, id) }, nil)
}
