package console

import (
	"errors"
	"mime/multipart"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/go-chi/chi/v5"
	"github.com/shopspring/decimal"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/mxid"
)

// alcaldias are the 16 alcaldías the queue filters by.
var alcaldias = mxid.Alcaldias[:]

// routes are the pages of a signed-in person. Each handler calls the
// application layer as that person; what the role may not do is refused
// there, whatever the page showed.
func (s *Server) routes(r chi.Router) {
	r.Get("/", s.home)
	r.Get("/queue", s.queue)
	r.Route("/cases/{cycle}/{beneficiary}", func(r chi.Router) {
		r.Get("/", s.casePage)
		r.Post("/identity", s.decideIdentity)
		r.Post("/instrument", s.setInstrument)
		r.Post("/referral", s.referralOutcome)
		r.Post("/retry", s.retryStep)
		r.Post("/cancel", s.cancelCase)
		r.Post("/vote", s.vote)
		r.Post("/reveal", s.reveal)
	})
	r.Get("/inbox", s.inbox)
	r.Get("/inbox/{cycle}", s.inboxCycle)
	r.Post("/inbox/{cycle}/sign", s.signList)
	r.Get("/programs", s.programs)
	r.Get("/programs/{program}", s.programPage)
	r.Post("/programs/{program}/roster", s.importRoster)
	r.Post("/programs/{program}/cycles", s.launchCycle)
	r.Get("/cycles", s.cycles)
	r.Get("/cycles/{cycle}", s.cyclePage)
	r.Get("/cycles/{cycle}/events", s.cycleEvents)
	r.Post("/cycles/{cycle}/{action:pause|resume|cancel}", s.controlCycle)
	r.Get("/cycles/{cycle}/report", s.reportPage)
	r.Get("/cycles/{cycle}/report.csv", s.reportCSV)
	r.Get("/ledger", s.ledger)
	r.Get("/ledger/statement", s.statement)
	r.Get("/reconciliations", s.reconciliations)
	r.Post("/reconciliations", s.reconcile)
	r.Get("/reconciliations/{id}", s.reconciliation)
	r.Get("/audit", s.auditLog)
	r.Get("/verify", s.verifyPage)
	r.Post("/verify", s.verify)
	r.Get("/users", s.users)
}

// home sends each role to the page it works from.
func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	to := "/cycles"
	switch who(r).Role {
	case apoyo.RoleCaseworker:
		to = "/queue"
	case apoyo.RoleApprover:
		to = "/inbox"
	case apoyo.RoleProgramManager:
		to = "/cycles"
	case apoyo.RoleAuditor:
		to = "/ledger"
	case apoyo.RoleAdmin:
		to = "/users"
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// ---- Caseworkers: the queue and a case ----

type queueData struct {
	Filter      apoyo.QueueFilter
	OpenBefore  string
	Page        apoyo.QueuePage
	NextURL     string
	Steps       []apoyo.Step
	Kinds       []apoyo.TaskKind
	Secretariat []apoyo.Secretariat
	Alcaldias   []string
	Cycles      []apoyo.Cycle
}

func (s *Server) queue(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := apoyo.QueueFilter{CycleID: q.Get("cycle_id"), Step: apoyo.Step(q.Get("step")), Secretariat: apoyo.Secretariat(q.Get("secretariat")),
		Alcaldia: q.Get("alcaldia"), Kind: apoyo.TaskKind(q.Get("kind"))}
	d := queueData{Filter: f, OpenBefore: q.Get("open_before"), Steps: apoyo.Steps, Kinds: apoyo.TaskKinds, Secretariat: apoyo.Secretariats,
		Alcaldias: alcaldias}
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			s.fail(w, r, apoyo.Errorf(apoyo.EINVALID, "queue.invalid", "after: expected the number of the last task seen").At(0, "after"))
			return
		}
		f.After = n
	}
	if d.OpenBefore != "" {
		t, err := time.ParseInLocation("2006-01-02", d.OpenBefore, cityTime)
		if err != nil {
			s.fail(w, r, apoyo.Errorf(apoyo.EINVALID, "queue.invalid", "open_before: expected a date, YYYY-MM-DD").At(0, "open_before"))
			return
		}
		f.OpenBefore = t
	}
	page, err := s.App.Queue(r.Context(), who(r), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d.Page = page
	if page.Next != 0 {
		d.NextURL = "/queue" + queryString("cycle_id", f.CycleID, "step", string(f.Step), "secretariat", string(f.Secretariat),
			"alcaldia", f.Alcaldia, "kind", string(f.Kind), "open_before", d.OpenBefore, "after", strconv.FormatInt(page.Next, 10))
	}
	if r.Header.Get("HX-Request") == "true" && r.Header.Get("HX-Target") == "queue-results" {
		s.fragment(w, r, http.StatusOK, "queue:results", d)
		return
	}
	d.Cycles, _ = s.App.Cycles(r.Context(), who(r), "")
	s.render(w, r, http.StatusOK, "queue", d)
}

