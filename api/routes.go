package api

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/program"
	"github.com/apoyo-cdmx/apoyo/report"
)

// routes registers every route under /api/v1. openapi.json documents
// each one; TestOpenAPIMatchesRoutes holds them to each other.
func (s *Server) routes(r chi.Router) {
	r.Get("/me", s.me)

	r.Get("/programs", s.listPrograms)
	r.Post("/programs", s.createProgram)
	r.Get("/programs/{program}", s.getProgram)
	r.Post("/programs/{program}/roster", s.importRoster)
	r.Get("/programs/{program}/cycles", s.listCycles)
	r.Post("/programs/{program}/cycles", s.launchCycle)

	r.Get("/cycles/{cycle}", s.cycleStatus)
	r.Post("/cycles/{cycle}/pause", s.pauseCycle)
	r.Post("/cycles/{cycle}/resume", s.resumeCycle)
	r.Post("/cycles/{cycle}/cancel", s.cancelCycle)
	r.Get("/cycles/{cycle}/report", s.cycleReport)
	r.Get("/cycles/{cycle}/approvals/pending", s.pendingRoster)
	r.Post("/cycles/{cycle}/approvals", s.approveRoster)
	r.Get("/cycles/{cycle}/approvals", s.rosterApprovals)

	r.Get("/cases", s.listCases)
	r.Get("/cycles/{cycle}/cases/{beneficiary}", s.getCase)
	r.Post("/cycles/{cycle}/cases/{beneficiary}/vote", s.vote)
	r.Post("/cycles/{cycle}/cases/{beneficiary}/identity", s.decideIdentity)
	r.Post("/cycles/{cycle}/cases/{beneficiary}/instrument", s.setInstrument)
	r.Post("/cycles/{cycle}/cases/{beneficiary}/referrals/{referral}/outcome", s.referralOutcome)
	r.Post("/cycles/{cycle}/cases/{beneficiary}/retry", s.retryStep)
	r.Post("/cycles/{cycle}/cases/{beneficiary}/cancel", s.cancelCase)
	r.Get("/tasks", s.listTasks)
	r.Get("/queue", s.queue)

	r.Get("/beneficiaries/{beneficiary}", s.getBeneficiary)
	r.Get("/beneficiaries/{beneficiary}/personal-data", s.personalData)

	r.Get("/ledger/trial-balance", s.trialBalance)
	r.Get("/ledger/balances", s.balances)
	r.Get("/ledger/accounts/{account}/statement", s.statement)
	r.Get("/ledger/verify", s.verifyLedger)

	r.Post("/reconciliations", s.reconcile)
	r.Get("/reconciliations", s.listReconciliations)
	r.Get("/reconciliations/{reconciliation}", s.getReconciliation)

	r.Get("/audit", s.auditEntries)
	r.Get("/audit/verify", s.verifyAudit)
	r.Get("/audit/head", s.auditHead)

	r.Get("/users", s.listUsers)
	r.Post("/users", s.createUser)
	r.Post("/users/{user}/disable", s.disableUser)
	r.Get("/users/{user}/tokens", s.listTokens)
	r.Post("/users/{user}/tokens", s.createToken)
	r.Post("/tokens/{token}/revoke", s.revokeToken)
}

// answer writes v, or err in the error shape.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, status int, v any, err error) {
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, status, v)
}

func caseID(r *http.Request) string {
	return apoyo.CaseID(chi.URLParam(r, "cycle"), chi.URLParam(r, "beneficiary"))
}

// query reads typed query parameters, naming the bad one.
type query struct {
	v   url.Values
	err error
}

func queryOf(r *http.Request) *query { return &query{v: r.URL.Query()} }

func (q *query) str(name string) string { return strings.TrimSpace(q.v.Get(name)) }

func (q *query) int(name string, def int) int {
	if q.str(name) == "" {
		return def
	}
	return int(q.int64(name))
}

func (q *query) int64(name string) int64 {
	s := q.str(name)
	if s == "" || q.err != nil {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		q.err = errBadParam.With("%s=%q: expected a whole number", name, s).At(0, name)
	}
	return n
}

