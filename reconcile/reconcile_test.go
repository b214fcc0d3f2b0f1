package reconcile_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/ledger"
	"github.com/apoyo-cdmx/apoyo/payment"
	"github.com/apoyo-cdmx/apoyo/program"
)

// TestAllMatchedPostsOnceThenNothing: orders the worker has not booked yet
// are booked from the statement with the worker's own requests; a second
// run of the same file is recognised and posts nothing; the worker's late
// request is answered with reconciliation's transaction.
func TestAllMatchedPostsOnceThenNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	a := f.inTransit(t, apoyo.RailSPEI)
	b := f.inTransit(t, apoyo.RailSPEI)
	c := f.inTransit(t, apoyo.RailSPEI)
	f.workerSettled(t, c) // the worker saw this one
	d := f.inTransit(t, apoyo.RailCard)
	csv := statement(t, orderLine(a, day1, "LQ"), orderLine(b, day1, "LQ"), orderLine(c, day1, "LQ"), orderLine(d, day1, "CN"))

	before := f.transactions(t)
	rep := f.reconcile(t, "2025-03-10.csv", csv)
	require.Equal(t, map[apoyo.FindingClass]int{apoyo.FindingMatched: 4}, counts(rep))
	require.Equal(t, 3, rep.Posted, "settle a, settle b, return d")
	require.Equal(t, before+3, f.transactions(t))
	require.Zero(t, rep.Unmatched)
	require.True(t, rep.OK())
	require.Equal(t, []string{day1}, rep.OperationDates)
	require.Equal(t, 4, rep.Lines)
	require.False(t, rep.SeenBefore)
	for c, ps := range rep.Problems {
		require.Empty(t, ps, c)
	}
	require.Equal(t, apoyo.PaymentState("settled"), f.payment(t, a.OrderID).State)
	require.Equal(t, day1, f.payment(t, a.OrderID).OperationDate)
	require.Equal(t, apoyo.PaymentState("settled"), f.payment(t, b.OrderID).State)
	require.Equal(t, apoyo.PaymentState("rejected"), f.payment(t, d.OrderID).State, "a card load the issuer refused shows CN")
	require.Equal(t, "16800.00", f.balance(t, program.CyclePaid))
	require.Equal(t, "5600.00", f.balance(t, program.CycleReturned))
	require.Equal(t, "0.00", f.balance(t, program.CycleInTransit))
	f.verify(t)

	again := f.reconcile(t, "copy-of-2025-03-10.csv", csv)
	require.Zero(t, again.Posted, "the same statement twice posts nothing")
	require.Equal(t, rep.Counts, again.Counts)
	require.True(t, again.SeenBefore)
	require.Equal(t, []int64{rep.ImportID}, again.PreviousImports)
	require.Equal(t, rep.SHA256, again.SHA256)
	require.Equal(t, before+3, f.transactions(t))

	// The worker, seeing the settlement after us, sends its own request and
	// gets ours back: same key, same content.
	r := ledger.Transfer(fmt.Sprintf("settle:%s:%s:1", a.CycleID, a.BeneficiaryID), f.account(program.CyclePaid), f.account(program.CycleInTransit),
		f.fund, benefit, "payment settled")
	r.Metadata = f.meta(a.BeneficiaryID)
	tx, err := f.l.Post(ctx, r)
	require.NoError(t, err)
	require.True(t, tx.Replayed)
	r = ledger.Transfer(fmt.Sprintf("return:%s:%s:1", d.CycleID, d.BeneficiaryID), f.account(program.CycleReturned), f.account(program.CycleInTransit),
		f.fund, benefit, "payment rejected")
	r.Metadata = f.meta(d.BeneficiaryID)
	tx, err = f.l.Post(ctx, r)
	require.NoError(t, err)
	require.True(t, tx.Replayed)

	// The audit trail has both runs, with one row per line.
	var runs, lines int
	require.NoError(t, f.db.Pool.QueryRow(ctx, "SELECT count(*) FROM statement_imports WHERE status = 'completed'").Scan(&runs))
	require.NoError(t, f.db.Pool.QueryRow(ctx, "SELECT count(*) FROM statement_lines").Scan(&lines))
	require.Equal(t, 2, runs)
	require.Equal(t, 8, lines)
	var posted []int
	rows, err := f.db.Pool.Query(ctx, "SELECT posted FROM statement_imports ORDER BY id")
	require.NoError(t, err)
	for rows.Next() {
		var n int
		require.NoError(t, rows.Scan(&n))
		posted = append(posted, n)
	}
	require.Equal(t, []int{3, 0}, posted)
}

func TestAmountMismatchPostsNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.inTransit(t, apoyo.RailSPEI)
	l := orderLine(a, day1, "LQ")
	l.Amount = decimal.NewFromInt(5599)
	before := f.transactions(t)
	rep := f.reconcile(t, "s.csv", statement(t, l))
	require.Equal(t, map[apoyo.FindingClass]int{apoyo.FindingAmountMismatch: 1}, counts(rep))
	require.Equal(t, 1, rep.Unmatched)
	require.Zero(t, rep.Posted)
	require.Equal(t, before, f.transactions(t))
	p := rep.Problems[apoyo.FindingAmountMismatch][0]
	require.Equal(t, 2, p.Line)
	require.Equal(t, a.TrackingKey, p.TrackingKey)
	require.Equal(t, a.OrderID, p.OrderID)
	require.Equal(t, "5599.00", p.Amount)
	require.Equal(t, "5600.00", p.ExpectedAmount)
	require.Equal(t, apoyo.PaymentState("pending"), f.payment(t, a.OrderID).State)
}

func TestMissingFromStatement(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.inTransit(t, apoyo.RailSPEI)
	b := f.inTransit(t, apoyo.RailSPEI)
	f.workerSettled(t, a)
	f.workerSettled(t, b)
	f.inTransit(t, apoyo.RailSPEI) // still pending: no operation date, not expected on any statement
	rep := f.reconcile(t, "s.csv", statement(t, orderLine(a, day1, "LQ")))
	require.Equal(t, map[apoyo.FindingClass]int{apoyo.FindingMatched: 1, apoyo.FindingMissingFromStatement: 1}, counts(rep))
	require.Equal(t, 1, rep.Unmatched)
	m := rep.Problems[apoyo.FindingMissingFromStatement][0]
	require.Equal(t, b.OrderID, m.OrderID)
	require.Equal(t, b.TrackingKey, m.TrackingKey)
	require.Equal(t, "settled", m.State)
	require.Equal(t, day1, m.OperationDate)
	require.Zero(t, m.Line)

	// Another day's statement does not expect it.
	rep = f.reconcile(t, "s2.csv", statement(t, orderLine(a, day2, "LQ")))
	require.Zero(t, rep.Counts[apoyo.FindingMissingFromStatement])
}

func TestUnknownInStatement(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.inTransit(t, apoyo.RailSPEI)
	stranger := orderLine(a, day1, "LQ")
	stranger.TrackingKey, stranger.OrderID = "APOYOZZZZZZZZZZZZZZZZZZZZZZZZZ", "pay_someone_else_1"
	wrongOrder := orderLine(a, day1, "LQ")
	wrongOrder.OrderID = "pay_other_order_1"
	before := f.transactions(t)
	rep := f.reconcile(t, "s.csv", statement(t, stranger, wrongOrder))
	require.Equal(t, map[apoyo.FindingClass]int{apoyo.FindingUnknownInStatement: 2}, counts(rep))
	require.Equal(t, 2, rep.Unmatched)
	require.Equal(t, before, f.transactions(t))
	u := rep.Problems[apoyo.FindingUnknownInStatement]
	require.Equal(t, "APOYOZZZZZZZZZZZZZZZZZZZZZZZZZ", u[0].TrackingKey)
	require.Equal(t, 2, u[0].Line)
	require.Contains(t, u[1].Message, a.OrderID)
	require.Equal(t, 3, u[1].Line)
}

func TestDuplicateLine(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.inTransit(t, apoyo.RailSPEI)
	rep := f.reconcile(t, "s.csv", statement(t, orderLine(a, day1, "LQ"), orderLine(a, day1, "LQ")))
	require.Equal(t, map[apoyo.FindingClass]int{apoyo.FindingMatched: 1, apoyo.FindingDuplicate: 1}, counts(rep))
	require.Equal(t, 1, rep.Unmatched)
	require.Equal(t, 1, rep.Posted, "the settlement is booked once")
	dup := rep.Problems[apoyo.FindingDuplicate][0]
	require.Equal(t, 3, dup.Line)
	require.Contains(t, dup.Message, "line 2")
	require.Equal(t, "5600.00", f.balance(t, program.CyclePaid))
	f.verify(t)
}

