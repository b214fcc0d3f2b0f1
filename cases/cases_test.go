package cases_test

import (
	"context"
	"errors"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/cases"
	"github.com/apoyo-cdmx/apoyo/internal/pgtest"
	"github.com/apoyo-cdmx/apoyo/internal/testfactory"
	"github.com/apoyo-cdmx/apoyo/program"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var cycleDate = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

type env struct {
	ctx   context.Context
	w     *testfactory.World
	pool  *pgxpool.Pool
	store *cases.Store
	prog  string
	bens  []string // beneficiary ids, sorted
}

// setup gives a test a database with one programme and n enrolled people
// (the cases and payments tables reference both).
func setup(t *testing.T, n int) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	w := testfactory.New(t, pgtest.New(t))
	e := &env{ctx: ctx, w: w, pool: w.Pool, store: w.Cases, prog: w.Program(t, nil).ID}
	if n > 0 {
		e.bens = w.People(t, e.prog, &testfactory.PeopleOpts{N: n})
	}
	return e
}

func (e *env) cycle(t *testing.T, name string) apoyo.Cycle {
	t.Helper()
	return e.w.Cycle(t, e.prog, &testfactory.CycleOpts{Name: name, CycleDate: cycleDate})
}

func TestCreateCycleTwiceGivesOneCycle(t *testing.T) {
	e := setup(t, 0)
	alloc := []apoyo.FundAllocation{{Fund: program.LedgerFund(e.prog, "city"), Cases: 3}}
	in := apoyo.Cycle{ProgramID: e.prog, Name: "2026-11", Period: "2026-11", CycleDate: cycleDate, RosterSize: 3,
		Amount: decimal.RequireFromString("5600.00"), Allocation: alloc}
	c1, created, err := e.store.CreateCycle(e.ctx, in)
	require.NoError(t, err)
	require.True(t, created)
	require.Regexp(t, `^cyc_[a-z0-9]+$`, c1.ID)
	require.Equal(t, apoyo.CycleStatus("running"), c1.Status)
	require.Equal(t, 3, c1.RosterSize)
	require.True(t, in.Amount.Equal(c1.Amount))
	require.Equal(t, alloc, c1.Allocation)
	require.True(t, cycleDate.Equal(c1.CycleDate))

	// Launching again, even with other numbers: the first cycle as it is.
	in.RosterSize = 9
	c2, created, err := e.store.CreateCycle(e.ctx, in)
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, c1.ID, c2.ID)
	require.Equal(t, 3, c2.RosterSize)

	other, created, err := e.store.CreateCycle(e.ctx, apoyo.Cycle{ProgramID: e.prog, Name: "2026-12", CycleDate: cycleDate})
	require.NoError(t, err)
	require.True(t, created)
	require.NotEqual(t, c1.ID, other.ID)
	require.Nil(t, other.Allocation)
	require.True(t, other.Amount.IsZero())

	byName, err := e.store.CycleByName(e.ctx, e.prog, "2026-11")
	require.NoError(t, err)
	require.Equal(t, c1.ID, byName.ID)
	require.NoError(t, e.store.SetCycleStatus(e.ctx, c1.ID, "cancelled"))
	got, err := e.store.Cycle(e.ctx, c1.ID)
	require.NoError(t, err)
	require.Equal(t, apoyo.CycleStatus("cancelled"), got.Status)

	_, err = e.store.Cycle(e.ctx, "cyc_nonexistent")
	require.ErrorIs(t, err, cases.ErrCycleNotFound)
	_, err = e.store.CycleByName(e.ctx, e.prog, "nope")
	require.ErrorIs(t, err, cases.ErrCycleNotFound)
}