func (q *query) bool(name string) bool {
	s := q.str(name)
	if s == "" || q.err != nil {
		return false
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		q.err = errBadParam.With("%s=%q: expected true or false", name, s).At(0, name)
	}
	return b
}

func (q *query) time(name string) time.Time {
	s := q.str(name)
	if s == "" || q.err != nil {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		q.err = errBadParam.With("%s=%q: expected an RFC 3339 time (2026-11-23T10:00:00Z)", name, s).At(0, name)
	}
	return t
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, who(r)) }

func (s *Server) listPrograms(w http.ResponseWriter, r *http.Request) {
	ps, err := s.App.Programs(r.Context(), who(r))
	s.answer(w, r, http.StatusOK, ps, err)
}

// createProgram reads the programme's spec as JSON with the keys of the
// programme YAML (the YAML reader reads JSON too, with the same strict
// checks: unknown keys refused, errors naming the key path).
func (s *Server) createProgram(w http.ResponseWriter, r *http.Request) {
	if err := requireType(r, "application/json"); err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.MaxBody))
	if err != nil {
		s.writeError(w, r, jsonError(err, s.MaxBody))
		return
	}
	spec, err := program.LoadSpecYAML(bytes.NewReader(body))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p, err := s.App.CreateProgram(r.Context(), who(r), spec)
	s.answer(w, r, http.StatusCreated, p, err)
}

func (s *Server) getProgram(w http.ResponseWriter, r *http.Request) {
	p, err := s.App.Program(r.Context(), who(r), chi.URLParam(r, "program"))
	s.answer(w, r, http.StatusOK, p, err)
}