type caseData struct {
	ID           string
	CycleID      string
	Beneficiary  string
	Detail       apoyo.CaseDetail
	Person       *apoyo.Beneficiary
	Tasks        []apoyo.QueueItem
	Rails        []apoyo.Rail
	Outcomes     []apoyo.ReferralOutcome
	Documents    []apoyo.IDDocumentType
	OpenReferral []apoyo.Referral
	Waiting      bool
	// Flash is what was just done (a catalogue key), shown once.
	Flash string
	// Personal is the person's data once revealed (without htmx).
	Personal *apoyo.PersonalData
	// Which actions the page offers: what the role may do and the case
	// waits for. The application layer decides again on every one.
	CanIdentity, CanInstrument, CanReferral, CanRetry, CanVote, CanCancel bool
}

// Actions reports whether the page offers any action.
func (d caseData) Actions() bool {
	return d.CanIdentity || d.CanInstrument || d.CanReferral || d.CanRetry || d.CanVote || d.CanCancel
}

func caseIDOf(r *http.Request) string {
	return apoyo.CaseID(chi.URLParam(r, "cycle"), chi.URLParam(r, "beneficiary"))
}

func (s *Server) casePage(w http.ResponseWriter, r *http.Request) {
	id := caseIDOf(r)
	d, err := s.caseData(r, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "case", d)
}

func (s *Server) caseData(r *http.Request, id string) (caseData, error) {
	me := who(r)
	detail, err := s.App.Case(r.Context(), me, id)
	if err != nil {
		return caseData{}, err
	}
	d := caseData{ID: id, CycleID: chi.URLParam(r, "cycle"), Beneficiary: chi.URLParam(r, "beneficiary"), Detail: detail, Flash: flash(r),
		Rails: apoyo.Rails, Outcomes: apoyo.ReferralOutcomes, Documents: apoyo.IDDocumentTypes}
	if s.can(me, apoyo.ActBeneficiaryRead) {
		if b, err := s.App.Beneficiary(r.Context(), me, d.Beneficiary); err == nil {
			d.Person = &b
		}
	}
	if s.can(me, apoyo.ActTaskRead) {
		if page, err := s.App.Queue(r.Context(), me, apoyo.QueueFilter{CaseID: id}); err == nil {
			d.Tasks = page.Items
		}
	}
	for _, ref := range detail.State.Referrals {
		if ref.Outcome == "" {
			d.OpenReferral = append(d.OpenReferral, ref)
		}
	}
	for _, w := range detail.State.WaitingOn {
		if w == string(me.Secretariat) {
			d.Waiting = true
		}
	}
	st := detail.State
	d.CanIdentity = s.can(me, apoyo.ActIdentityDecide) && st.Step == apoyo.StepIdentity && st.Status == apoyo.CaseWaiting
	// A form shows only where the case would take it: no new instrument
	// while an order is at the bank, no referral's outcome before the
	// payment (the referrals are listed from the start).
	d.CanInstrument = s.can(me, apoyo.ActInstrumentSet) && st.AwaitsInstrument()
	d.CanReferral = s.can(me, apoyo.ActReferralOutcome) && st.InFollowUp() && len(d.OpenReferral) > 0
	d.CanRetry = s.can(me, apoyo.ActCaseRetry) && st.Status == apoyo.CaseFailed
	d.CanVote = s.can(me, apoyo.ActApprovalVote) && d.Waiting
	d.CanCancel = s.can(me, apoyo.ActCaseCancel) && st.Step != apoyo.StepDone
	return d, nil
}

