package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/activities"
	"github.com/apoyo-cdmx/apoyo/app"
	"github.com/apoyo-cdmx/apoyo/audit"
	"github.com/apoyo-cdmx/apoyo/bank/sandbox"
	"github.com/apoyo-cdmx/apoyo/bench"
	"github.com/apoyo-cdmx/apoyo/cases"
	"github.com/apoyo-cdmx/apoyo/config"
	"github.com/apoyo-cdmx/apoyo/demo"
	"github.com/apoyo-cdmx/apoyo/enrolment"
	"github.com/apoyo-cdmx/apoyo/identity"
	"github.com/apoyo-cdmx/apoyo/internal/golden"
	"github.com/apoyo-cdmx/apoyo/internal/pgtest"
	"github.com/apoyo-cdmx/apoyo/ledger"
	"github.com/apoyo-cdmx/apoyo/mxid"
	"github.com/apoyo-cdmx/apoyo/pii"
	"github.com/apoyo-cdmx/apoyo/platform/devstack"
	"github.com/apoyo-cdmx/apoyo/platform/pgcluster"
	"github.com/apoyo-cdmx/apoyo/platform/temporalcodec"
	"github.com/apoyo-cdmx/apoyo/platform/temporalserver"
	"github.com/apoyo-cdmx/apoyo/program"
	"github.com/apoyo-cdmx/apoyo/worker"
	"github.com/apoyo-cdmx/apoyo/workflows"
)

// person is one synthetic beneficiary of the end-to-end test.
type person struct {
	key                               string // A, B, … (test-only label)
	given, first, second, curp, phone string
	birth                             time.Time
	docType, docNumber, method        string
	clabe, card, needs                string
	id                                string // beneficiary id, found after import
	expectPaid, expectIneligible      bool
	needsReview, returnsFirst         bool
}

func (p person) row() []string {
	return []string{p.given, p.first, p.second, p.birth.Format("2006-01-02"), "M", "HND", "asylum_seeker", "Iztapalapa", "3",
		p.phone, "", p.curp, p.docType, p.docNumber, p.method, p.clabe, p.card, p.needs, "yes"}
}

var header = []string{"given_names", "first_surname", "second_surname", "birth_date", "sex", "nationality", "population_group", "alcaldia",
	"household_size", "phone", "email", "curp", "id_document_type", "id_document_number", "payment_method", "clabe", "card_number", "needs", "consent"}

// TestBeneficiaryJourneyEndToEnd runs issue 3's acceptance on a real
// in-process Temporal server, real PostgreSQL and the sandbox bank over
// HTTP, driving everything through the apoyo command line: import a CSV,
// launch a cycle, approve as the three secretariats, verify a document, put
// a new instrument on file after a return, record referral outcomes. Then:
// the ledger verifies, the bank shows exactly one settled payment per paid
// person, no workflow history holds personal data, and the Temporal actions
// of a happy path are counted and printed.
// TestBeneficiaryJourneyEndToEnd runs the journey on the default shape
// (PaymentCycle3: cases by page, approvals by signed lists, the bank's
// answer by callback); TestBeneficiaryJourneyShape2 on the earlier shape,
// whose running cases must keep working and whose golden histories it
// records.
func TestBeneficiaryJourneyEndToEnd(t *testing.T) { journey(t, 3) }

func TestBeneficiaryJourneyShape2(t *testing.T) { journey(t, 2) }