func TestSaveNeverGoesBack(t *testing.T) {
	e := setup(t, 1)
	c := e.cycle(t, "c1")
	b := e.bens[0]
	id := apoyo.CaseID(c.ID, b)
	save := func(p apoyo.Case) {
		t.Helper()
		p.ProgramID, p.CycleID, p.BeneficiaryID = e.prog, c.ID, b
		require.NoError(t, e.store.Save(e.ctx, p))
	}
	get := func() apoyo.Case {
		t.Helper()
		p, err := e.store.Case(e.ctx, id)
		require.NoError(t, err)
		return p
	}

	st := &apoyo.CaseState{CaseID: id, Version: 5, Step: apoyo.StepApproval, Status: "waiting", Timeline: []apoyo.Event{}}
	save(apoyo.Case{Version: 5, Step: apoyo.StepApproval, Status: "waiting", WaitingOn: []string{"STyFE", "SEDESA"}, State: st})
	p := get()
	require.Equal(t, id, p.CaseID)
	require.Equal(t, int64(5), p.Version)
	require.Equal(t, apoyo.StepApproval, p.Step)
	require.Equal(t, []string{"STyFE", "SEDESA"}, p.WaitingOn)
	require.NotNil(t, p.State)
	require.Equal(t, int64(5), p.State.Version)

	// A late write of an older version changes nothing.
	save(apoyo.Case{Version: 3, Step: apoyo.StepIdentity, Status: "waiting", WaitingOn: []string{"caseworker"}})
	p = get()
	require.Equal(t, int64(5), p.Version)
	require.Equal(t, apoyo.StepApproval, p.Step)
	require.Equal(t, []string{"STyFE", "SEDESA"}, p.WaitingOn)

	// The same version again (an activity retry) applies; a write without
	// state keeps the stored state.
	save(apoyo.Case{Version: 5, Step: apoyo.StepApproval, Status: "waiting", WaitingOn: []string{"STyFE"}, Overdue: true})
	p = get()
	require.Equal(t, []string{"STyFE"}, p.WaitingOn)
	require.True(t, p.Overdue)
	require.NotNil(t, p.State)

	// Newer wins.
	save(apoyo.Case{Version: 8, Step: apoyo.StepDone, Status: "done", Outcome: apoyo.OutcomeCompleted, Reason: "paid"})
	p = get()
	require.Equal(t, int64(8), p.Version)
	require.Equal(t, apoyo.StepDone, p.Step)
	require.Equal(t, apoyo.OutcomeCompleted, p.Outcome)
	require.Empty(t, p.WaitingOn)
	require.False(t, p.Overdue)

	save(apoyo.Case{Version: 7, Step: apoyo.StepPayment, Status: "running"})
	require.Equal(t, apoyo.StepDone, get().Step)

	_, err := e.store.Case(e.ctx, "case/none/none")
	require.ErrorIs(t, err, cases.ErrCaseNotFound)
}

func TestFromState(t *testing.T) {
	st := apoyo.CaseState{CaseID: "case/c/b", Version: 4, Step: apoyo.StepPayment, Status: "waiting", WaitingOn: []string{"caseworker"},
		Overdue: true, Outcome: "", Reason: "returned"}
	p := apoyo.CaseOf("prg", "c", "b", st)
	require.Equal(t, apoyo.CaseID("c", "b"), p.CaseID)
	require.Equal(t, int64(4), p.Version)
	require.Equal(t, apoyo.StepPayment, p.Step)
	require.True(t, p.Overdue)
	require.Equal(t, &st, p.State)
}

func TestRaiseTaskIdempotentWhileOpen(t *testing.T) {
	e := setup(t, 2)
	c := e.cycle(t, "c1")
	ids := make([]string, 2)
	for i, b := range e.bens {
		ids[i] = apoyo.CaseID(c.ID, b)
		require.NoError(t, e.store.Save(e.ctx, apoyo.Case{ProgramID: e.prog, CycleID: c.ID, BeneficiaryID: b, Version: 1,
			Step: apoyo.StepIdentity, Status: "waiting"}))
	}
	open := func() []apoyo.Task {
		t.Helper()
		ts, err := e.store.OpenTasks(e.ctx, c.ID, 0)
		require.NoError(t, err)
		return ts
	}

	require.NoError(t, e.store.RaiseTask(e.ctx, ids[0], "identity_review", "TVRH"))
	require.NoError(t, e.store.RaiseTask(e.ctx, ids[0], "identity_review", "TVRH, again"))
	ts := open()
	require.Len(t, ts, 1)
	require.Equal(t, "TVRH", ts[0].Detail, "the open task is left as it is")
	first := ts[0].ID

	// Another kind, another case: separate tasks.
	require.NoError(t, e.store.RaiseTask(e.ctx, ids[0], "approval_overdue", ""))
	require.NoError(t, e.store.RaiseTask(e.ctx, ids[1], "identity_review", ""))
	require.Len(t, open(), 3)

	// Resolved, it can be raised anew.
	require.NoError(t, e.store.ResolveTasks(e.ctx, ids[0], "identity_review"))
	require.NoError(t, e.store.ResolveTasks(e.ctx, ids[0], "identity_review"))
	require.Len(t, open(), 2)
	require.NoError(t, e.store.RaiseTask(e.ctx, ids[0], "identity_review", "new document"))
	ts = open()
	require.Len(t, ts, 3)
	for _, tk := range ts {
		if tk.CaseID == ids[0] && tk.Kind == "identity_review" {
			require.NotEqual(t, first, tk.ID)
			require.Equal(t, "new document", tk.Detail)
		}
	}
	// OpenTasks of another cycle sees none; of all cycles sees them.
	other := e.cycle(t, "c2")
	ts, err := e.store.OpenTasks(e.ctx, other.ID, 0)
	require.NoError(t, err)
	require.Empty(t, ts)
	ts, err = e.store.OpenTasks(e.ctx, "", 2)
	require.NoError(t, err)
	require.Len(t, ts, 2)
}