// done answers a case action: the case page again, showing the case's
// new state with what was done (for htmx, by HX-Redirect, so that no form
// stays on the page for a step the case has left).
func (s *Server) done(w http.ResponseWriter, r *http.Request, msgKey string, err error) {
	if err != nil {
		s.fail(w, r, err)
		return
	}
	to := "/cases/" + url.PathEscape(chi.URLParam(r, "cycle")) + "/" + url.PathEscape(chi.URLParam(r, "beneficiary")) + "?done=" + url.QueryEscape(msgKey)
	s.redirect(w, r, to)
}

// redirect sends the browser to another page after a change: by
// HX-Redirect for htmx (a full load, so no form of the old state stays),
// by 303 otherwise.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, to string) {
	if r.Header.Get("HX-Request") == "true" {
		w.Header().Set("HX-Redirect", to)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// upload names a form's file field and the errors of a missing or an
// oversize file.
type upload struct {
	field          string
	missingReason  string
	missing        string // what to say when no file came
	tooLargeReason string
	what           string // the file, as "the … is larger than"
}

// uploaded is the file of a form's field, its size capped at MaxUpload;
// a missing or oversize file is an EINVALID error naming the field.
func (s *Server) uploaded(w http.ResponseWriter, r *http.Request, u upload) (multipart.File, *multipart.FileHeader, error) {
	r.Body = http.MaxBytesReader(w, r.Body, s.MaxUpload)
	f, hdr, err := r.FormFile(u.field)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, nil, apoyo.Errorf(apoyo.EINVALID, u.tooLargeReason, "the %s is larger than %d bytes", u.what, s.MaxUpload).At(0, u.field)
	case err != nil:
		return nil, nil, apoyo.Errorf(apoyo.EINVALID, u.missingReason, "%s", u.missing).At(0, u.field)
	}
	return f, hdr, nil
}

// flashes are the messages a page may be asked to show after an action
// (?done=…): only these, so a link cannot make a page say anything else.
var flashes = map[string]bool{"done.identity": true, "done.instrument": true, "done.referral": true, "done.retry": true, "done.cancel": true,
	"done.approved": true, "done.rejected": true}

// flash is the message a page was asked to show, if it is one of flashes.
func flash(r *http.Request) string {
	if k := r.URL.Query().Get("done"); flashes[k] {
		return k
	}
	return ""
}

func (s *Server) decideIdentity(w http.ResponseWriter, r *http.Request) {
	d := apoyo.IdentityDecision{Decision: apoyo.IdentityDecisionKind(r.PostFormValue("decision")), Reason: r.PostFormValue("reason"),
		DocumentType: apoyo.IDDocumentType(r.PostFormValue("document_type")), DocumentNumber: strings.TrimSpace(r.PostFormValue("document_number"))}
	_, err := s.App.DecideIdentity(r.Context(), who(r), caseIDOf(r), d)
	s.done(w, r, "done.identity", err)
}

func (s *Server) setInstrument(w http.ResponseWriter, r *http.Request) {
	in := apoyo.InstrumentRequest{Method: apoyo.Rail(r.PostFormValue("method")), CLABE: strings.TrimSpace(r.PostFormValue("clabe")),
		CardNumber: strings.TrimSpace(r.PostFormValue("card_number")), SharedConfirmed: r.PostFormValue("shared_confirmed") == "on"}
	_, err := s.App.SetPaymentInstrument(r.Context(), who(r), caseIDOf(r), in)
	s.done(w, r, "done.instrument", err)
}