func journey(t *testing.T, shape int) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	db := pgtest.New(t)
	ts, err := temporalserver.Start(ctx, temporalserver.Options{Namespace: "apoyo"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = ts.Stop() })
	bank := sandbox.New(sandbox.Config{SettleDelay: 50 * time.Millisecond, AutoCollect: true, TickInterval: 10 * time.Millisecond})
	bank.Start(ctx)
	t.Cleanup(func() { _ = bank.Close() })
	bankSrv := httptest.NewServer(bank.Handler())
	t.Cleanup(bankSrv.Close)

	dataDir := t.TempDir()
	t.Setenv("APOYO_DATA_DIR", dataDir)
	// Fixed, test-only keys: the histories recorded here can be kept as
	// golden files (workflows/testdata) and replayed by later builds.
	t.Setenv("APOYO_PII_KEYS", golden.KeyID+":"+golden.Key)
	t.Setenv("APOYO_PII_ACTIVE_KEY", golden.KeyID)
	t.Setenv("APOYO_PII_INDEX_KEY", golden.IndexKey)
	t.Setenv("APOYO_DATABASE_URL", db.URL)
	t.Setenv("APOYO_TEMPORAL_ADDRESS", ts.Address())
	t.Setenv("APOYO_PAYMENTS_BANK_URL", bankSrv.URL)
	t.Setenv("APOYO_PAYMENTS_POLL_INTERVAL", "50ms")
	t.Setenv("APOYO_LOG_LEVEL", "warn")

	// The worker, as `apoyo worker` runs it.
	wctx, stopWorker := context.WithCancel(ctx)
	workerDone := make(chan int, 1)
	go func() {
		a := &cli{out: &syncBuffer{}, errOut: &syncBuffer{}}
		root := newRoot(a)
		root.SetArgs([]string{"worker"})
		workerDone <- exitCode(root.ExecuteContext(wctx), a.errOut)
	}()
	t.Cleanup(func() { stopWorker(); <-workerDone })

	// The people.
	r := rand.New(rand.NewPCG(7, 11))
	adult := time.Date(1990, 5, 17, 0, 0, 0, 0, time.UTC)
	people := []*person{
		{key: "A", given: "Marisol", first: "Quintanilla", second: "Ortega", birth: adult, phone: "5512345678", method: "spei",
			clabe: mxid.GenerateCLABE(r, "012"), needs: "employment;health", expectPaid: true},
		{key: "B", given: "Josué", first: "Baptiste", second: "", birth: adult, phone: "5587654321", method: "cash_pickup", expectPaid: true},
		{key: "C", given: "Wilmer", first: "Zelaya", second: "Funez", birth: adult, phone: "5533221100", docType: "tvrh", docNumber: "TVRH99887766",
			method: "card", card: sandbox.CardNumber("4242"), expectPaid: true, needsReview: true},
		{key: "D", given: "Yesenia", first: "Paredes", second: "Lagos", birth: adult, phone: "5544556677", method: "spei",
			clabe: sandbox.CLABE("1"), needs: "legal_aid", expectPaid: true, returnsFirst: true},
		{key: "E", given: "Kevin", first: "Alvarado", second: "Mejia", birth: time.Now().AddDate(-16, 0, 0), phone: "5599887766", method: "cash_pickup",
			expectIneligible: true},
	}
	for _, p := range people {
		if p.docType == "" {
			p.curp = mxid.GenerateCURP(r, p.birth, "M", "NE")
		}
	}
	csvPath := filepath.Join(t.TempDir(), "roster.csv")
	f, err := os.Create(csvPath)
	require.NoError(t, err)
	w := csv.NewWriter(f)
	require.NoError(t, w.Write(header))
	for _, p := range people {
		require.NoError(t, w.Write(p.row()))
	}
	bad := people[0].row()
	bad[0], bad[11], bad[15] = "Invalido", "XXXX000000HDFXXX00", "" // bad CURP, spei without CLABE
	require.NoError(t, w.Write(bad))
	w.Flush()
	require.NoError(t, f.Close())

	// Everyone acts as a named user with one role.
	as := newStaff(t, db.Pool)

	// Programme, import, launch — as a program manager would.
	code, out, errOut := runAs(ctx, t, as.manager, "program", "create", "--name", "Ingreso Inclusivo E2E", "--budget", "1000000", "-o", "json")
	require.Equal(t, 0, code, errOut)
	var prog apoyo.Program
	require.NoError(t, json.Unmarshal([]byte(out), &prog))

	code, out, _ = runAs(ctx, t, as.manager, "beneficiaries", "import", csvPath, "--program", prog.ID, "-o", "json")
	require.Equal(t, 1, code, "one row is bad: %s", out)
	var rep apoyo.ImportReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.Equal(t, 5, rep.Accepted)
	require.Equal(t, 1, rep.Rejected)
	require.Equal(t, 7, rep.Errors[0].Row, "rows are numbered as in the file, header = 1")
	require.NotContains(t, out, "Invalido")
	_, out, _ = runAs(ctx, t, as.manager, "beneficiaries", "import", csvPath, "--program", prog.ID, "-o", "json")
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.Equal(t, 0, rep.Accepted, "re-import changes nothing")
	require.Equal(t, 5, rep.Duplicates)

	// Find each person's opaque id (the test may look; the engine does not log it).
	cfg := config.Default()
	cfg.DataDir = dataDir
	cfg.PII.Keys, cfg.PII.ActiveKey, cfg.PII.IndexKey = golden.KeyID+":"+golden.Key, golden.KeyID, golden.IndexKey
	kr, ix, err := devstack.Keyring(cfg)
	require.NoError(t, err)
	store := enrolment.NewStore(db.Pool, kr, ix)
	ids, err := store.ListIDs(ctx, prog.ID, "", 100)
	require.NoError(t, err)
	for _, id := range ids {
		b, err := store.Get(ctx, id)
		require.NoError(t, err)
		for _, p := range people {
			if p.given == b.Record.GivenNames {
				p.id = id
			}
		}
	}
	for _, p := range people {
		require.NotEmpty(t, p.id, p.key)
	}

	// The server's own action counter, kept by Temporal Cloud's billing
	// rules, from before the launch to the cycle's close.
	actionsBefore, err := bench.ServerActions(ctx, ts.MetricsURL(), "apoyo")
	require.NoError(t, err)
	require.Zero(t, actionsBefore.Billable(), "nothing ran in the namespace before the launch")
	code, out, errOut = runAs(ctx, t, as.manager, "cycle", "launch", "--program", prog.ID, "--period", "2026-11", "--shape", fmt.Sprint(shape), "-o", "json")
	require.Equal(t, 0, code, errOut)
	var launch struct {
		Cycle apoyo.Cycle `json:"cycle"`
		Cases int         `json:"cases"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &launch))
	require.Equal(t, 5, launch.Cases)
	cycleID := launch.Cycle.ID
	code, out, _ = runAs(ctx, t, as.manager, "cycle", "launch", "--program", prog.ID, "--period", "2026-11", "-o", "json")
	require.Equal(t, 0, code)
	require.Contains(t, out, `"created": false`, "launching the same cycle twice gives one cycle")

	caseOf := func(p *person) string { return apoyo.CaseID(cycleID, p.id) }
	show := func(p *person) apoyo.CaseState {
		code, out, errOut := runAs(ctx, t, as.caseworker, "case", "show", caseOf(p), "-o", "json")
		require.Equal(t, 0, code, errOut)
		var st apoyo.CaseState
		require.NoError(t, json.Unmarshal([]byte(out), &st))
		return st
	}
	waitFor := func(p *person, what string, ok func(apoyo.CaseState) bool) apoyo.CaseState {
		var st apoyo.CaseState
		require.Eventually(t, func() bool {
			// The cycle starts cases asynchronously: "not found" at first.
			code, out, _ := runAs(ctx, t, as.caseworker, "case", "show", caseOf(p), "-o", "json")
			if code != 0 {
				return false
			}
			st = apoyo.CaseState{}
			return json.Unmarshal([]byte(out), &st) == nil && ok(st)
		}, 60*time.Second, 100*time.Millisecond,
			"case %s never reached %s; last state %+v", p.key, what, st)
		return st
	}

	// Identity: C's TVRH needs a caseworker's look.
	waitFor(people[2], "identity review", func(s apoyo.CaseState) bool { return s.Step == apoyo.StepIdentity && s.Status == "waiting" })
	code, _, errOut = runAs(ctx, t, as.caseworker, "case", "verify-identity", caseOf(people[2]), "--decision", "verified")
	require.Equal(t, 0, code, errOut)
	// E is under age.
	st := waitFor(people[4], "done", func(s apoyo.CaseState) bool { return s.Step == apoyo.StepDone })
	require.Equal(t, apoyo.OutcomeIneligible, st.Outcome)
	require.Contains(t, st.Reason, "age")

	// Approval: each secretariat approves every case waiting on it.
	for _, p := range people[:4] {
		waitFor(p, "approval", func(s apoyo.CaseState) bool { return s.Step == apoyo.StepApproval })
	}
	for _, sec := range []string{"STYFE", "SIBISO", "SEDESA"} {
		if shape == 3 {
			// The secretariat signs the list it is shown: one signal per
			// case once all three have.
			code, out, errOut := runAs(ctx, t, as.approver[apoyo.Secretariat(sec)], "approve", "--cycle", cycleID, "--list", "-o", "json")
			require.Equal(t, 0, code, errOut)
			var list apoyo.RosterList
			require.NoError(t, json.Unmarshal([]byte(out), &list))
			require.Equal(t, 4, list.Size, sec)
			code, out, errOut = runAs(ctx, t, as.approver[apoyo.Secretariat(sec)], "approve", "--cycle", cycleID, "--sign", list.Hash, "-o", "json")
			require.Equal(t, 0, code, errOut)
			var signed apoyo.RosterApproval
			require.NoError(t, json.Unmarshal([]byte(out), &signed))
			require.Equal(t, 4, signed.Voted, "%s: %+v", sec, signed)
			continue
		}
		code, out, errOut := runAs(ctx, t, as.caseworker, "case", "list", "--cycle", cycleID, "--waiting-on", sec, "-o", "json")
		require.Equal(t, 0, code, errOut)
		var waiting []apoyo.Case
		require.NoError(t, json.Unmarshal([]byte(out), &waiting))
		require.Len(t, waiting, 4, sec)
		args := []string{"approve", "--secretariat", sec}
		for _, c := range waiting {
			args = append(args, c.CaseID)
		}
		code, _, errOut = runAs(ctx, t, as.approver[apoyo.Secretariat(sec)], args...)
		require.Equal(t, 0, code, errOut)
	}
	if shape == 3 {
		waitFor(people[0], "payment", func(s apoyo.CaseState) bool { return s.Step != apoyo.StepApproval })
	}
	// A changed vote is refused.
	code, _, errOut = runAs(ctx, t, as.approver[apoyo.SEDESA], "approve", "--secretariat", "SEDESA", "--reject", "--reason", "changed my mind", caseOf(people[0]))
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "cannot be changed")

	// D's payment comes back (account does not exist): a caseworker puts a
	// new CLABE on file and the same case pays again, once.
	st = waitFor(people[3], "needs new instrument", func(s apoyo.CaseState) bool {
		return s.Step == apoyo.StepPayment && s.Status == "waiting" && slices.Contains(s.WaitingOn, apoyo.WaitingOnCaseworker)
	})
	require.Equal(t, 1, st.Payments[0].ReturnCause)
	newCLABE := mxid.GenerateCLABE(r, "014")
	code, _, errOut = runAs(ctx, t, as.caseworker, "case", "set-payment-instrument", caseOf(people[3]), "--method", "spei", "--clabe", newCLABE)
	require.Equal(t, 0, code, errOut)

	// Referrals: A has two, D one; B and C none and finish when paid.
	for _, p := range []*person{people[0], people[3]} {
		st := waitFor(p, "referrals", func(s apoyo.CaseState) bool { return s.Step == apoyo.StepReferrals })
		for i, ref := range st.Referrals {
			outcome := []string{"attended", "declined"}[i%2]
			code, _, errOut := runAs(ctx, t, as.caseworker, "referral", "outcome", caseOf(p), ref.ID, "--outcome", outcome)
			require.Equal(t, 0, code, errOut)
		}
	}
	for _, p := range people[:4] {
		st := waitFor(p, "completed", func(s apoyo.CaseState) bool { return s.Step == apoyo.StepDone })
		require.Equal(t, apoyo.OutcomeCompleted, st.Outcome, "%s: %s", p.key, st.Reason)
	}
	// The cycle ends when every case has; its unspent reservation (E's
	// share) goes back to the budget.
	var cst apoyo.CycleStatusView
	require.Eventually(t, func() bool {
		code, out, _ := runAs(ctx, t, as.manager, "cycle", "status", cycleID, "-o", "json")
		return code == 0 && json.Unmarshal([]byte(out), &cst) == nil && cst.Progress.Closed
	}, 30*time.Second, 100*time.Millisecond)
	require.Equal(t, 5, cst.Progress.Done)
	require.Equal(t, "0", cst.Amounts["committed"].String(), "unspent reservation released")
	require.Equal(t, "22400", cst.Amounts["paid"].String())
	require.Equal(t, apoyo.CycleStatus("closed"), cst.Cycle.Status)
	// Every task a person worked on (C's document, D's returned payment)
	// closed when the case moved on.
	code, out, _ = runAs(ctx, t, as.caseworker, "case", "tasks", "--cycle", cycleID, "-o", "json")
	require.Equal(t, 0, code)
	require.JSONEq(t, "[]", out)

	st = show(people[0])
	require.Len(t, st.Referrals, 2)
	require.Len(t, st.Payments, 1)
	require.Len(t, show(people[3]).Payments, 2)

	// The ledger verifies and shows four benefits paid.
	code, out, errOut = runAs(ctx, t, as.auditor, "ledger", "verify")
	require.Equal(t, 0, code, out+errOut)
	code, out, _ = runAs(ctx, t, as.auditor, "ledger", "balances", "--prefix", program.CycleAccount(prog.ID, cycleID, ""), "-o", "json")
	require.Equal(t, 0, code)
	var bals []struct {
		Account string `json:"account"`
		Balance string `json:"balance"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &bals))
	paid := map[string]string{}
	for _, b := range bals {
		paid[b.Account[strings.LastIndexByte(b.Account, ':')+1:]] = b.Balance
	}
	require.Equal(t, "22400", strings.TrimSuffix(strings.TrimSuffix(paid["paid"], ".00"), ".0"), "%v", paid)

	// The bank's own record, read over its HTTP API as the demo and the
	// chaos run read it: every paid person's money left once net of
	// returns, nobody's twice, nothing for E; D's first order was refused
	// (it never left) and the second one paid.
	bankAudit, err := sandbox.FetchAudit(ctx, nil, bankSrv.URL, cycleID)
	require.NoError(t, err)
	require.Empty(t, bankAudit.Unattributed, "every order of the cycle is an attempt of a case")
	require.Zero(t, bankAudit.DoublePaid, "paid twice by the bank's record: %s", bankAudit)
	require.Equal(t, 4, bankAudit.PaidOnce, "%s", bankAudit)
	require.Equal(t, "22400.00", bankAudit.NetAmount.StringFixed(2))
	for _, p := range people {
		got := bankAudit.Payee(cycleID, p.id)
		switch {
		case p.expectIneligible:
			require.Zero(t, got.Orders, "%s: no order for an ineligible person", p.key)
		case p.returnsFirst:
			require.Equal(t, [4]int{2, 1, 0, 1}, [4]int{got.Orders, got.Paid, got.Returned, got.Net}, "%s: orders, paid, returned, net", p.key)
		default:
			require.Equal(t, [4]int{1, 1, 0, 1}, [4]int{got.Orders, got.Paid, got.Returned, got.Net}, "%s: orders, paid, returned, net", p.key)
		}
	}
	firstD := program.Attempt{Cycle: cycleID, Beneficiary: people[3].id, N: 1}.OrderID()
	var dKinds []sandbox.MovementKind
	for _, m := range bank.Movements("") {
		if m.OrderID == firstD {
			dKinds = append(dKinds, m.Kind)
		}
	}
	require.Equal(t, []sandbox.MovementKind{sandbox.MovementAccepted, sandbox.MovementReturned}, dKinds, "D's first order came back")

	// No personal data in any workflow history, read raw from the server
	// by a client that has no key: every run of every workflow (cases and
	// cycle, continue-as-new runs included), each event in its wire bytes,
	// and every payload's data on its own. Rendering events as JSON would
	// base64 the payloads and hide a plaintext one, so the bytes are
	// scanned instead, and every payload must carry apoyo's encrypted
	// encoding: a client without the encrypting converters fails here even
	// when no secret happens to be in what it sent.
	raw, err := client.Dial(client.Options{HostPort: ts.Address(), Namespace: "apoyo"})
	require.NoError(t, err)
	defer raw.Close()
	var secrets []string
	for _, p := range people {
		for _, s := range []string{p.given, p.first, p.second, p.curp, p.phone, p.clabe, p.card, p.docNumber} {
			if len(s) >= 5 {
				secrets = append(secrets, s)
			}
		}
	}
	secrets = append(secrets, newCLABE)
	runs := executions(ctx, t, raw)
	wantIDs := map[string]bool{workflows.CycleWorkflowID(cycleID): true}
	for _, p := range people {
		wantIDs[caseOf(p)] = true
	}
	payloads := 0
	for _, ex := range runs {
		delete(wantIDs, ex.GetWorkflowId())
		for _, e := range historyOfRun(ctx, t, raw, ex.GetWorkflowId(), ex.GetRunId()) {
			b, err := proto.Marshal(e)
			require.NoError(t, err)
			for _, s := range secrets {
				require.False(t, bytes.Contains(b, []byte(s)), "%s event %d (%s) holds personal data", ex.GetWorkflowId(), e.GetEventId(), e.GetEventType())
			}
			for _, pl := range payloadsOf(e) {
				payloads++
				require.Equal(t, temporalcodec.EncodingEncrypted, string(pl.GetMetadata()[converter.MetadataEncoding]),
					"%s event %d (%s): a payload is not encrypted", ex.GetWorkflowId(), e.GetEventId(), e.GetEventType())
				for _, s := range secrets {
					require.False(t, bytes.Contains(pl.GetData(), []byte(s)), "%s event %d: payload holds personal data", ex.GetWorkflowId(), e.GetEventId())
				}
			}
		}
	}
	require.Empty(t, wantIDs, "histories not found on the server")
	// The history counter follows the billing rules: over every run of the
	// cycle, it finds what the server's counter billed, but for what no
	// history shows (heartbeats, queries, rejected updates).
	fromHistories, byKind := 0, map[string]int{}
	for _, ex := range runs {
		for k, v := range bench.CountActions(historyOfRun(ctx, t, raw, ex.GetWorkflowId(), ex.GetRunId())) {
			byKind[k] += v
			fromHistories += v
		}
	}
	// The server reports its counter every few seconds, and a case's last
	// workflow task may complete after its projection says done: read it
	// until it has caught up with the finished histories.
	var serverActions bench.Actions
	var outsideHistories int64
	require.Eventually(t, func() bool {
		after, err := bench.ServerActions(ctx, ts.MetricsURL(), "apoyo")
		require.NoError(t, err)
		serverActions = after.Since(actionsBefore)
		outsideHistories = serverActions.Heartbeats() + serverActions["grpc_QueryWorkflow"] + serverActions["message_UpdateWorkflowExecution_Rejection"]
		return serverActions.Billable()-outsideHistories == int64(fromHistories)
	}, 30*time.Second, 250*time.Millisecond, "server: %s; histories: %v", serverActions, byKind)
	require.Greater(t, payloads, 10*len(people), "the scan saw the payloads")
	actions := map[string]map[string]int{}
	for _, p := range people {
		actions[p.key] = bench.CountActions(history(ctx, t, raw, caseOf(p)))
	}
	// Determinism: the recorded histories of a finished case and of the
	// cycle replay through today's workflow code without a mismatch.
	replayer, err := sdkworker.NewWorkflowReplayerWithOptions(sdkworker.WorkflowReplayerOptions{DataConverter: temporalcodec.NewDataConverter(kr)})
	require.NoError(t, err)
	replayer.RegisterWorkflowWithOptions(workflows.BeneficiaryCase, workflow.RegisterOptions{Name: workflows.BeneficiaryWorkflowName})
	replayer.RegisterWorkflowWithOptions(workflows.PaymentCycle, workflow.RegisterOptions{Name: workflows.CycleWorkflowName})
	replayer.RegisterWorkflowWithOptions(workflows.BeneficiaryCase3, workflow.RegisterOptions{Name: workflows.Case3WorkflowName})
	replayer.RegisterWorkflowWithOptions(workflows.PaymentCycle3, workflow.RegisterOptions{Name: workflows.Cycle3WorkflowName})
	golden := map[string]string{caseOf(people[0]): "case-paid-two-referrals", caseOf(people[3]): "case-returned-repaid",
		caseOf(people[2]): "case-identity-review", workflows.CycleWorkflowID(cycleID): "cycle"}
	if shape == 3 {
		golden = map[string]string{caseOf(people[0]): "case3-paid-two-referrals", caseOf(people[3]): "case3-returned-repaid",
			caseOf(people[2]): "case3-identity-review", caseOf(people[1]): "case3-pickup-paid", workflows.CycleWorkflowID(cycleID): "cycle3"}
	}
	for id, name := range golden {
		events := history(ctx, t, raw, id)
		h := &historypb.History{Events: events}
		require.NoError(t, replayer.ReplayWorkflowHistory(nil, h), "replaying %s", id)
		if os.Getenv("APOYO_UPDATE_GOLDEN") != "" {
			// Keep this run's histories for workflows.TestReplayGoldenHistories,
			// which replays them with every later build.
			b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(h)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join("..", "..", "workflows", "testdata", name+".json"), b, 0o644))
		}
	}

	report := fmt.Sprintf("Temporal actions of the whole cycle by the server's action counter (Temporal Cloud's rules; 5 people, the cycle "+
		"workflow, every update, query and heartbeat): %d, %.1f per person; heartbeats %d, queries %d; %s\n",
		serverActions.Billable(), float64(serverActions.Billable())/5, serverActions.Heartbeats(), serverActions["grpc_QueryWorkflow"], serverActions) +
		fmt.Sprintf("Temporal actions per beneficiary (Cloud-billed events in each case's history; heartbeats and queries are in the line above):\n"+
			"  A happy path, SPEI, 2 referrals: %d %v\n  B happy path, cash pickup, no referrals: %d %v\n"+
			"  C identity review + card: %d\n  D returned then re-paid, 1 referral: %d\n  E ineligible: %d\n",
			bench.Total(actions["A"]), actions["A"], bench.Total(actions["B"]), actions["B"], bench.Total(actions["C"]), bench.Total(actions["D"]), bench.Total(actions["E"]))
	t.Log("\n" + report)
	// Counted as Temporal Cloud bills them (a case started as a child
	// costs 2).
	if shape == 2 {
		require.LessOrEqual(t, bench.Total(actions["B"]), 11, "a happy path without referrals fits in 11 actions")
		return
	}
	writeTestReport(t, "actions.txt", report)
	require.Zero(t, serverActions.Heartbeats(), "nothing heartbeats while the bank decides")
	// Issue 10's goals, by Temporal Cloud's rules: the start (approved: the
	// case waited for its signed lists without a workflow) and SendPayment;
	// one update per referral outcome and the record of the end after
	// referrals.
	require.LessOrEqual(t, bench.Total(actions["B"]), 2, "a cash pickup without referrals: %v", actions["B"])
	require.Zero(t, actions["B"]["signal"], "started approved, not told by a signal")
	require.LessOrEqual(t, bench.Total(actions["A"]), 2+2+1, "SPEI with 2 referrals: %v", actions["A"])
	require.Equal(t, 1, bench.Total(actions["E"]), "an ineligible person: the start that carried the screening")
}

