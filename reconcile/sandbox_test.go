package reconcile_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/activities"
	"github.com/apoyo-cdmx/apoyo/bank/sandbox"
	"github.com/apoyo-cdmx/apoyo/mxid"
	"github.com/apoyo-cdmx/apoyo/payment/httpprovider"
	"github.com/apoyo-cdmx/apoyo/program"
	"github.com/apoyo-cdmx/apoyo/workflows"
)

// TestSandboxStatementsAfterRealDisburse pays five people with the real
// Disburse activity against the sandbox bank over HTTP, then reconciles
// the statements the bank serves: the first day matches everything the
// worker booked and posts nothing (the requests are the worker's own), the
// second day's return after settlement is booked once and raises the task.
func TestSandboxStatementsAfterRealDisburse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)

	bank := sandbox.New(sandbox.Config{Now: func() time.Time { return monday10 }, SettleDelay: sandbox.Immediately,
		ReturnDelay: time.Hour, AutoCollect: true})
	t.Cleanup(func() { _ = bank.Close() })
	srv := httptest.NewServer(bank.Handler())
	t.Cleanup(srv.Close)

	enrol := f.w.Enrol

	r := rand.New(rand.NewPCG(3, 5))
	birth := time.Date(1990, 5, 17, 0, 0, 0, 0, time.UTC)
	people := []struct{ given, method, clabe, card, want string }{
		{"Marisol", "spei", sandbox.CLABE("4521"), "", "settled"},
		{"Josué", "spei", sandbox.CLABE("13"), "", "settled"}, // returned a day later, cause 13
		{"Yesenia", "spei", sandbox.CLABE("1"), "", "returned"},
		{"Wilmer", "card", "", sandbox.CardNumber("4242"), "settled"},
		{"Kevin", "cash_pickup", "", "", "collected"},
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	require.NoError(t, w.Write([]string{"given_names", "first_surname", "second_surname", "birth_date", "sex", "nationality", "population_group",
		"alcaldia", "household_size", "phone", "email", "curp", "id_document_type", "id_document_number", "payment_method", "clabe", "card_number",
		"needs", "consent"}))
	for _, p := range people {
		require.NoError(t, w.Write([]string{p.given, "Pérez", "López", birth.Format("2006-01-02"), "M", "HND", "asylum_seeker", "Iztapalapa", "2",
			"5512345678", "", mxid.GenerateCURP(r, birth, "M", "NE"), "", "", p.method, p.clabe, p.card, "", "yes"}))
	}
	w.Flush()
	rep, err := enrol.Import(ctx, f.prog.ID, &buf, apoyo.ImportOptions{Now: func() time.Time { return monday10 }})
	require.NoError(t, err)
	require.Equal(t, len(people), rep.Accepted, "%+v", rep.Errors)
	ids, err := enrol.ListIDs(ctx, f.prog.ID, "", 100)
	require.NoError(t, err)

	acts := &activities.Activities{Programs: f.progs, Beneficiaries: enrol, Cases: f.cs, Ledger: f.l,
		Payments: httpprovider.NewClient(srv.URL, srv.Client()), PollInterval: 5 * time.Millisecond}
	byName := map[string]string{}
	for _, id := range ids {
		b, err := enrol.Get(ctx, id)
		require.NoError(t, err)
		byName[b.Record.GivenNames] = id
		require.NoError(t, f.cs.Save(ctx, apoyo.Case{ProgramID: f.prog.ID, CycleID: f.cycle.ID, BeneficiaryID: id,
			Step: apoyo.StepPayment, Status: "running", Version: 1}))
	}
	for _, p := range people {
		res, err := acts.Disburse(ctx, workflows.DisburseInput{ProgramID: f.prog.ID, CycleID: f.cycle.ID, BeneficiaryID: byName[p.given],
			Amount: benefit, Attempt: 1, Version: 2})
		require.NoError(t, err)
		require.Equal(t, p.want, string(res.State), p.given)
	}
	josue := activities.OrderID(f.cycle.ID, byName["Josué"], 1)

	fetch := func(date string) string {
		resp, err := http.Get(srv.URL + "/v1/statements/" + date + ".csv")
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		data, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return string(data)
	}
	monday := fetch(day1)

	before := f.transactions(t)
	got := f.reconcile(t, day1+".csv", monday)
	require.Equal(t, 6, got.Lines, "four settled, one refused with its return line")
	require.Equal(t, map[apoyo.FindingClass]int{apoyo.FindingMatched: 6}, counts(got))
	require.Zero(t, got.Posted, "the worker booked everything, with the same requests")
	require.Equal(t, before, f.transactions(t))

	// A day later the cause-13 return arrives.
	_, err = bank.Advance(24 * time.Hour)
	require.NoError(t, err)
	tuesday := fetch(day2)
	got = f.reconcile(t, day2+".csv", tuesday)
	require.Equal(t, 1, got.Lines)
	require.Equal(t, map[apoyo.FindingClass]int{apoyo.FindingReturnedAfterSettlement: 1}, counts(got))
	require.Equal(t, 1, got.Posted, "the late return")
	require.True(t, got.OK())
	require.Equal(t, josue, got.Problems[apoyo.FindingReturnedAfterSettlement][0].OrderID)
	p := f.payment(t, josue)
	require.Equal(t, apoyo.PaymentState("returned"), p.State)
	require.Equal(t, 13, p.ReturnCause)
	require.Equal(t, day1, p.OperationDate, "the order's operation date stays the settlement's")
	tasks, err := f.cs.OpenTasks(ctx, f.cycle.ID, 0)
	require.NoError(t, err)
	require.Len(t, tasks, 1)
	require.Equal(t, apoyo.CaseID(f.cycle.ID, byName["Josué"]), tasks[0].CaseID)
	require.Equal(t, apoyo.TaskReturnedAfterSettlement, tasks[0].Kind)

	// Both days again: nothing new.
	before = f.transactions(t)
	again := f.reconcile(t, day2+".csv", tuesday)
	require.Zero(t, again.Posted)
	require.True(t, again.SeenBefore)
	again = f.reconcile(t, day1+".csv", monday)
	require.Zero(t, again.Posted)
	require.Equal(t, map[apoyo.FindingClass]int{apoyo.FindingMatched: 6}, counts(again))
	require.Equal(t, before, f.transactions(t))

	// Three paid (SPEI, card, cash), two back (refused, returned late).
	require.Equal(t, "16800.00", f.balance(t, program.CyclePaid))
	require.Equal(t, "11200.00", f.balance(t, program.CycleReturned))
	require.Equal(t, "0.00", f.balance(t, program.CycleInTransit))
	f.verify(t)
}