// TestReturnAfterSettlement covers a SPEI transfer that settled and came
// back days later (cause 13), in the three ways it can reach
// reconciliation.
func TestReturnAfterSettlement(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	booked := f.inTransit(t, apoyo.RailSPEI) // the worker booked the settlement
	f.workerSettled(t, booked)
	unseen := f.inTransit(t, apoyo.RailSPEI) // nobody booked anything; the file has both days
	late := f.inTransit(t, apoyo.RailSPEI)   // nobody booked anything; only the return is on file
	returnedAt := monday10.Add(24 * time.Hour)
	csv := statement(t,
		orderLine(booked, day1, "LQ"),
		orderLine(unseen, day1, "LQ"),
		returnLine(booked, day2, 13, monday10, returnedAt),
		returnLine(unseen, day2, 13, monday10, returnedAt),
		returnLine(late, day2, 13, monday10, returnedAt),
	)
	before := f.transactions(t)
	rep := f.reconcile(t, "s.csv", csv)
	require.Equal(t, map[apoyo.FindingClass]int{apoyo.FindingMatched: 2, apoyo.FindingReturnedAfterSettlement: 3}, counts(rep))
	require.Zero(t, rep.Unmatched, "a return after settlement is handled, not a problem")
	// booked: late-return; unseen: settle + late-return; late: return.
	require.Equal(t, 4, rep.Posted)
	require.Equal(t, before+4, f.transactions(t))
	for _, p := range []string{booked.OrderID, unseen.OrderID, late.OrderID} {
		got := f.payment(t, p)
		require.Equal(t, apoyo.PaymentState("returned"), got.State, p)
		require.Equal(t, 13, got.ReturnCause, p)
	}
	lr, err := f.l.TransactionByKey(ctx, fmt.Sprintf("late-return:%s:%s:1", booked.CycleID, booked.BeneficiaryID))
	require.NoError(t, err)
	require.Equal(t, []string{
		"debit " + f.account(program.CycleReturned) + " " + f.fund + " 5600.00",
		"credit " + f.account(program.CyclePaid) + " " + f.fund + " 5600.00",
	}, postings(lr))
	require.Equal(t, "0.00", f.balance(t, program.CyclePaid))
	require.Equal(t, "16800.00", f.balance(t, program.CycleReturned))
	require.Equal(t, "0.00", f.balance(t, program.CycleInTransit))
	f.verify(t)

	// A caseworker task on the two cases whose payment had been booked as
	// paid; the third case's own workflow asks for a new instrument when
	// its worker sees the return.
	tasks, err := f.cs.OpenTasks(ctx, f.cycle.ID, 0)
	require.NoError(t, err)
	var got []string
	for _, tk := range tasks {
		require.Equal(t, apoyo.TaskReturnedAfterSettlement, tk.Kind)
		require.Contains(t, tk.Detail, "cause 13")
		got = append(got, tk.CaseID)
	}
	require.ElementsMatch(t, []string{booked.CaseID, unseen.CaseID}, got)

	// Again: nothing new, same classes, no second task even after the
	// caseworker closed the first.
	require.NoError(t, f.cs.ResolveTasks(ctx, booked.CaseID, apoyo.TaskReturnedAfterSettlement))
	again := f.reconcile(t, "s.csv", csv)
	require.Zero(t, again.Posted)
	require.Equal(t, rep.Counts, again.Counts)
	tasks, err = f.cs.OpenTasks(ctx, f.cycle.ID, 0)
	require.NoError(t, err)
	require.Len(t, tasks, 1)
	require.Equal(t, unseen.CaseID, tasks[0].CaseID)

	// Reconciling the first day again does not undo the return.
	rep = f.reconcile(t, "day1.csv", statement(t, orderLine(booked, day1, "LQ"), orderLine(unseen, day1, "LQ")))
	require.Equal(t, map[apoyo.FindingClass]int{apoyo.FindingMatched: 2}, counts(rep))
	require.Zero(t, rep.Posted)
	require.Equal(t, apoyo.PaymentState("returned"), f.payment(t, booked.OrderID).State)
	f.verify(t)
}

func postings(t ledger.Transaction) []string {
	var out []string
	for _, p := range t.Postings {
		out = append(out, fmt.Sprintf("%s %s %s %s", p.Direction, p.Account, p.Fund, p.Amount.StringFixed(2)))
	}
	return out
}

// TestStateMismatch: the bank and the ledger disagree about what happened.
func TestStateMismatch(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cancelled := f.inTransit(t, apoyo.RailSPEI)
	f.workerUnpaid(t, cancelled, "cancelled", 0)
	settled := f.inTransit(t, apoyo.RailSPEI)
	f.workerSettled(t, settled)
	before := f.transactions(t)
	rep := f.reconcile(t, "s.csv", statement(t, orderLine(cancelled, day1, "LQ"), orderLine(settled, day1, "D")))
	require.Equal(t, map[apoyo.FindingClass]int{apoyo.FindingStateMismatch: 2}, counts(rep))
	require.Equal(t, 2, rep.Unmatched)
	require.Zero(t, rep.Posted)
	require.Equal(t, before, f.transactions(t))
	require.Equal(t, apoyo.PaymentState("cancelled"), f.payment(t, cancelled.OrderID).State)
	require.Equal(t, apoyo.PaymentState("settled"), f.payment(t, settled.OrderID).State)
	f.verify(t)
}