func history(ctx context.Context, t *testing.T, c client.Client, id string) []*historypb.HistoryEvent {
	return historyOfRun(ctx, t, c, id, "")
}

// historyOfRun is one run's history ("" for the latest run).
func historyOfRun(ctx context.Context, t *testing.T, c client.Client, id, runID string) []*historypb.HistoryEvent {
	t.Helper()
	it := c.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var out []*historypb.HistoryEvent
	for it.HasNext() {
		e, err := it.Next()
		require.NoError(t, err)
		out = append(out, e)
	}
	return out
}

// executions lists every workflow run in the client's namespace, open
// and closed.
func executions(ctx context.Context, t *testing.T, c client.Client) []*commonpb.WorkflowExecution {
	t.Helper()
	var out []*commonpb.WorkflowExecution
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: "apoyo", PageSize: 1000, NextPageToken: token})
		require.NoError(t, err)
		for _, e := range resp.GetExecutions() {
			out = append(out, e.GetExecution())
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return out
		}
	}
}

// payloadsOf returns every Payload inside m, at any depth (inputs,
// results, signals, updates, memos, failures and their details), except
// search attributes: the server must read those in clear to index them,
// which is why they hold opaque ids only (the raw-bytes scan still covers
// them).
func payloadsOf(m proto.Message) []*commonpb.Payload {
	var out []*commonpb.Payload
	var walk func(protoreflect.Message)
	walk = func(m protoreflect.Message) {
		switch v := m.Interface().(type) {
		case *commonpb.Payload:
			out = append(out, v)
			return
		case *commonpb.SearchAttributes:
			return
		}
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			switch {
			case fd.IsList():
				if fd.Message() != nil {
					for i, l := 0, v.List(); i < l.Len(); i++ {
						walk(l.Get(i).Message())
					}
				}
			case fd.IsMap():
				if fd.MapValue().Message() != nil {
					v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool { walk(mv.Message()); return true })
				}
			case fd.Message() != nil:
				walk(v.Message())
			}
			return true
		})
	}
	walk(m.ProtoReflect())
	return out
}

