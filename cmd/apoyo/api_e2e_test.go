package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/api"
	"github.com/apoyo-cdmx/apoyo/bank/sandbox"
	"github.com/apoyo-cdmx/apoyo/mxid"
)

// apiClient calls the HTTP API as one user.
type apiClient struct {
	t     *testing.T
	base  string
	token string
}

// do sends a request and decodes a 2xx answer into out (or fails the
// test); it returns the status and, for an error, its body.
func (c apiClient) do(method, path, ctype string, body io.Reader, out any) (int, api.ErrorBody) {
	c.t.Helper()
	r, err := http.NewRequest(method, c.base+path, body)
	require.NoError(c.t, err)
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	r.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(r)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	require.NotEmpty(c.t, resp.Header.Get("X-Request-Id"), "every answer names its request")
	var e api.ErrorBody
	if resp.StatusCode/100 != 2 {
		require.NoError(c.t, json.Unmarshal(b, &e), "%s %s: %s", method, path, b)
		return resp.StatusCode, e
	}
	if out != nil {
		require.NoError(c.t, json.Unmarshal(b, out), "%s %s: %s", method, path, b)
	}
	return resp.StatusCode, e
}

func (c apiClient) get(path string, out any) {
	c.t.Helper()
	status, e := c.do("GET", path, "", nil, out)
	require.Equal(c.t, http.StatusOK, status, "GET %s: %+v", path, e)
}

func (c apiClient) post(path string, in, out any) int {
	c.t.Helper()
	b, err := json.Marshal(in)
	require.NoError(c.t, err)
	status, e := c.do("POST", path, "application/json", bytes.NewReader(b), out)
	require.Contains(c.t, []int{http.StatusOK, http.StatusCreated}, status, "POST %s: %+v", path, e)
	return status
}

// startServe runs `apoyo serve` (the console and the API) on a free port
// for the test, against the stack the environment names, and returns its
// base URL.
func startServe(ctx context.Context, t *testing.T) string {
	t.Helper()
	port := freePort(t)
	t.Setenv("APOYO_API_ADDRESS", fmt.Sprintf("127.0.0.1:%d", port))
	sctx, stopServe := context.WithCancel(ctx)
	served := make(chan int, 1)
	serveOut := &syncBuffer{}
	go func() {
		a := &cli{out: serveOut, errOut: &syncBuffer{}}
		root := newRoot(a)
		root.SetArgs([]string{"serve"})
		served <- exitCode(root.ExecuteContext(sctx), a.errOut)
	}()
	t.Cleanup(func() { stopServe(); <-served })
	require.Eventually(t, func() bool { return strings.Contains(serveOut.String(), "api ") }, 30*time.Second, 50*time.Millisecond)
	return fmt.Sprintf("http://127.0.0.1:%d", port)
}

// threePeople are the end-to-end tests' roster: A paid by SPEI with a
// referral, B by cash pickup, C by card with a TVRH that a caseworker
// checks.
func threePeople(r *rand.Rand) []*person {
	adult := time.Date(1991, 7, 3, 0, 0, 0, 0, time.UTC)
	people := []*person{
		{key: "A", given: "Lucía", first: "Mendoza", second: "Paz", birth: adult, phone: "5512003400", method: "spei", clabe: mxid.GenerateCLABE(r, "012"), needs: "employment"},
		{key: "B", given: "Jean", first: "Pierre", birth: adult, phone: "5512003401", method: "cash_pickup"},
		{key: "C", given: "Orlando", first: "Funes", second: "Ríos", birth: adult, phone: "5512003402", docType: "tvrh", docNumber: "TVRH12121212",
			method: "card", card: sandbox.CardNumber("4343")},
	}
	for _, p := range people {
		if p.docType == "" {
			p.curp = mxid.GenerateCURP(r, p.birth, "M", "NE")
		}
	}
	return people
}

// rosterCSV is a roster file of people, then the extra rows as they are.
func rosterCSV(t *testing.T, people []*person, extra ...[]string) []byte {
	t.Helper()
	var roster bytes.Buffer
	w := csv.NewWriter(&roster)
	require.NoError(t, w.Write(header))
	for _, p := range people {
		require.NoError(t, w.Write(p.row()))
	}
	require.NoError(t, w.WriteAll(extra))
	return roster.Bytes()
}