func TestListCasesAndCounts(t *testing.T) {
	e := setup(t, 6)
	c := e.cycle(t, "c1")
	other := e.cycle(t, "c2")
	type row struct {
		step    apoyo.Step
		status  string
		waiting []string
		overdue bool
		outcome apoyo.Outcome
	}
	rows := []row{
		{apoyo.StepIdentity, "waiting", []string{"caseworker"}, false, ""},
		{apoyo.StepApproval, "waiting", []string{"STyFE", "SIBISO"}, true, ""},
		{apoyo.StepApproval, "waiting", []string{"SIBISO"}, false, ""},
		{apoyo.StepPayment, "waiting", []string{"caseworker"}, true, ""},
		{apoyo.StepDone, "done", nil, false, apoyo.OutcomeCompleted},
		{apoyo.StepDone, "done", nil, false, apoyo.OutcomeIneligible},
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = apoyo.CaseID(c.ID, e.bens[i])
		require.NoError(t, e.store.Save(e.ctx, apoyo.Case{ProgramID: e.prog, CycleID: c.ID, BeneficiaryID: e.bens[i], Version: 1,
			Step: r.step, Status: apoyo.CaseStatus(r.status), WaitingOn: r.waiting, Overdue: r.overdue, Outcome: r.outcome}))
	}
	// One case of another cycle, to be filtered out.
	require.NoError(t, e.store.Save(e.ctx, apoyo.Case{ProgramID: e.prog, CycleID: other.ID, BeneficiaryID: e.bens[0], Version: 1,
		Step: apoyo.StepApproval, Status: "waiting", WaitingOn: []string{"SIBISO"}, Overdue: true}))

	list := func(f apoyo.CaseFilter) []string {
		t.Helper()
		ps, err := e.store.ListCases(e.ctx, f)
		require.NoError(t, err)
		out := make([]string, len(ps))
		for i, p := range ps {
			require.Nil(t, p.State, "ListCases leaves the full state out")
			out[i] = p.CaseID
		}
		return out
	}
	sorted := func(s ...string) []string {
		s = append([]string(nil), s...)
		sort.Strings(s)
		return s
	}

	require.Equal(t, sorted(ids...), list(apoyo.CaseFilter{CycleID: c.ID}))
	require.Len(t, list(apoyo.CaseFilter{}), 7)
	require.Equal(t, sorted(ids[1], ids[2]), list(apoyo.CaseFilter{CycleID: c.ID, WaitingOn: "SIBISO"}))
	require.Equal(t, sorted(ids[1], ids[2], apoyo.CaseID(other.ID, e.bens[0])), list(apoyo.CaseFilter{WaitingOn: "SIBISO"}))
	require.Equal(t, sorted(ids[0], ids[3]), list(apoyo.CaseFilter{CycleID: c.ID, WaitingOn: "caseworker"}))
	require.Equal(t, sorted(ids[1], ids[3]), list(apoyo.CaseFilter{CycleID: c.ID, Overdue: true}))
	require.Equal(t, []string{ids[1]}, list(apoyo.CaseFilter{CycleID: c.ID, Overdue: true, WaitingOn: "STyFE"}))
	require.Equal(t, sorted(ids[4], ids[5]), list(apoyo.CaseFilter{CycleID: c.ID, Step: "done"}))
	require.Equal(t, sorted(ids[1], ids[2]), list(apoyo.CaseFilter{CycleID: c.ID, Step: "approval"}))
	require.Empty(t, list(apoyo.CaseFilter{CycleID: c.ID, Step: "referrals"}))

	// Paging with After and Limit walks every case once, in id order.
	var paged []string
	after := ""
	for {
		page := list(apoyo.CaseFilter{CycleID: c.ID, After: after, Limit: 4})
		require.LessOrEqual(t, len(page), 4)
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		after = page[len(page)-1]
	}
	require.Equal(t, sorted(ids...), paged)

	n, err := e.store.CycleCounts(e.ctx, c.ID)
	require.NoError(t, err)
	require.Equal(t, 6, n.Total)
	require.Equal(t, map[string]int{"identity": 1, "approval": 2, "payment": 1, "done": 2}, n.ByStep)
	require.Equal(t, map[string]int{"completed": 1, "ineligible": 1}, n.ByOutcome)
	require.Equal(t, map[string]int{"caseworker": 2, "STyFE": 1, "SIBISO": 2}, n.Waiting)
	require.Equal(t, 2, n.Overdue)
	require.Equal(t, 2, n.Done)

	empty, err := e.store.CycleCounts(e.ctx, "cyc_nothing")
	require.NoError(t, err)
	require.Zero(t, empty.Total)

	unfinished, err := e.store.UnfinishedCaseIDs(e.ctx, c.ID, "", 100)
	require.NoError(t, err)
	require.Equal(t, sorted(ids[0], ids[1], ids[2], ids[3]), unfinished)
	page, err := e.store.UnfinishedCaseIDs(e.ctx, c.ID, unfinished[1], 1)
	require.NoError(t, err)
	require.Equal(t, []string{unfinished[2]}, page)
}