// writeTestReport leaves a figure where .ci/run prints it (go test shows a
// passing test's output only with -v).
func writeTestReport(t *testing.T, name, text string) {
	dir := filepath.Join("..", "..", ".test-report")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("test report: %v", err)
		return
	}
	_ = os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644)
}

// TestDemoCommand runs the README's main command, `apoyo demo`, on a fresh
// data directory with nothing started: it must bring up its own stack and
// finish with every eligible person paid exactly once, the ledger verified,
// no statement line unmatched, and a second reconciliation posting nothing.
func TestDemoCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	if _, err := pgcluster.FindBinDir(""); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	t.Setenv("APOYO_DATA_DIR", filepath.Join(pgcluster.TempDir(t), "state"))
	t.Setenv("APOYO_DEV_TEMPORAL_PORT", fmt.Sprint(freePort(t)))
	t.Setenv("APOYO_DEV_UI_PORT", "0")
	t.Setenv("APOYO_PAYMENTS_POLL_INTERVAL", "50ms")

	code, out, errOut := run(ctx, t, "demo", "--beneficiaries", "40", "-o", "json")
	require.Equal(t, 0, code, "stdout: %s\nstderr: %s", out, errOut)
	var sum demo.Summary
	require.NoError(t, json.Unmarshal([]byte(out), &sum))
	t.Logf("demo summary: %s", out)
	require.Equal(t, 40, sum.Enrolled)
	require.Positive(t, sum.Rejected, "the synthetic roster has bad rows")
	require.Positive(t, sum.Duplicates)
	require.Equal(t, sum.Enrolled-sum.Ineligible, sum.Paid, "every eligible person is paid")
	// Who was paid comes from the bank's own record, not apoyo's payments
	// table (whose unique index would make a double payment invisible).
	require.Zero(t, sum.PaidTwice, "paid twice by the bank's record")
	require.Equal(t, sum.Paid, sum.BankPaid, "the bank paid the people apoyo says it paid")
	require.Equal(t, sum.AmountDisbursed, sum.BankAmountSent, "the bank sent the money apoyo booked as paid")
	require.True(t, sum.BankAgrees())
	require.Positive(t, sum.Returned, "some CLABEs are returned by the bank")
	require.Equal(t, sum.Returned, sum.Repaid, "each returned payment is paid again, once")
	require.True(t, sum.LedgerVerified)
	require.Zero(t, sum.Unmatched)
	require.Positive(t, sum.Statements)
	require.Zero(t, sum.SecondRunPosted, "reconciling the same statement twice posts nothing the second time")
	writeTestReport(t, "demo.txt", fmt.Sprintf("apoyo demo --beneficiaries 40: enrolled %d, paid %d, returned %d, re-paid %d, paid twice %d, ledger verified %v, unmatched %d, %.1f s\n",
		sum.Enrolled, sum.Paid, sum.Returned, sum.Repaid, sum.PaidTwice, sum.LedgerVerified, sum.Unmatched, sum.Seconds))
}