func (s *Server) referralOutcome(w http.ResponseWriter, r *http.Request) {
	in := apoyo.ReferralOutcomeRequest{ReferralID: r.PostFormValue("referral_id"), Outcome: apoyo.ReferralOutcome(r.PostFormValue("outcome")),
		Note: r.PostFormValue("note")}
	_, err := s.App.RecordReferralOutcome(r.Context(), who(r), caseIDOf(r), in)
	s.done(w, r, "done.referral", err)
}

func (s *Server) retryStep(w http.ResponseWriter, r *http.Request) {
	_, err := s.App.RetryStep(r.Context(), who(r), caseIDOf(r), r.PostFormValue("reason"))
	s.done(w, r, "done.retry", err)
}

func (s *Server) cancelCase(w http.ResponseWriter, r *http.Request) {
	_, err := s.App.CancelCase(r.Context(), who(r), caseIDOf(r), r.PostFormValue("reason"))
	s.done(w, r, "done.cancel", err)
}

func (s *Server) vote(w http.ResponseWriter, r *http.Request) {
	v := apoyo.VoteRequest{Approve: r.PostFormValue("approve") == "true", Reason: r.PostFormValue("reason")}
	_, err := s.App.Vote(r.Context(), who(r), caseIDOf(r), v)
	key := "done.approved"
	if !v.Approve {
		key = "done.rejected"
	}
	s.done(w, r, key, err)
}