func (s *Server) importRoster(w http.ResponseWriter, r *http.Request) {
	q := queryOf(r)
	dry := q.bool("dry_run")
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	body, err := s.upload(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rep, err := s.App.ImportRoster(r.Context(), who(r), chi.URLParam(r, "program"), body, apoyo.ImportOptions{DryRun: dry})
	s.answer(w, r, http.StatusOK, rep, err)
}

func (s *Server) listCycles(w http.ResponseWriter, r *http.Request) {
	p, err := s.App.Program(r.Context(), who(r), chi.URLParam(r, "program"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	cs, err := s.App.Cycles(r.Context(), who(r), p.ID)
	s.answer(w, r, http.StatusOK, cs, err)
}

// launchRequest is the body of a launch: LaunchRequest without the
// programme (it is in the path) and with the date as YYYY-MM-DD.
type launchRequest struct {
	Name        string `json:"name,omitempty"`
	Period      string `json:"period,omitempty"`
	CycleDate   string `json:"cycle_date,omitempty"`
	StartWindow int    `json:"start_window,omitempty"`
	MaxActive   int    `json:"max_active,omitempty"`
}

func (s *Server) launchCycle(w http.ResponseWriter, r *http.Request) {
	var in launchRequest
	if err := s.decode(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	req := apoyo.LaunchRequest{ProgramID: chi.URLParam(r, "program"), Name: in.Name, Period: in.Period, StartWindow: in.StartWindow, MaxActive: in.MaxActive}
	if in.CycleDate != "" {
		d, err := time.Parse(time.DateOnly, in.CycleDate)
		if err != nil {
			s.writeError(w, r, errMalformed.With("cycle_date %q: use YYYY-MM-DD", in.CycleDate).At(0, "cycle_date"))
			return
		}
		req.CycleDate = d
	}
	res, err := s.App.LaunchCycle(r.Context(), who(r), req)
	status := http.StatusCreated
	if !res.Created {
		status = http.StatusOK
	}
	s.answer(w, r, status, res, err)
}

func (s *Server) cycleStatus(w http.ResponseWriter, r *http.Request) {
	st, err := s.App.CycleStatus(r.Context(), who(r), chi.URLParam(r, "cycle"))
	s.answer(w, r, http.StatusOK, st, err)
}

func (s *Server) pauseCycle(w http.ResponseWriter, r *http.Request) {
	tr, err := s.App.PauseCycle(r.Context(), who(r), chi.URLParam(r, "cycle"))
	s.answer(w, r, http.StatusOK, tr, err)
}

func (s *Server) resumeCycle(w http.ResponseWriter, r *http.Request) {
	tr, err := s.App.ResumeCycle(r.Context(), who(r), chi.URLParam(r, "cycle"))
	s.answer(w, r, http.StatusOK, tr, err)
}

// reasonBody is the body of an action that needs a reason.
type reasonBody struct {
	Reason string `json:"reason"`
}

func (s *Server) cancelCycle(w http.ResponseWriter, r *http.Request) {
	var in reasonBody
	if err := s.decode(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	tr, err := s.App.CancelCycle(r.Context(), who(r), chi.URLParam(r, "cycle"), in.Reason)
	s.answer(w, r, http.StatusOK, tr, err)
}

// cycleReport answers JSON, or CSV with ?format=csv (cells that could be
// read as spreadsheet formulas neutralised by report.WriteCSV).
func (s *Server) cycleReport(w http.ResponseWriter, r *http.Request) {
	q := queryOf(r)
	minCell := q.int("min_cell", 0)
	format := q.str("format")
	if q.err == nil && format != "" && format != "json" && format != "csv" {
		q.err = errBadParam.With("format=%q: use json or csv", format).At(0, "format")
	}
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	rep, err := s.App.CycleReport(r.Context(), who(r), chi.URLParam(r, "cycle"), apoyo.ReportOptions{MinCell: minCell})
	if err != nil || format != "csv" {
		s.answer(w, r, http.StatusOK, rep, err)
		return
	}
	var buf bytes.Buffer
	if err := report.WriteCSV(&buf, rep); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="report-`+rep.Cycle.ID+`.csv"`)
	_, _ = w.Write(buf.Bytes())
}

func (s *Server) pendingRoster(w http.ResponseWriter, r *http.Request) {
	l, err := s.App.PendingRoster(r.Context(), who(r), chi.URLParam(r, "cycle"))
	s.answer(w, r, http.StatusOK, l, err)
}

// signBody is a signature on a pending list.
type signBody struct {
	ListHash string `json:"list_hash"`
}

func (s *Server) approveRoster(w http.ResponseWriter, r *http.Request) {
	var in signBody
	if err := s.decode(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	rec, err := s.App.ApproveRoster(r.Context(), who(r), chi.URLParam(r, "cycle"), in.ListHash)
	s.answer(w, r, http.StatusOK, rec, err)
}

func (s *Server) rosterApprovals(w http.ResponseWriter, r *http.Request) {
	as, err := s.App.RosterApprovals(r.Context(), who(r), chi.URLParam(r, "cycle"))
	s.answer(w, r, http.StatusOK, as, err)
}

func (s *Server) listCases(w http.ResponseWriter, r *http.Request) {
	q := queryOf(r)
	f := apoyo.CaseFilter{CycleID: q.str("cycle"), Step: apoyo.Step(q.str("step")), WaitingOn: q.str("waiting_on"),
		Overdue: q.bool("overdue"), After: q.str("after"), Limit: q.int("limit", 100)}
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	cs, err := s.App.Cases(r.Context(), who(r), f)
	s.answer(w, r, http.StatusOK, cs, err)
}

func (s *Server) getCase(w http.ResponseWriter, r *http.Request) {
	c, err := s.App.Case(r.Context(), who(r), caseID(r))
	s.answer(w, r, http.StatusOK, c, err)
}

func (s *Server) vote(w http.ResponseWriter, r *http.Request) {
	var in apoyo.VoteRequest
	if err := s.decode(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	st, err := s.App.Vote(r.Context(), who(r), caseID(r), in)
	s.answer(w, r, http.StatusOK, st, err)
}

func (s *Server) decideIdentity(w http.ResponseWriter, r *http.Request) {
	var in apoyo.IdentityDecision
	if err := s.decode(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	st, err := s.App.DecideIdentity(r.Context(), who(r), caseID(r), in)
	s.answer(w, r, http.StatusOK, st, err)
}

func (s *Server) setInstrument(w http.ResponseWriter, r *http.Request) {
	var in apoyo.InstrumentRequest
	if err := s.decode(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	st, err := s.App.SetPaymentInstrument(r.Context(), who(r), caseID(r), in)
	s.answer(w, r, http.StatusOK, st, err)
}

// outcomeBody is a referral's outcome (the referral is in the path).
type outcomeBody struct {
	Outcome apoyo.ReferralOutcome `json:"outcome"`
	Note    string                `json:"note,omitempty"`
}

func (s *Server) referralOutcome(w http.ResponseWriter, r *http.Request) {
	var in outcomeBody
	if err := s.decode(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	st, err := s.App.RecordReferralOutcome(r.Context(), who(r), caseID(r),
		apoyo.ReferralOutcomeRequest{ReferralID: chi.URLParam(r, "referral"), Outcome: in.Outcome, Note: in.Note})
	s.answer(w, r, http.StatusOK, st, err)
}

func (s *Server) retryStep(w http.ResponseWriter, r *http.Request) {
	var in reasonBody
	if err := s.decode(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	st, err := s.App.RetryStep(r.Context(), who(r), caseID(r), in.Reason)
	s.answer(w, r, http.StatusOK, st, err)
}

func (s *Server) cancelCase(w http.ResponseWriter, r *http.Request) {
	var in reasonBody
	if err := s.decode(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	st, err := s.App.CancelCase(r.Context(), who(r), caseID(r), in.Reason)
	s.answer(w, r, http.StatusOK, st, err)
}

func (s *Server) listTasks(w http.ResponseWriter, r *http.Request) {
	q := queryOf(r)
	f := apoyo.TaskFilter{CycleID: q.str("cycle"), Kind: apoyo.TaskKind(q.str("kind")), Limit: q.int("limit", 100)}
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	ts, err := s.App.Tasks(r.Context(), who(r), f)
	s.answer(w, r, http.StatusOK, ts, err)
}

// queue answers a page of the stuck-case queue. The values of step, kind,
// secretariat, alcaldia and limit are checked by the application, which
// names the bad one in the error's field like this handler does for
// values that do not parse.
func (s *Server) queue(w http.ResponseWriter, r *http.Request) {
	q := queryOf(r)
	f := apoyo.QueueFilter{CycleID: q.str("cycle_id"), CaseID: q.str("case_id"), Step: apoyo.Step(q.str("step")), Secretariat: apoyo.Secretariat(q.str("secretariat")),
		Alcaldia: q.str("alcaldia"), Kind: apoyo.TaskKind(q.str("kind")), OpenBefore: q.time("open_before"), After: q.int64("after"),
		Limit: q.int("limit", 0)}
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	p, err := s.App.Queue(r.Context(), who(r), f)
	s.answer(w, r, http.StatusOK, p, err)
}

func (s *Server) getBeneficiary(w http.ResponseWriter, r *http.Request) {
	b, err := s.App.Beneficiary(r.Context(), who(r), chi.URLParam(r, "beneficiary"))
	s.answer(w, r, http.StatusOK, b, err)
}

// personalData unseals a person's data for the purpose given in the
// query; the read is in the audit log before the answer leaves. The
// answer must not be cached.
func (s *Server) personalData(w http.ResponseWriter, r *http.Request) {
	q := queryOf(r)
	d, err := s.App.PersonalData(r.Context(), who(r), chi.URLParam(r, "beneficiary"), q.str("purpose"))
	w.Header().Set("Cache-Control", "no-store")
	s.answer(w, r, http.StatusOK, d, err)
}

func (s *Server) trialBalance(w http.ResponseWriter, r *http.Request) {
	tb, err := s.App.TrialBalance(r.Context(), who(r))
	s.answer(w, r, http.StatusOK, tb, err)
}

func (s *Server) balances(w http.ResponseWriter, r *http.Request) {
	q := queryOf(r)
	bs, err := s.App.Balances(r.Context(), who(r), apoyo.BalanceFilter{AccountPrefix: q.str("prefix"), Fund: q.str("fund")})
	s.answer(w, r, http.StatusOK, bs, err)
}

func (s *Server) statement(w http.ResponseWriter, r *http.Request) {
	q := queryOf(r)
	o := apoyo.StatementOptions{Fund: q.str("fund"), Limit: q.int("limit", 0)}
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	st, err := s.App.Statement(r.Context(), who(r), chi.URLParam(r, "account"), o)
	s.answer(w, r, http.StatusOK, st, err)
}

func (s *Server) verifyLedger(w http.ResponseWriter, r *http.Request) {
	q := queryOf(r)
	o := apoyo.LedgerVerifyOptions{Full: q.bool("full")}
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	rep, err := s.App.VerifyLedger(r.Context(), who(r), o)
	s.answer(w, r, http.StatusOK, rep, err)
}

func (s *Server) reconcile(w http.ResponseWriter, r *http.Request) {
	q := queryOf(r)
	name := q.str("name")
	if name == "" {
		name = "statement-" + time.Now().UTC().Format("20060102T150405Z") + ".csv"
	}
	body, err := s.upload(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rep, err := s.App.Reconcile(r.Context(), who(r), name, body)
	s.answer(w, r, http.StatusOK, rep, err)
}

func (s *Server) listReconciliations(w http.ResponseWriter, r *http.Request) {
	q := queryOf(r)
	limit := q.int("limit", 100)
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	rs, err := s.App.Reconciliations(r.Context(), who(r), limit)
	s.answer(w, r, http.StatusOK, rs, err)
}

func (s *Server) getReconciliation(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(chi.URLParam(r, "reconciliation"), 10, 64)
	if err != nil {
		s.writeError(w, r, errBadParam.With("reconciliation id %q: expected a number", chi.URLParam(r, "reconciliation")).At(0, "reconciliation"))
		return
	}
	rep, err := s.App.Reconciliation(r.Context(), who(r), id)
	s.answer(w, r, http.StatusOK, rep, err)
}

func (s *Server) auditEntries(w http.ResponseWriter, r *http.Request) {
	q := queryOf(r)
	f := apoyo.AuditFilter{ActorID: q.str("actor"), Action: apoyo.Action(q.str("action")), Target: q.str("target"),
		Outcome: apoyo.AuditOutcome(q.str("outcome")), Since: q.time("since"), Until: q.time("until"), After: q.int64("after"), Limit: q.int("limit", 100)}
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	es, err := s.App.AuditEntries(r.Context(), who(r), f)
	s.answer(w, r, http.StatusOK, es, err)
}

func (s *Server) verifyAudit(w http.ResponseWriter, r *http.Request) {
	rep, err := s.App.VerifyAudit(r.Context(), who(r))
	s.answer(w, r, http.StatusOK, rep, err)
}

func (s *Server) auditHead(w http.ResponseWriter, r *http.Request) {
	h, err := s.App.AuditHead(r.Context(), who(r))
	s.answer(w, r, http.StatusOK, h, err)
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	us, err := s.App.Users(r.Context(), who(r))
	s.answer(w, r, http.StatusOK, us, err)
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) {
	var in apoyo.NewUser
	if err := s.decode(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	u, err := s.App.CreateUser(r.Context(), who(r), in)
	s.answer(w, r, http.StatusCreated, u, err)
}

func (s *Server) disableUser(w http.ResponseWriter, r *http.Request) {
	u, err := s.App.DisableUser(r.Context(), who(r), chi.URLParam(r, "user"))
	s.answer(w, r, http.StatusOK, u, err)
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	ts, err := s.App.Tokens(r.Context(), who(r), chi.URLParam(r, "user"))
	s.answer(w, r, http.StatusOK, ts, err)
}

// tokenBody asks for a token valid for TTL (a Go duration, "720h"; empty:
// the default).
type tokenBody struct {
	TTL string `json:"ttl,omitempty"`
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	var in tokenBody
	if err := s.decode(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	var ttl time.Duration
	if in.TTL != "" {
		d, err := time.ParseDuration(in.TTL)
		if err != nil || d <= 0 {
			s.writeError(w, r, errMalformed.With("ttl %q: use a duration such as 720h", in.TTL).At(0, "ttl"))
			return
		}
		ttl = d
	}
	t, err := s.App.CreateToken(r.Context(), who(r), chi.URLParam(r, "user"), ttl)
	w.Header().Set("Cache-Control", "no-store")
	s.answer(w, r, http.StatusCreated, t, err)
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	t, err := s.App.RevokeToken(r.Context(), who(r), chi.URLParam(r, "token"))
	s.answer(w, r, http.StatusOK, t, err)
}