// TestCycleThroughTheAPI runs a whole cycle through the HTTP API alone,
// with one token per role, on a real Temporal server, PostgreSQL and the
// sandbox bank: the programme manager defines the programme, imports the
// roster and launches the cycle; the caseworker checks a document (reading
// the person's data for that purpose, which the audit log then shows) and
// records a referral's outcome; each secretariat's approver signs its
// pending list (a stale list is refused); the bank pays; the programme
// manager reconciles the bank's statement; the auditor verifies the ledger
// and the audit log and finds the signatures in it. Then `apoyo audit
// verify` is clean, and names the entry a superuser edited afterwards.
func TestCycleThroughTheAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// PostgreSQL, Temporal, the sandbox bank and the worker, as the golden
	// histories' test runs them; then the API, as `apoyo serve` runs it.
	g := startGoldenStack(ctx, t)
	db, as := g.db, g.as
	base := startServe(ctx, t) + "/api/v1"
	manager := apiClient{t, base, as.manager}
	caseworker := apiClient{t, base, as.caseworker}
	auditor := apiClient{t, base, as.auditor}
	admin := apiClient{t, base, as.admin}

	var me apoyo.Identity
	caseworker.get("/me", &me)
	require.Equal(t, apoyo.RoleCaseworker, me.Role)
	var users []apoyo.User
	admin.get("/users", &users)
	require.Len(t, users, 7)

	// The programme manager: programme, roster, launch.
	var prog apoyo.Program
	require.Equal(t, http.StatusCreated, manager.post("/programs", map[string]any{"name": "Ingreso Inclusivo API",
		"funds": []map[string]any{{"code": "city", "name": "Presupuesto CDMX", "budget": "100000"}}}, &prog))
	people := threePeople(rand.New(rand.NewPCG(29, 31)))
	var rep apoyo.ImportReport
	status, e := manager.do("POST", "/programs/"+prog.ID+"/roster", "text/csv", bytes.NewReader(rosterCSV(t, people)), &rep)
	require.Equal(t, http.StatusOK, status, "%+v", e)
	require.Equal(t, 3, rep.Accepted)
	var launch apoyo.LaunchResult
	require.Equal(t, http.StatusCreated, manager.post("/programs/"+prog.ID+"/cycles", map[string]any{"period": "2026-11"}, &launch))
	cyc := launch.Cycle.ID
	require.Equal(t, 3, launch.Cases)

	// The caseworker: C's TVRH waits for a look. Reading C's data needs a
	// purpose, and the read is in the audit log.
	var review []apoyo.Case
	require.Eventually(t, func() bool {
		caseworker.get("/cases?cycle="+cyc+"&waiting_on=caseworker&step=identity", &review)
		return len(review) == 1
	}, 60*time.Second, 100*time.Millisecond)
	c := review[0]
	status, e = caseworker.do("GET", "/beneficiaries/"+c.BeneficiaryID+"/personal-data", "", nil, nil)
	require.Equal(t, http.StatusBadRequest, status, "no purpose, no data")
	require.Equal(t, "auth.purpose_required", e.Reason)
	var pd apoyo.PersonalData
	caseworker.get("/beneficiaries/"+c.BeneficiaryID+"/personal-data?purpose=verificar+TVRH+en+ventanilla", &pd)
	require.Equal(t, "Orlando", pd.GivenNames)
	require.Equal(t, "TVRH12121212", pd.DocumentNumber)
	var st apoyo.CaseState
	caseworker.post("/cycles/"+cyc+"/cases/"+c.BeneficiaryID+"/identity", map[string]any{"decision": "verified", "reason": "documento visto"}, &st)

	// Each secretariat's approver signs the list it is shown; a stale
	// list is refused.
	for _, sec := range apoyo.Secretariats {
		approver := apiClient{t, base, as.approver[sec]}
		var list apoyo.RosterList
		require.Eventually(t, func() bool {
			approver.get("/cycles/"+cyc+"/approvals/pending", &list)
			return list.Size == 3
		}, 60*time.Second, 100*time.Millisecond, "%s's list", sec)
		require.Equal(t, "16800.00", list.Total.StringFixed(2))
		stale := strings.Repeat("0", 64)
		b, _ := json.Marshal(map[string]string{"list_hash": stale})
		status, e := approver.do("POST", "/cycles/"+cyc+"/approvals", "application/json", bytes.NewReader(b), nil)
		require.Equal(t, http.StatusConflict, status)
		require.Equal(t, "approval.list_changed", e.Reason)
		var signed apoyo.RosterApproval
		approver.post("/cycles/"+cyc+"/approvals", map[string]string{"list_hash": list.Hash}, &signed)
		require.Equal(t, 3, signed.Voted, "%+v", signed)
		require.Equal(t, list.Hash, signed.Hash)
	}

	// A's referral gets its outcome; everyone is paid; the cycle closes.
	require.Eventually(t, func() bool {
		var d apoyo.CaseDetail
		caseworker.get("/cycles/"+cyc+"/cases/"+apoyoBeneficiary(t, caseworker, cyc, "A", people), &d)
		return d.State.Step == apoyo.StepReferrals
	}, 60*time.Second, 100*time.Millisecond)
	var a apoyo.CaseDetail
	aID := apoyoBeneficiary(t, caseworker, cyc, "A", people)
	caseworker.get("/cycles/"+cyc+"/cases/"+aID, &a)
	require.Len(t, a.State.Referrals, 1)
	caseworker.post("/cycles/"+cyc+"/cases/"+aID+"/referrals/"+a.State.Referrals[0].ID+"/outcome", map[string]string{"outcome": "attended"}, &st)
	var cs apoyo.CycleStatusView
	require.Eventually(t, func() bool {
		manager.get("/cycles/"+cyc, &cs)
		return cs.Progress.Closed
	}, 60*time.Second, 100*time.Millisecond)
	require.Equal(t, 3, cs.Cases.ByOutcome[string(apoyo.OutcomeCompleted)])
	require.Equal(t, "16800", cs.Amounts["paid"].String())

	// The programme manager reconciles the bank's statement.
	var pays []apoyo.Payment
	for _, p := range people {
		var d apoyo.CaseDetail
		caseworker.get("/cycles/"+cyc+"/cases/"+apoyoBeneficiary(t, caseworker, cyc, p.key, people), &d)
		pays = append(pays, d.Payments...)
	}
	require.Len(t, pays, 3)
	resp, err := http.Get(g.bankURL + "/v1/statements/" + pays[0].OperationDate + ".csv")
	require.NoError(t, err)
	statement, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	var rec apoyo.ReconcileReport
	status, e = manager.do("POST", "/reconciliations?name=statement.csv", "text/csv", bytes.NewReader(statement), &rec)
	require.Equal(t, http.StatusOK, status, "%+v", e)
	require.Zero(t, rec.Unmatched, "%+v", rec.Problems)

	// The auditor: the ledger, the reconciliation, the signatures, the log.
	var vr apoyo.LedgerVerifyReport
	auditor.get("/ledger/verify", &vr)
	require.True(t, vr.OK)
	var tb apoyo.TrialBalance
	auditor.get("/ledger/trial-balance", &tb)
	require.True(t, tb.Balanced)
	var runs []apoyo.ReconcileRun
	auditor.get("/reconciliations", &runs)
	require.Len(t, runs, 1)
	var again apoyo.ReconcileReport
	auditor.get(fmt.Sprintf("/reconciliations/%d", runs[0].ID), &again)
	require.Equal(t, rec.Counts, again.Counts)
	var approvals []apoyo.RosterApproval
	auditor.get("/cycles/"+cyc+"/approvals", &approvals)
	require.Len(t, approvals, 3)
	var signs []apoyo.AuditEntry
	auditor.get("/audit?action=approval.roster.sign&outcome=ok", &signs)
	require.Len(t, signs, 3)
	for _, s := range signs {
		require.Equal(t, apoyo.RoleApprover, s.Role)
		require.Contains(t, s.Targets, cyc)
		require.NotEmpty(t, s.RequestID)
	}
	var reads []apoyo.AuditEntry
	auditor.get("/audit?action=beneficiary.personal_data.read", &reads)
	require.Len(t, reads, 2, "the refused read and the read are both recorded")
	require.Equal(t, "verificar TVRH en ventanilla", reads[1].Purpose)
	require.Equal(t, me.UserID, reads[1].ActorID)
	require.Equal(t, []string{c.BeneficiaryID}, reads[1].Targets)
	var denied []apoyo.AuditEntry
	auditor.get("/audit?outcome=denied", &denied)
	status, _ = caseworker.do("GET", "/audit", "", nil, nil)
	require.Equal(t, http.StatusForbidden, status, "only auditors read the audit log")
	var denied2 []apoyo.AuditEntry
	auditor.get("/audit?outcome=denied", &denied2)
	require.Len(t, denied2, len(denied)+1, "the refusal is recorded")
	var av apoyo.AuditVerifyReport
	auditor.get("/audit/verify", &av)
	require.True(t, av.OK, av.Problem)

	// `apoyo audit verify` agrees; after a superuser rewrites an entry it
	// exits 1 naming it.
	code, out, errOut := runAs(ctx, t, as.auditor, "audit", "verify")
	require.Equal(t, 0, code, out+errOut)
	require.Contains(t, out, "audit log verified: OK")
	code, out, _ = runAs(ctx, t, as.auditor, "audit", "head")
	require.Equal(t, 0, code)
	require.Regexp(t, `^\d+ [0-9a-f]{64} `, out)
	target := signs[1].Seq
	conn, err := db.Pool.Acquire(ctx)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "ALTER TABLE audit_log DISABLE TRIGGER USER")
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "UPDATE audit_log SET actor_name = 'someone.else' WHERE seq = $1", target)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "ALTER TABLE audit_log ENABLE TRIGGER USER")
	require.NoError(t, err)
	conn.Release()
	code, out, _ = runAs(ctx, t, as.auditor, "audit", "verify")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, fmt.Sprintf("first bad entry %d", target))
}

// apoyoBeneficiary finds the beneficiary id of the person labelled key,
// through the cases the caseworker sees and the person's data... by
// elimination on the payment rail, which the test chose per person.
func apoyoBeneficiary(t *testing.T, c apiClient, cycleID, key string, people []*person) string {
	t.Helper()
	var all []apoyo.Case
	c.get("/cases?cycle="+cycleID, &all)
	for _, p := range people {
		if p.key != key {
			continue
		}
		for _, k := range all {
			var b apoyo.Beneficiary
			c.get("/beneficiaries/"+k.BeneficiaryID, &b)
			if string(b.PaymentMethod) == p.method {
				return k.BeneficiaryID
			}
		}
	}
	t.Fatalf("no case for %s", key)
	return ""
}