// reveal shows a person's data for a stated purpose: the application
// layer writes the read to the audit log before it returns anything.
func (s *Server) reveal(w http.ResponseWriter, r *http.Request) {
	pd, err := s.App.PersonalData(r.Context(), who(r), chi.URLParam(r, "beneficiary"), strings.TrimSpace(r.PostFormValue("purpose")))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if r.Header.Get("HX-Request") == "true" {
		s.fragment(w, r, http.StatusOK, "case:personal", pd)
		return
	}
	d, err := s.caseData(r, caseIDOf(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d.Personal = &pd
	s.render(w, r, http.StatusOK, "case", d)
}

// ---- Approvers: the inbox and signed lists ----

func (s *Server) inbox(w http.ResponseWriter, r *http.Request) {
	cycles, err := s.App.Cycles(r.Context(), who(r), "")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var open []inboxCycle
	for _, c := range cycles {
		if c.Status != apoyo.CycleRunning && c.Status != apoyo.CyclePaused {
			continue
		}
		ic := inboxCycle{Cycle: c}
		if s.can(who(r), apoyo.ActRosterRead) {
			if l, err := s.App.PendingRoster(r.Context(), who(r), c.ID); err == nil {
				ic.Pending, ic.Total, ic.Counted = l.Size, l.Total, true
			}
		}
		open = append(open, ic)
	}
	s.render(w, r, http.StatusOK, "inbox", open)
}

// inboxCycle is an open cycle with what waits for the approver in it.
type inboxCycle struct {
	apoyo.Cycle
	Pending int
	Total   decimal.Decimal
	Counted bool
}

type listData struct {
	Cycle     apoyo.Cycle
	List      apoyo.RosterList
	Approvals []apoyo.RosterApproval
	Signed    *apoyo.RosterApproval
	// Changed: the list the approver signed had changed; this is it now.
	Changed bool
}

func (s *Server) inboxCycle(w http.ResponseWriter, r *http.Request) {
	d, err := s.listData(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "list", d)
}

func (s *Server) listData(r *http.Request) (listData, error) {
	id := chi.URLParam(r, "cycle")
	l, err := s.App.PendingRoster(r.Context(), who(r), id)
	if err != nil {
		return listData{}, err
	}
	// The cycle's name from the list of cycles, not CycleStatus: that
	// would query the cycle's workflow and count its cases for a heading.
	cycles, err := s.App.Cycles(r.Context(), who(r), "")
	if err != nil {
		return listData{}, err
	}
	d := listData{Cycle: apoyo.Cycle{ID: id, Name: id}, List: l, Changed: r.URL.Query().Get("changed") == "1"}
	for _, c := range cycles {
		if c.ID == id {
			d.Cycle = c
		}
	}
	d.Approvals, _ = s.App.RosterApprovals(r.Context(), who(r), id)
	return d, nil
}

// signList signs the list whose hash the approver was shown: a list that
// changed since is refused (409) and shown again as it now is.
func (s *Server) signList(w http.ResponseWriter, r *http.Request) {
	a, err := s.App.ApproveRoster(r.Context(), who(r), chi.URLParam(r, "cycle"), r.PostFormValue("hash"))
	if apoyo.ErrorReasonOf(err) == "approval.list_changed" {
		// The list is no longer the one signed: show it as it now is, to
		// be read and signed again.
		to := "/inbox/" + url.PathEscape(chi.URLParam(r, "cycle")) + "?changed=1"
		s.redirect(w, r, to)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if r.Header.Get("HX-Request") == "true" {
		s.fragment(w, r, http.StatusOK, "list:signed", a)
		return
	}
	d, err := s.listData(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d.Signed = &a
	s.render(w, r, http.StatusOK, "list", d)
}

// ---- Programme managers: programmes, rosters, cycles ----

func (s *Server) programs(w http.ResponseWriter, r *http.Request) {
	ps, err := s.App.Programs(r.Context(), who(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "programs", ps)
}

type programData struct {
	Program apoyo.Program
	Cycles  []apoyo.Cycle
	Import  *apoyo.ImportReport
	DryRun  bool
}

func (s *Server) programData(r *http.Request) (programData, error) {
	p, err := s.App.Program(r.Context(), who(r), chi.URLParam(r, "program"))
	if err != nil {
		return programData{}, err
	}
	cs, err := s.App.Cycles(r.Context(), who(r), p.ID)
	if err != nil {
		return programData{}, err
	}
	d := programData{Program: p, Cycles: cs}
	return d, nil
}

func (s *Server) programPage(w http.ResponseWriter, r *http.Request) {
	d, err := s.programData(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "program", d)
}

// importRoster takes a roster file from a form and shows its report, row
// by row and field by field.
func (s *Server) importRoster(w http.ResponseWriter, r *http.Request) {
	f, _, err := s.uploaded(w, r, upload{field: "roster", missingReason: "roster.missing", missing: "choose a roster file (CSV) to import",
		tooLargeReason: "roster.too_large", what: "roster file"})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer f.Close()
	dry := r.PostFormValue("dry_run") == "on"
	rep, err := s.App.ImportRoster(r.Context(), who(r), chi.URLParam(r, "program"), f, apoyo.ImportOptions{DryRun: dry})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if r.Header.Get("HX-Request") == "true" {
		s.fragment(w, r, http.StatusOK, "program:import", programData{Import: &rep, DryRun: dry})
		return
	}
	d, err := s.programData(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d.Import, d.DryRun = &rep, dry
	s.render(w, r, http.StatusOK, "program", d)
}

func (s *Server) launchCycle(w http.ResponseWriter, r *http.Request) {
	req := apoyo.LaunchRequest{ProgramID: chi.URLParam(r, "program"), Name: strings.TrimSpace(r.PostFormValue("name")),
		Period: strings.TrimSpace(r.PostFormValue("period"))}
	res, err := s.App.LaunchCycle(r.Context(), who(r), req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	to := "/cycles/" + url.PathEscape(res.Cycle.ID)
	s.redirect(w, r, to)
}

func (s *Server) cycles(w http.ResponseWriter, r *http.Request) {
	cs, err := s.App.Cycles(r.Context(), who(r), "")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ps, _ := s.App.Programs(r.Context(), who(r))
	names := map[string]string{}
	for _, p := range ps {
		names[p.ID] = p.Name
	}
	s.render(w, r, http.StatusOK, "cycles", cyclesData{Cycles: cs, Programs: names})
}

type cyclesData struct {
	Cycles   []apoyo.Cycle
	Programs map[string]string
}

func (s *Server) cyclePage(w http.ResponseWriter, r *http.Request) {
	st, err := s.App.CycleStatus(r.Context(), who(r), chi.URLParam(r, "cycle"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "cycle", cycleData{Status: st, Progress: progressOf(localeOf(r), st), Steps: apoyo.Steps,
		MoneyStates: moneyStates})
}

type cycleData struct {
	Status      apoyo.CycleStatusView
	Progress    progress
	Steps       []apoyo.Step
	MoneyStates []string
}

// moneyStates are the cycle's money states in the order money moves.
var moneyStates = []string{"committed", "in_transit", "paid", "returned"}

func (s *Server) controlCycle(w http.ResponseWriter, r *http.Request) {
	id, me := chi.URLParam(r, "cycle"), who(r)
	var err error
	switch chi.URLParam(r, "action") {
	case "pause":
		_, err = s.App.PauseCycle(r.Context(), me, id)
	case "resume":
		_, err = s.App.ResumeCycle(r.Context(), me, id)
	case "cancel":
		_, err = s.App.CancelCycle(r.Context(), me, id, r.PostFormValue("reason"))
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	to := "/cycles/" + url.PathEscape(id)
	s.redirect(w, r, to)
}

// ---- Auditors: books, reconciliations, the audit log ----

func (s *Server) ledger(w http.ResponseWriter, r *http.Request) {
	tb, err := s.App.TrialBalance(r.Context(), who(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "ledger", tb)
}

func (s *Server) statement(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	o := apoyo.StatementOptions{Fund: q.Get("fund"), Limit: statementLines}
	st, err := s.App.Statement(r.Context(), who(r), q.Get("account"), o)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "statement", statementData{Statement: st, Fund: o.Fund, Cut: len(st.Lines) >= statementLines})
}

// statementLines is how many of an account's newest postings a statement
// page shows.
const statementLines = 1000

type statementData struct {
	apoyo.Statement
	Fund string
	// Cut: there may be older postings than those shown.
	Cut bool
}

func (s *Server) reconciliations(w http.ResponseWriter, r *http.Request) {
	runs, err := s.App.Reconciliations(r.Context(), who(r), 100)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "reconciliations", runs)
}

// reconcile takes the bank's statement from a form, reconciles it, and
// shows the run's report. The same file again posts nothing.
func (s *Server) reconcile(w http.ResponseWriter, r *http.Request) {
	f, hdr, err := s.uploaded(w, r, upload{field: "statement", missingReason: "payment.bad_statement",
		missing: "choose the bank's statement file (CSV)", tooLargeReason: "payment.bad_statement", what: "statement"})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer f.Close()
	rep, err := s.App.Reconcile(r.Context(), who(r), statementName(hdr.Filename), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	to := "/reconciliations/" + strconv.FormatInt(rep.ImportID, 10)
	s.redirect(w, r, to)
}

// statementName keeps of an uploaded file's name what a run's label
// needs: its base name, in letters, digits and ".-_", at most 80.
func statementName(name string) string {
	name = path.Base(strings.ReplaceAll(name, "\\", "/"))
	var b strings.Builder
	for _, c := range name {
		if b.Len() >= 80 {
			break
		}
		if c < 128 && (unicode.IsLetter(c) || unicode.IsDigit(c) || strings.ContainsRune(".-_", c)) {
			b.WriteRune(c)
		}
	}
	if b.Len() == 0 || name == "." || name == "/" {
		return "statement-" + time.Now().UTC().Format("20060102T150405Z") + ".csv"
	}
	return b.String()
}

func (s *Server) reconciliation(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil {
		s.fail(w, r, apoyo.Errorf(apoyo.ENOTFOUND, "reconcile.not_found", "no reconciliation %q", chi.URLParam(r, "id")))
		return
	}
	rep, err := s.App.Reconciliation(r.Context(), who(r), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "reconciliation", reconData{ID: id, Report: rep, Classes: apoyo.FindingClasses})
}

type reconData struct {
	ID      int64
	Report  apoyo.ReconcileReport
	Classes []apoyo.FindingClass
}

type auditData struct {
	Filter       apoyo.AuditFilter
	Since, Until string
	Entries      []apoyo.AuditEntry
	NextURL      string
}

func (s *Server) auditLog(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := apoyo.AuditFilter{ActorID: q.Get("actor_id"), Action: apoyo.Action(q.Get("action")), Target: q.Get("target"),
		Outcome: apoyo.AuditOutcome(q.Get("outcome")), Limit: 100}
	for _, d := range []struct {
		field string
		into  *time.Time
		plus  time.Duration
	}{{"since", &f.Since, 0}, {"until", &f.Until, 24 * time.Hour}} {
		if v := q.Get(d.field); v != "" {
			day, err := time.ParseInLocation("2006-01-02", v, cityTime)
			if err != nil {
				s.fail(w, r, apoyo.Errorf(apoyo.EINVALID, "audit.invalid", "%s: expected a date, YYYY-MM-DD", d.field).At(0, d.field))
				return
			}
			// "until" a day includes that whole day, in Mexico City.
			*d.into = day.Add(d.plus)
		}
	}
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			s.fail(w, r, apoyo.Errorf(apoyo.EINVALID, "audit.invalid", "after: expected an entry number").At(0, "after"))
			return
		}
		f.After = n
	}
	es, err := s.App.AuditEntries(r.Context(), who(r), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := auditData{Filter: f, Entries: es, Since: q.Get("since"), Until: q.Get("until")}
	if len(es) == f.Limit {
		d.NextURL = "/audit" + queryString("actor_id", f.ActorID, "action", string(f.Action), "target", f.Target, "outcome", string(f.Outcome),
			"since", d.Since, "until", d.Until, "after", strconv.FormatInt(es[len(es)-1].Seq, 10))
	}
	s.render(w, r, http.StatusOK, "audit", d)
}

type verifyData struct {
	Ran      bool
	Ledger   *apoyo.LedgerVerifyReport
	Audit    *apoyo.AuditVerifyReport
	LedgerEr error
	AuditEr  error
}

// verifyPage offers the verifications; they re-derive the whole ledger
// and audit chain, so they run on a person's click (POST), never on a
// page load or a link.
func (s *Server) verifyPage(w http.ResponseWriter, r *http.Request) {
	if s.mayVerify(w, r) {
		s.render(w, r, http.StatusOK, "verify", verifyData{})
	}
}

// mayVerify reports whether the person may run a verification; if not,
// it asks the application all the same, so that the refusal is the
// application's (and in the audit log), not only the page's, and answers
// it.
func (s *Server) mayVerify(w http.ResponseWriter, r *http.Request) bool {
	me := who(r)
	if s.can(me, apoyo.ActLedgerVerify) || s.can(me, apoyo.ActAuditVerify) {
		return true
	}
	_, err := s.App.VerifyAudit(r.Context(), me)
	s.fail(w, r, err)
	return false
}

func (s *Server) verify(w http.ResponseWriter, r *http.Request) {
	d := verifyData{Ran: true}
	me := who(r)
	if !s.mayVerify(w, r) {
		return
	}
	if s.can(me, apoyo.ActLedgerVerify) {
		rep, err := s.App.VerifyLedger(r.Context(), me, apoyo.LedgerVerifyOptions{Full: r.FormValue("full") != ""})
		d.Ledger, d.LedgerEr = &rep, s.shown(r, err)
	}
	if s.can(me, apoyo.ActAuditVerify) {
		rep, err := s.App.VerifyAudit(r.Context(), me)
		d.Audit, d.AuditEr = &rep, s.shown(r, err)
	}
	s.render(w, r, http.StatusOK, "verify", d)
}

func (s *Server) users(w http.ResponseWriter, r *http.Request) {
	us, err := s.App.Users(r.Context(), who(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "users", us)
}
