package apoyo

import "time"

// Action names one thing a person or a partner system can do through
// apoyo's application layer. The audit log records every state-changing
// action and every read of a person's personal data under these names;
// the authorization decorator decides by them who may act.
type Action string

const (
	ActProgramCreate Action = "program.create"
	ActProgramRead   Action = "program.read"

	ActRosterImport Action = "roster.import"
	// ActPersonalDataRead is a read of a beneficiary's sealed personal
	// data; it always carries a purpose.
	ActPersonalDataRead Action = "beneficiary.personal_data.read"
	ActBeneficiaryRead  Action = "beneficiary.read"

	ActCycleLaunch Action = "cycle.launch"
	ActCycleRead   Action = "cycle.read"
	ActCyclePause  Action = "cycle.pause"
	ActCycleResume Action = "cycle.resume"
	ActCycleCancel Action = "cycle.cancel"
	ActCycleReport Action = "cycle.report"

	// ActApprovalVote is one secretariat's vote on one case.
	ActApprovalVote Action = "approval.vote"
	// ActRosterRead reads the pending list an approver would sign.
	ActRosterRead Action = "approval.roster.read"
	// ActRosterSign approves a signed roster list.
	ActRosterSign      Action = "approval.roster.sign"
	ActApprovalsRead   Action = "approval.read"
	ActCaseRead        Action = "case.read"
	ActTaskRead        Action = "task.read"
	ActIdentityDecide  Action = "case.identity.decide"
	ActInstrumentSet   Action = "case.instrument.set"
	ActReferralOutcome Action = "case.referral.outcome"
	ActCaseRetry       Action = "case.retry"
	ActCaseCancel      Action = "case.cancel"

	ActLedgerRead   Action = "ledger.read"
	ActLedgerVerify Action = "ledger.verify"

	ActReconcile          Action = "reconcile.run"
	ActReconciliationRead Action = "reconcile.read"

	ActAuditRead   Action = "audit.read"
	ActAuditVerify Action = "audit.verify"

	ActUserCreate  Action = "user.create"
	ActUserUpdate  Action = "user.update"
	ActUserRead    Action = "user.read"
	ActTokenCreate Action = "token.create"
	ActTokenRevoke Action = "token.revoke"
	ActTokenRead   Action = "token.read"
)

// CaseworkActions are the actions that make their actor a handler of the
// case as a caseworker: separation of duties keeps a handler from
// approving it.
var CaseworkActions = []Action{ActIdentityDecide, ActInstrumentSet, ActReferralOutcome, ActCaseRetry, ActCaseCancel}

// AuditOutcome is how an audited call ended.
type AuditOutcome string

const (
	// AuditOK: the change was made (or the data was read).
	AuditOK AuditOutcome = "ok"
	// AuditFailed: the call failed; ErrorCode and ErrorReason say how.
	// A call that failed after part of its change committed says so in
	// its detail.
	AuditFailed AuditOutcome = "failed"
	// AuditDenied: authorization refused the call; nothing was done.
	AuditDenied AuditOutcome = "denied"
)

// AuditEntry is one entry of the audit log: who did what to which ids,
// how it ended, and, for a read of personal data, why. Entries are
// append-only and hash-chained: Hash covers every field and PrevHash.
// They hold opaque ids, never a person's data.
type AuditEntry struct {
	Seq         int64        `json:"seq"`
	At          time.Time    `json:"at"`
	ActorID     string       `json:"actor_id"`
	ActorName   string       `json:"actor_name"`
	Role        Role         `json:"role"`
	Secretariat Secretariat  `json:"secretariat,omitempty"`
	Via         string       `json:"via"`
	TokenID     string       `json:"token_id,omitempty"`
	Action      Action       `json:"action"`
	Targets     []string     `json:"targets"`
	Purpose     string       `json:"purpose,omitempty"`
	Outcome     AuditOutcome `json:"outcome"`
	ErrorCode   ErrorCode    `json:"error_code,omitempty"`
	ErrorReason string       `json:"error_reason,omitempty"`
	RequestID   string       `json:"request_id,omitempty"`
	// Detail holds ids and counts that say more (a list's hash and size).
	Detail   map[string]string `json:"detail,omitempty"`
	PrevHash string            `json:"prev_hash"`
	Hash     string            `json:"hash"`
}

// AuditFilter narrows a read of the audit log. Zero fields do not filter.
type AuditFilter struct {
	ActorID string       `json:"actor_id,omitempty"`
	Action  Action       `json:"action,omitempty"`
	Target  string       `json:"target,omitempty"`
	Outcome AuditOutcome `json:"outcome,omitempty"`
	Since   time.Time    `json:"since,omitempty"`
	Until   time.Time    `json:"until,omitempty"`
	// After pages: entries with a greater Seq.
	After int64 `json:"after,omitempty"`
	// Limit caps the page (default 100, at most 1000).
	Limit int `json:"limit,omitempty"`
}

// AuditHead is the last entry's place in the chain: publish it, or have it
// countersigned elsewhere, and any later rewrite of the log shows.
type AuditHead struct {
	Seq  int64     `json:"seq"`
	Hash string    `json:"hash"`
	At   time.Time `json:"at"`
}

// AuditVerifyReport is the outcome of re-deriving the chain.
type AuditVerifyReport struct {
	OK      bool  `json:"ok"`
	Entries int64 `json:"entries"`
	// Head is the last entry's place (zero for an empty log).
	Head AuditHead `json:"head"`
	// FirstBad is the Seq of the first entry whose hash or link does not
	// hold (0 when OK); Problem says what.
	FirstBad int64  `json:"first_bad,omitempty"`
	Problem  string `json:"problem,omitempty"`
}