// goldenStack is a Temporal server, PostgreSQL, the sandbox bank over HTTP
// and an apoyo worker, configured through the environment as `apoyo
// worker` and the CLI read it, with the golden histories' test-only keys.
type goldenStack struct {
	temporal *temporalserver.Server
	bank     *sandbox.Bank
	bankURL  string
	enrol    *enrolment.Store
	db       *pgtest.DB
	as       staff
	// shape of the cycles it launches (0: the default).
	shape int
}

func startGoldenStack(ctx context.Context, t *testing.T) *goldenStack {
	t.Helper()
	db := pgtest.New(t)
	ts, err := temporalserver.Start(ctx, temporalserver.Options{Namespace: "apoyo"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = ts.Stop() })
	bank := sandbox.New(sandbox.Config{SettleDelay: 50 * time.Millisecond, AutoCollect: true, TickInterval: 10 * time.Millisecond})
	bank.Start(ctx)
	t.Cleanup(func() { _ = bank.Close() })
	bankSrv := httptest.NewServer(bank.Handler())
	t.Cleanup(bankSrv.Close)

	dataDir := t.TempDir()
	t.Setenv("APOYO_DATA_DIR", dataDir)
	t.Setenv("APOYO_PII_KEYS", golden.KeyID+":"+golden.Key)
	t.Setenv("APOYO_PII_ACTIVE_KEY", golden.KeyID)
	t.Setenv("APOYO_PII_INDEX_KEY", golden.IndexKey)
	t.Setenv("APOYO_DATABASE_URL", db.URL)
	t.Setenv("APOYO_TEMPORAL_ADDRESS", ts.Address())
	t.Setenv("APOYO_PAYMENTS_BANK_URL", bankSrv.URL)
	t.Setenv("APOYO_PAYMENTS_POLL_INTERVAL", "50ms")
	t.Setenv("APOYO_LOG_LEVEL", "warn")

	wctx, stopWorker := context.WithCancel(ctx)
	workerDone := make(chan int, 1)
	go func() {
		a := &cli{out: &syncBuffer{}, errOut: &syncBuffer{}}
		root := newRoot(a)
		root.SetArgs([]string{"worker"})
		workerDone <- exitCode(root.ExecuteContext(wctx), a.errOut)
	}()
	t.Cleanup(func() { stopWorker(); <-workerDone })

	cfg := config.Default()
	cfg.DataDir = dataDir
	cfg.PII.Keys, cfg.PII.ActiveKey, cfg.PII.IndexKey = golden.KeyID+":"+golden.Key, golden.KeyID, golden.IndexKey
	kr, ix, err := devstack.Keyring(cfg)
	require.NoError(t, err)
	return &goldenStack{temporal: ts, bank: bank, bankURL: bankSrv.URL, enrol: enrolment.NewStore(db.Pool, kr, ix), db: db, as: newStaff(t, db.Pool)}
}