// TestBadStatementPostsNothing: a statement that does not parse is refused
// as a whole, with its row and field, even when good lines come first.
func TestBadStatementPostsNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.inTransit(t, apoyo.RailSPEI)
	b := f.inTransit(t, apoyo.RailSPEI)
	good := statement(t, orderLine(a, day1, "LQ"), orderLine(b, day1, "LQ"))
	goodLines := strings.SplitAfter(good, "\n")
	header, lineA, lineB := goodLines[0], goodLines[1], goodLines[2]
	lastFields := strings.Split(strings.TrimSuffix(lineB, "\n"), ",")
	// A return line ends in a timestamp (returned_at): a file cut inside
	// it still has every field.
	ret := strings.TrimSuffix(strings.SplitAfter(statement(t, returnLine(b, day1, 1, time.Time{}, monday10)), "\n")[1], "\n")

	cases := []struct {
		name, csv, field string
		row              int
	}{
		{"wrong header", strings.Replace(header, "tracking_key", "clave_rastreo", 1) + lineA + lineB, "tracking_key", 1},
		{"bad amount", header + lineA + strings.Replace(lineB, ",5600.00,", ",56O0.00,", 1), "amount", 3},
		{"negative amount", header + lineA + strings.Replace(lineB, ",5600.00,", ",-5600.00,", 1), "amount", 3},
		{"three decimals", header + lineA + strings.Replace(lineB, ",5600.00,", ",5600.001,", 1), "amount", 3},
		{"bad date", header + lineA + strings.Replace(lineB, day1, "2025-02-30", 1), "operation_date", 3},
		{"bad state", header + lineA + strings.Replace(lineB, ",LQ,", ",XX,", 1), "state", 3},
		{"truncated", header + lineA + strings.Join(lastFields[:5], ","), "return_tracking_key", 3},
		{"truncated in the last timestamp", header + lineA + ret[:len(ret)-6], "returned_at", 3},
		{"empty", "", "", 1},
	}
	before := f.transactions(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.rec.Reconcile(context.Background(), tc.name, strings.NewReader(tc.csv))
			require.Error(t, err)
			require.ErrorIs(t, err, payment.ErrBadStatement)
			require.Equal(t, apoyo.EINVALID, apoyo.ErrorCodeOf(err))
			var e *apoyo.Error
			require.True(t, errors.As(err, &e))
			require.Equal(t, tc.row, e.Row, err.Error())
			require.Equal(t, tc.field, e.Field, err.Error())
			require.Contains(t, err.Error(), fmt.Sprintf("row %d", tc.row))
		})
	}
	require.Equal(t, before, f.transactions(t), "nothing is posted from a file that does not parse")
	require.Equal(t, apoyo.PaymentState("pending"), f.payment(t, a.OrderID).State)
	var failed int
	require.NoError(t, f.db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM statement_imports WHERE status = 'failed'").Scan(&failed))
	require.Equal(t, len(cases), failed, "refused files are in the audit trail")

	// The good file itself goes through.
	rep := f.reconcile(t, "good.csv", good)
	require.Equal(t, 2, rep.Posted)
}

// TestReportJSON pins the JSON shape the CLI prints.
func TestReportJSON(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.inTransit(t, apoyo.RailSPEI)
	l := orderLine(a, day1, "LQ")
	l.TrackingKey = "APOYOUNKNOWN"
	rep := f.reconcile(t, "s.csv", statement(t, l))
	data, err := json.Marshal(rep)
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(data, &got))
	for _, k := range []string{"statement", "operation_dates", "lines", "counts", "posted", "unmatched", "problems"} {
		require.Contains(t, got, k)
	}
	cs := got["counts"].(map[string]any)
	for _, c := range apoyo.FindingClasses {
		require.Contains(t, cs, string(c))
	}
	probs := got["problems"].(map[string]any)
	require.NotContains(t, probs, "matched")
	u := probs["unknown_in_statement"].([]any)[0].(map[string]any)
	require.Equal(t, float64(2), u["line"])
	require.Equal(t, "APOYOUNKNOWN", u["tracking_key"])
	require.Equal(t, "5600.00", u["amount"])
	require.NotEmpty(t, u["message"])
}