func TestPaymentsPaidOncePerCycle(t *testing.T) {
	e := setup(t, 2)
	c := e.cycle(t, "c1")
	other := e.cycle(t, "c2")
	b := e.bens[0]
	amount := decimal.RequireFromString("5600.00")
	pay := func(cyc string, attempt int) apoyo.Payment {
		return apoyo.Payment{OrderID: "pay_" + cyc + "_" + b + "_" + string(rune('0'+attempt)), CaseID: apoyo.CaseID(cyc, b),
			ProgramID: e.prog, CycleID: cyc, BeneficiaryID: b, Attempt: attempt, Rail: "spei", Amount: amount,
			Fund: program.LedgerFund(e.prog, "city"), TrackingKey: "TK" + string(rune('0'+attempt)), State: "pending"}
	}
	for _, cyc := range []string{c.ID, other.ID} {
		require.NoError(t, e.store.Save(e.ctx, apoyo.Case{ProgramID: e.prog, CycleID: cyc, BeneficiaryID: b, Version: 1,
			Step: apoyo.StepPayment, Status: "running"}))
	}

	p1, p2 := pay(c.ID, 1), pay(c.ID, 2)
	require.NoError(t, e.store.RecordPayment(e.ctx, p1))
	// Recording again (a retry) keeps the first record.
	again := p1
	again.State = "settled"
	require.NoError(t, e.store.RecordPayment(e.ctx, again))
	ps, err := e.store.Payments(e.ctx, c.ID)
	require.NoError(t, err)
	require.Len(t, ps, 1)
	require.Equal(t, apoyo.PaymentState("pending"), ps[0].State)

	require.NoError(t, e.store.UpdatePayment(e.ctx, p1.OrderID, "returned", 1, "SBX1", "2026-11-02"))
	require.NoError(t, e.store.RecordPayment(e.ctx, p2))
	require.NoError(t, e.store.UpdatePayment(e.ctx, p2.OrderID, "settled", 0, "SBX2", "2026-11-02"))
	paid, err := e.store.PaidInCycle(e.ctx, c.ID, b)
	require.NoError(t, err)
	require.True(t, paid)

	// A third order for the same person and cycle cannot be paid.
	p3 := pay(c.ID, 3)
	require.NoError(t, e.store.RecordPayment(e.ctx, p3))
	require.ErrorIs(t, e.store.UpdatePayment(e.ctx, p3.OrderID, "collected", 0, "SBX3", ""), cases.ErrAlreadyPaid)
	require.ErrorIs(t, e.store.UpdatePayment(e.ctx, p3.OrderID, "settled", 0, "SBX3", ""), cases.ErrAlreadyPaid)
	// Even the returned first order cannot turn paid now.
	require.ErrorIs(t, e.store.UpdatePayment(e.ctx, p1.OrderID, "settled", 0, "SBX1", ""), cases.ErrAlreadyPaid)
	// The paid order itself may be written again.
	require.NoError(t, e.store.UpdatePayment(e.ctx, p2.OrderID, "settled", 0, "SBX2", "2026-11-02"))

	ps, err = e.store.Payments(e.ctx, c.ID)
	require.NoError(t, err)
	states := map[string]string{}
	for _, p := range ps {
		states[p.OrderID] = string(p.State)
	}
	require.Equal(t, map[string]string{p1.OrderID: "returned", p2.OrderID: "settled", p3.OrderID: "pending"}, states)
	for _, p := range ps {
		if p.OrderID == p1.OrderID {
			require.Equal(t, 1, p.ReturnCause)
		}
	}

	// Another cycle is another matter.
	o1 := pay(other.ID, 1)
	o1.TrackingKey = "TKO1"
	require.NoError(t, e.store.RecordPayment(e.ctx, o1))
	require.NoError(t, e.store.UpdatePayment(e.ctx, o1.OrderID, "settled", 0, "SBX9", ""))
	paid, err = e.store.PaidInCycle(e.ctx, c.ID, e.bens[1])
	require.NoError(t, err)
	require.False(t, paid)

	require.ErrorIs(t, e.store.UpdatePayment(e.ctx, "pay_unknown", "settled", 0, "", ""), cases.ErrPaymentNotFound)
}