// enrolPeople creates a programme (extra flags for `program create`),
// imports people into it and fills in their ids.
func (g *goldenStack) enrolPeople(ctx context.Context, t *testing.T, name string, people []*person, flags ...string) apoyo.Program {
	t.Helper()
	args := append([]string{"program", "create", "--name", name, "--budget", "1000000", "-o", "json"}, flags...)
	code, out, errOut := runAs(ctx, t, g.as.manager, args...)
	require.Equal(t, 0, code, errOut)
	var prog apoyo.Program
	require.NoError(t, json.Unmarshal([]byte(out), &prog))
	csvPath := filepath.Join(t.TempDir(), "roster.csv")
	f, err := os.Create(csvPath)
	require.NoError(t, err)
	w := csv.NewWriter(f)
	require.NoError(t, w.Write(header))
	for _, p := range people {
		require.NoError(t, w.Write(p.row()))
	}
	w.Flush()
	require.NoError(t, f.Close())
	code, out, errOut = runAs(ctx, t, g.as.manager, "beneficiaries", "import", csvPath, "--program", prog.ID, "-o", "json")
	require.Equal(t, 0, code, out+errOut)
	ids, err := g.enrol.ListIDs(ctx, prog.ID, "", 100)
	require.NoError(t, err)
	for _, id := range ids {
		b, err := g.enrol.Get(ctx, id)
		require.NoError(t, err)
		for _, p := range people {
			if p.given == b.Record.GivenNames {
				p.id = id
			}
		}
	}
	for _, p := range people {
		require.NotEmpty(t, p.id, p.key)
	}
	return prog
}

func (g *goldenStack) launchCycle(ctx context.Context, t *testing.T, args ...string) string {
	t.Helper()
	if g.shape != 0 {
		args = append(args, "--shape", fmt.Sprint(g.shape))
	}
	code, out, errOut := runAs(ctx, t, g.as.manager, append([]string{"cycle", "launch", "-o", "json"}, args...)...)
	require.Equal(t, 0, code, errOut)
	var launch struct {
		Cycle apoyo.Cycle `json:"cycle"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &launch))
	return launch.Cycle.ID
}

// waitCase waits until the case's state satisfies ok.
func (g *goldenStack) waitCase(ctx context.Context, t *testing.T, caseID, what string, ok func(apoyo.CaseState) bool) apoyo.CaseState {
	t.Helper()
	var st apoyo.CaseState
	require.Eventually(t, func() bool {
		code, out, _ := runAs(ctx, t, g.as.caseworker, "case", "show", caseID, "-o", "json")
		if code != 0 {
			return false // the cycle starts cases asynchronously
		}
		st = apoyo.CaseState{}
		return json.Unmarshal([]byte(out), &st) == nil && ok(st)
	}, 60*time.Second, 100*time.Millisecond, "case %s never reached %s; last state %+v", caseID, what, st)
	return st
}

func (g *goldenStack) waitCycleClosed(ctx context.Context, t *testing.T, cycleID string) apoyo.CycleStatusView {
	t.Helper()
	var cst apoyo.CycleStatusView
	require.Eventually(t, func() bool {
		code, out, _ := runAs(ctx, t, g.as.manager, "cycle", "status", cycleID, "-o", "json")
		return code == 0 && json.Unmarshal([]byte(out), &cst) == nil && cst.Progress.Closed
	}, 60*time.Second, 100*time.Millisecond, "cycle %s never closed; last %+v", cycleID, cst.Progress)
	return cst
}

// approveAll signs, as each secretariat's approver, the list of the
// cycle's cases waiting for it.
func (g *goldenStack) approveAll(ctx context.Context, t *testing.T, cycleID string) {
	t.Helper()
	for _, sec := range apoyo.Secretariats {
		code, out, errOut := runAs(ctx, t, g.as.approver[sec], "approve", "--cycle", cycleID, "--all-pending")
		require.Equal(t, 0, code, out+errOut)
	}
}

// TestGoldenHistoriesOfEveryEnding drives, on a real server, the endings
// the happy-path journey never reaches: a case rejected at approval, an
// identity review nobody decided, a payment whose every attempt came
// back, a cycle cancelled while its cases wait, and a cycle that continues
// as new. Each case must end with its outcome recorded; each history
// replays through today's workflow code; with APOYO_UPDATE_GOLDEN set the
// histories are kept in workflows/testdata for TestReplayGoldenHistories,
// which replays them with every later build (and never re-recorded: a
// workflow change that breaks them needs workflow.GetVersion).
func TestGoldenHistoriesOfEveryEnding(t *testing.T) { goldenEndings(t, 2) }

// TestGoldenHistoriesOfEveryEndingShape3 drives the same endings through
// the third shape (golden names case3-…, cycle3-…).
func TestGoldenHistoriesOfEveryEndingShape3(t *testing.T) { goldenEndings(t, 3) }

func goldenEndings(t *testing.T, shape int) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	g := startGoldenStack(ctx, t)
	r := rand.New(rand.NewPCG(17, 23))
	adult := time.Date(1988, 2, 9, 0, 0, 0, 0, time.UTC)
	withCURP := func(p *person) *person {
		if p.docType == "" {
			p.curp = mxid.GenerateCURP(r, p.birth, "M", "NE")
		}
		return p
	}
	recorded := map[string]string{} // golden name → workflow id (latest run)
	name := func(n string) string { // the third shape's goldens are case3-…, cycle3-…
		if shape == 3 {
			kind, rest, _ := strings.Cut(n, "-")
			n = kind + "3-" + rest
		}
		return n
	}
	g.shape = shape

	// 1. One cycle: a rejection, an expired identity review, a payment that
	// fails three times.
	rejected := withCURP(&person{key: "R", given: "Rosalba", first: "Cifuentes", second: "Mora", birth: adult, phone: "5511002200", method: "cash_pickup"})
	expired := withCURP(&person{key: "X", given: "Wendy", first: "Osorio", second: "Amaya", birth: adult, phone: "5511003300",
		docType: "tvrh", docNumber: "TVRH55443322", method: "cash_pickup"})
	failing := withCURP(&person{key: "F", given: "Elmer", first: "Castellanos", second: "Ruiz", birth: adult, phone: "5511004400",
		method: "spei", clabe: sandbox.CLABE("70000000001")})
	prog := g.enrolPeople(ctx, t, "Golden endings", []*person{rejected, expired, failing}, "--review-deadline", "2s")
	cyc := g.launchCycle(ctx, t, "--program", prog.ID, "--period", "2026-11")
	caseOf := func(p *person) string { return apoyo.CaseID(cyc, p.id) }

	g.waitCase(ctx, t, caseOf(rejected), "approval", func(s apoyo.CaseState) bool { return s.Step == apoyo.StepApproval })
	code, out, errOut := runAs(ctx, t, g.as.approver[apoyo.SIBISO], "approve", "--reject", "--reason", "not resident in the city", caseOf(rejected))
	require.Equal(t, 0, code, out+errOut)
	st := g.waitCase(ctx, t, caseOf(rejected), "done", func(s apoyo.CaseState) bool { return s.Step == apoyo.StepDone })
	require.Equal(t, apoyo.OutcomeApprovalRejected, st.Outcome, st.Reason)

	st = g.waitCase(ctx, t, caseOf(expired), "done", func(s apoyo.CaseState) bool { return s.Step == apoyo.StepDone })
	require.Equal(t, apoyo.OutcomeIdentityExpired, st.Outcome, st.Reason)

	g.waitCase(ctx, t, caseOf(failing), "approval", func(s apoyo.CaseState) bool { return s.Step == apoyo.StepApproval })
	g.approveAll(ctx, t, cyc)
	for n, next := range []string{sandbox.CLABE("70000000002"), sandbox.CLABE("70000000003")} {
		g.waitCase(ctx, t, caseOf(failing), fmt.Sprintf("attempt %d returned", n+1), func(s apoyo.CaseState) bool {
			return s.Step == apoyo.StepPayment && s.Status == "waiting" && len(s.Payments) == n+1
		})
		code, out, errOut := runAs(ctx, t, g.as.caseworker, "case", "set-payment-instrument", caseOf(failing), "--method", "spei", "--clabe", next)
		require.Equal(t, 0, code, out+errOut)
	}
	st = g.waitCase(ctx, t, caseOf(failing), "done", func(s apoyo.CaseState) bool { return s.Step == apoyo.StepDone })
	require.Equal(t, apoyo.OutcomePaymentFailed, st.Outcome, st.Reason)
	require.Len(t, st.Payments, 3)
	cst := g.waitCycleClosed(ctx, t, cyc)
	require.Equal(t, 3, cst.Progress.Done)
	bankAudit, err := sandbox.FetchAudit(ctx, nil, g.bankURL, cyc)
	require.NoError(t, err)
	require.Zero(t, bankAudit.NetAmount.IntPart(), "nobody was paid: %s", bankAudit)
	recorded[name("case-approval-rejected")] = caseOf(rejected)
	recorded[name("case-identity-expired")] = caseOf(expired)
	recorded[name("case-payment-failed")] = caseOf(failing)

	// 2. A cycle cancelled while its cases wait on the approvers.
	waiting := withCURP(&person{key: "W", given: "Noemí", first: "Barahona", second: "Pineda", birth: adult, phone: "5511005500", method: "card",
		card: sandbox.CardNumber("5151")})
	other := withCURP(&person{key: "O", given: "Santos", first: "Maldonado", second: "Reyes", birth: adult, phone: "5511006600", method: "cash_pickup"})
	people2 := []*person{waiting, other}
	single := withCURP(&person{key: "S", given: "Itzel", first: "Quintero", second: "Lara", birth: adult, phone: "5511006700", method: "cash_pickup"})
	if shape == 3 {
		people2 = append(people2, single)
	}
	prog2 := g.enrolPeople(ctx, t, "Golden cancel", people2)
	cyc2 := g.launchCycle(ctx, t, "--program", prog2.ID, "--period", "2026-11")
	for _, p := range people2 {
		g.waitCase(ctx, t, apoyo.CaseID(cyc2, p.id), "approval", func(s apoyo.CaseState) bool { return s.Step == apoyo.StepApproval })
	}
	if shape == 3 {
		// A case kept without a workflow, cancelled on its own: it starts
		// with the cancel and ends cancelled, its end recorded.
		code, out, errOut = runAs(ctx, t, g.as.caseworker, "case", "cancel", apoyo.CaseID(cyc2, single.id), "--reason", "moved out of the city")
		require.Equal(t, 0, code, out+errOut)
		st := g.waitCase(ctx, t, apoyo.CaseID(cyc2, single.id), "done", func(s apoyo.CaseState) bool { return s.Step == apoyo.StepDone })
		require.Equal(t, apoyo.OutcomeCancelled, st.Outcome, st.Reason)
		proj, err := cases.NewStore(g.db.Pool).Case(ctx, apoyo.CaseID(cyc2, single.id))
		require.NoError(t, err)
		require.Equal(t, apoyo.OutcomeCancelled, proj.Outcome, "the end is recorded")
		// Both wait without a workflow (kept: see workflows.TellApproved);
		// a per-case vote gives the other one its workflow first.
		code, out, errOut = runAs(ctx, t, g.as.approver[apoyo.STyFE], "approve", apoyo.CaseID(cyc2, other.id))
		require.Equal(t, 0, code, out+errOut)
		g.waitCase(ctx, t, apoyo.CaseID(cyc2, other.id), "STyFE's vote", func(s apoyo.CaseState) bool { return s.Votes[apoyo.STyFE].Approve })
	}
	code, out, errOut = runAs(ctx, t, g.as.manager, "cycle", "cancel", cyc2, "--reason", "programme suspended")
	require.Equal(t, 0, code, out+errOut)
	for _, p := range []*person{waiting, other} {
		st := g.waitCase(ctx, t, apoyo.CaseID(cyc2, p.id), "done", func(s apoyo.CaseState) bool { return s.Step == apoyo.StepDone })
		require.Equal(t, apoyo.OutcomeCancelled, st.Outcome, st.Reason)
	}
	cst = g.waitCycleClosed(ctx, t, cyc2)
	require.Equal(t, len(people2), cst.Progress.Done)
	require.Equal(t, "0", cst.Amounts["committed"].String(), "the cancelled cycle's reservation is released")
	// The cases were told by one batch operation of the server, which
	// reached both.
	raw, err := client.Dial(client.Options{HostPort: g.temporal.Address(), Namespace: "apoyo"})
	require.NoError(t, err)
	defer raw.Close()
	batch, err := raw.WorkflowService().DescribeBatchOperation(ctx, &workflowservice.DescribeBatchOperationRequest{Namespace: "apoyo",
		JobId: activities.CancelBatchJobID(cyc2)})
	require.NoError(t, err, "the cancel went through a batch operation")
	require.Equal(t, enumspb.BATCH_OPERATION_STATE_COMPLETED, batch.GetState())
	if shape == 3 {
		// The kept case was started with the cancel as its first signal
		// (it may have been running still when the batch looked).
		events := history(ctx, t, raw, apoyo.CaseID(cyc2, waiting.id))
		require.Equal(t, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED, events[1].GetEventType())
		require.Equal(t, workflows.SignalCancel, events[1].GetWorkflowExecutionSignaledEventAttributes().GetSignalName())
		require.GreaterOrEqual(t, batch.GetCompleteOperationCount(), int64(1), "the batch reached the case that had a workflow")
	} else {
		require.EqualValues(t, 2, batch.GetCompleteOperationCount(), "the batch reached both waiting cases")
	}
	recorded[name("case-cycle-cancelled")] = apoyo.CaseID(cyc2, waiting.id)
	recorded[name("cycle-cancelled")] = workflows.CycleWorkflowID(cyc2)

	// 3. A cycle that continues as new after every case it starts.
	var many []*person
	for i, given := range []string{"Aurelio", "Brenda", "Cándido"} {
		many = append(many, withCURP(&person{key: fmt.Sprint("M", i), given: given, first: "Galeano", second: "Sosa", birth: adult,
			phone: fmt.Sprintf("55110077%02d", i), method: "cash_pickup"}))
	}
	prog3 := g.enrolPeople(ctx, t, "Golden continue-as-new", many)
	// The command line has no knob for this (a real cycle continues after
	// thousands of starts), so the launch goes through the application
	// layer directly, as the same programme manager.
	kr, err := pii.ParseKeyring(golden.KeyID+":"+golden.Key, golden.KeyID)
	require.NoError(t, err)
	tc, err := worker.Dial(g.temporal.Address(), "apoyo", kr, nil)
	require.NoError(t, err)
	defer tc.Close()
	l := ledger.New(g.db.Pool, ledger.Options{})
	defer l.Close()
	svc := app.New(&app.Service{Temporal: tc, TaskQueue: config.Default().Temporal.TaskQueue, Pool: g.db.Pool, ProgramStore: program.NewStore(g.db.Pool),
		BeneficiaryStore: g.enrol, CaseStore: cases.NewStore(g.db.Pool), Ledger: l, Audit: audit.New(g.db.Pool), Accounts: identity.NewStore(g.db.Pool)})
	manager, err := identity.NewStore(g.db.Pool).Authenticate(ctx, g.as.manager)
	require.NoError(t, err)
	launch3, err := svc.LaunchCycle(ctx, manager, apoyo.LaunchRequest{ProgramID: prog3.ID, Period: "2026-11",
		CycleDate: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), ContinueAfter: 1, Shape: shape})
	require.NoError(t, err)
	cyc3 := launch3.Cycle.ID
	for _, p := range many {
		g.waitCase(ctx, t, apoyo.CaseID(cyc3, p.id), "approval", func(s apoyo.CaseState) bool { return s.Step == apoyo.StepApproval })
	}
	g.approveAll(ctx, t, cyc3)
	for _, p := range many {
		st := g.waitCase(ctx, t, apoyo.CaseID(cyc3, p.id), "done", func(s apoyo.CaseState) bool { return s.Step == apoyo.StepDone })
		require.Equal(t, apoyo.OutcomeCompleted, st.Outcome, st.Reason)
	}
	cst = g.waitCycleClosed(ctx, t, cyc3)
	require.Equal(t, 3, cst.Progress.Done)
	require.GreaterOrEqual(t, cst.Progress.Runs, 2, "the cycle continued as new")

	// Every history replays; the first run of the continued cycle is the
	// one that exercises continue-as-new.
	replayer, err := sdkworker.NewWorkflowReplayerWithOptions(sdkworker.WorkflowReplayerOptions{DataConverter: temporalcodec.NewDataConverter(kr)})
	require.NoError(t, err)
	replayer.RegisterWorkflowWithOptions(workflows.BeneficiaryCase, workflow.RegisterOptions{Name: workflows.BeneficiaryWorkflowName})
	replayer.RegisterWorkflowWithOptions(workflows.PaymentCycle, workflow.RegisterOptions{Name: workflows.CycleWorkflowName})
	replayer.RegisterWorkflowWithOptions(workflows.BeneficiaryCase3, workflow.RegisterOptions{Name: workflows.Case3WorkflowName})
	replayer.RegisterWorkflowWithOptions(workflows.PaymentCycle3, workflow.RegisterOptions{Name: workflows.Cycle3WorkflowName})
	histories := map[string][]*historypb.HistoryEvent{}
	for name, id := range recorded {
		histories[name] = history(ctx, t, raw, id)
	}
	for _, ex := range executions(ctx, t, raw) {
		if ex.GetWorkflowId() != workflows.CycleWorkflowID(cyc3) {
			continue
		}
		events := historyOfRun(ctx, t, raw, ex.GetWorkflowId(), ex.GetRunId())
		if events[len(events)-1].GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW &&
			events[0].GetWorkflowExecutionStartedEventAttributes().GetContinuedExecutionRunId() == "" {
			histories[name("cycle-continued-as-new")] = events
		}
	}
	require.Len(t, histories, 6)
	for name, events := range histories {
		h := &historypb.History{Events: events}
		last := events[len(events)-1].GetEventType()
		require.Contains(t, []enumspb.EventType{enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW}, last,
			"%s ends with %s", name, last)
		require.NoError(t, replayer.ReplayWorkflowHistory(nil, h), "replaying %s", name)
		if os.Getenv("APOYO_UPDATE_GOLDEN") != "" {
			b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(h)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join("..", "..", "workflows", "testdata", name+".json"), b, 0o644))
		}
	}
}