// Workers retrying the same activity at once write the same rows at once:
// neither the first projection of a case nor the first record of an order
// may fail because another writer got there a moment earlier.
func TestConcurrentFirstWrites(t *testing.T) {
	e := setup(t, 8)
	c := e.cycle(t, "c1")
	const writers = 6
	for _, b := range e.bens {
		errs := make(chan error, 2*writers)
		var start sync.WaitGroup
		start.Add(1)
		var done sync.WaitGroup
		for i := 0; i < writers; i++ {
			done.Add(1)
			go func() {
				defer done.Done()
				start.Wait()
				errs <- e.store.Save(e.ctx, apoyo.Case{ProgramID: e.prog, CycleID: c.ID, BeneficiaryID: b, Version: 1,
					Step: apoyo.StepApproval, Status: "waiting"})
			}()
		}
		start.Done()
		done.Wait()
		start.Add(1)
		p := apoyo.Payment{OrderID: "pay_" + c.ID + "_" + b + "_1", CaseID: apoyo.CaseID(c.ID, b), ProgramID: e.prog, CycleID: c.ID,
			BeneficiaryID: b, Attempt: 1, Rail: "cash_pickup", Amount: decimal.RequireFromString("5600"), Fund: program.LedgerFund(e.prog, "city"),
			TrackingKey: "TK" + b, State: "pending"}
		for i := 0; i < writers; i++ {
			done.Add(1)
			go func() {
				defer done.Done()
				start.Wait()
				errs <- e.store.RecordPayment(e.ctx, p)
			}()
		}
		start.Done()
		done.Wait()
		close(errs)
		for err := range errs {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "23505" &&
				(pgErr.ConstraintName == "cases_cycle_id_beneficiary_id_key" || pgErr.ConstraintName == "payments_cycle_id_beneficiary_id_attempt_key") {
				t.Fatalf("regression: concurrent first writes race on a unique index that is not the ON CONFLICT target: %v", err)
			}
			require.NoError(t, err)
		}
	}
	ps, err := e.store.Payments(e.ctx, c.ID)
	require.NoError(t, err)
	require.Len(t, ps, len(e.bens))
	n, err := e.store.CycleCounts(e.ctx, c.ID)
	require.NoError(t, err)
	require.Equal(t, len(e.bens), n.Total)
}

// TestResolveStaleTasks closes the tasks of steps a case has left, and
// keeps those of its current step and the notices of how it ended.
func TestResolveStaleTasks(t *testing.T) {
	e := setup(t, 1)
	c := e.cycle(t, "c1")
	caseID := apoyo.CaseID(c.ID, e.bens[0])
	require.NoError(t, e.store.Save(e.ctx, apoyo.Case{ProgramID: e.prog, CycleID: c.ID, BeneficiaryID: e.bens[0], Version: 1,
		Step: apoyo.StepApproval, Status: "waiting"}))
	for _, kind := range []string{"identity_review", "approval_overdue", "payment_failed"} {
		require.NoError(t, e.store.RaiseTask(e.ctx, caseID, apoyo.TaskKind(kind), ""))
	}
	openKinds := func() []string {
		t.Helper()
		ts, err := e.store.OpenTasks(e.ctx, c.ID, 0)
		require.NoError(t, err)
		var kinds []string
		for _, x := range ts {
			kinds = append(kinds, string(x.Kind))
		}
		return kinds
	}
	require.NoError(t, e.store.ResolveStaleTasks(e.ctx, caseID, "approval"))
	require.ElementsMatch(t, []string{"approval_overdue", "payment_failed"}, openKinds())
	require.NoError(t, e.store.ResolveStaleTasks(e.ctx, caseID, "done"))
	require.ElementsMatch(t, []string{"payment_failed"}, openKinds())
}
