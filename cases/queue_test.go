package cases_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/cases"
	"github.com/apoyo-cdmx/apoyo/internal/testfactory"
	"github.com/apoyo-cdmx/apoyo/mxid"
)

// stuck is one case of a queue fixture and the task raised on it.
type stuck struct {
	cycle     int // index into the fixture's cycles
	alcaldia  string
	step      apoyo.Step
	status    apoyo.CaseStatus
	waiting   []string
	referrals []apoyo.Referral
	kind      apoyo.TaskKind
	age       time.Duration // how long ago the task was opened
	// sec is whose people the task waits on, by QueueItem.Secretariat's
	// rule: what the queue must say.
	sec apoyo.Secretariat

	caseID string
	taskID int64
}

// queueWorld is a programme with two cycles and one stuck case per entry
// of its fixture, each with its task raised through RaiseTask after the
// case's projection was saved, as the activities do.
type queueWorld struct {
	*env
	cycles []apoyo.Cycle
	stuck  []*stuck
	now    time.Time
}

func newQueueWorld(t *testing.T, fixture []*stuck) *queueWorld {
	t.Helper()
	q := &queueWorld{env: setup(t, 0), now: time.Now().Truncate(time.Second)}
	q.cycles = []apoyo.Cycle{q.cycle(t, "2026-10"), q.cycle(t, "2026-11")}
	for i, s := range fixture {
		ben := q.w.Beneficiary(t, q.prog, &testfactory.BeneficiaryOpts{Alcaldia: s.alcaldia})
		cyc := q.cycles[s.cycle].ID
		s.caseID = apoyo.CaseID(cyc, ben)
		st := &apoyo.CaseState{CaseID: s.caseID, Version: 1, Step: s.step, Status: s.status, WaitingOn: s.waiting, Referrals: s.referrals,
			Timeline: []apoyo.Event{}}
		require.NoError(t, q.store.Save(q.ctx, apoyo.Case{ProgramID: q.prog, CycleID: cyc, BeneficiaryID: ben, Version: 1, Step: s.step,
			Status: s.status, WaitingOn: s.waiting, State: st}))
		require.NoError(t, q.store.RaiseTask(q.ctx, s.caseID, s.kind, fmt.Sprintf("task %d", i)))
		require.NoError(t, q.pool.QueryRow(q.ctx, `UPDATE case_tasks SET created_at = $3 WHERE case_id = $1 AND kind = $2 AND resolved_at IS NULL
			RETURNING id`, s.caseID, s.kind, q.now.Add(-s.age)).Scan(&s.taskID))
	}
	q.stuck = fixture
	return q
}

// all pages through the queue with f and returns every item, checking
// that the pages follow each other in task id order.
func (q *queueWorld) all(t *testing.T, f apoyo.QueueFilter) []apoyo.QueueItem {
	t.Helper()
	var out []apoyo.QueueItem
	for pages := 0; ; pages++ {
		require.Less(t, pages, 1000, "paging does not end")
		p, err := q.store.Queue(q.ctx, f)
		require.NoError(t, err)
		require.NotNil(t, p.Items)
		limit := f.Limit
		if limit == 0 {
			limit = apoyo.DefaultQueueLimit
		}
		require.LessOrEqual(t, len(p.Items), limit)
		for _, it := range p.Items {
			require.Greater(t, it.TaskID, f.After, "an item at or before the cursor")
			if len(out) > 0 {
				require.Greater(t, it.TaskID, out[len(out)-1].TaskID, "items out of order")
			}
			out = append(out, it)
		}
		if p.Next == 0 {
			return out
		}
		require.Len(t, p.Items, limit, "a page before the last is full")
		require.Equal(t, p.Items[len(p.Items)-1].TaskID, p.Next)
		f.After = p.Next
	}
}

func taskIDs(items []apoyo.QueueItem) []int64 {
	ids := make([]int64, len(items))
	for i, it := range items {
		ids[i] = it.TaskID
	}
	return ids
}

// want is the task ids of the fixture's entries that keep, in order.
func (q *queueWorld) want(keep func(s *stuck) bool) []int64 {
	ids := []int64{}
	for _, s := range q.stuck {
		if keep(s) {
			ids = append(ids, s.taskID)
		}
	}
	slices.Sort(ids)
	return ids
}

func queueFixture() []*stuck {
	day := 24 * time.Hour
	waitingCW := []string{apoyo.WaitingOnCaseworker}
	return []*stuck{
		{cycle: 0, alcaldia: "Iztapalapa", step: apoyo.StepIdentity, status: apoyo.CaseWaiting, waiting: waitingCW,
			kind: apoyo.TaskIdentityReview, age: 20 * day, sec: apoyo.SIBISO},
		{cycle: 0, alcaldia: "Cuauhtémoc", step: apoyo.StepApproval, status: apoyo.CaseWaiting, waiting: []string{"SEDESA", "STYFE"},
			kind: apoyo.TaskApprovalOverdue, age: 15 * day, sec: apoyo.STyFE},
		// The first in the canonical order, not in waiting_on's.
		{cycle: 0, alcaldia: "Iztapalapa", step: apoyo.StepApproval, status: apoyo.CaseWaiting, waiting: []string{"SEDESA", "SIBISO"},
			kind: apoyo.TaskApprovalOverdue, age: 12 * day, sec: apoyo.SIBISO},
		{cycle: 0, alcaldia: "Tlalpan", step: apoyo.StepPayment, status: apoyo.CaseWaiting, waiting: waitingCW,
			kind: apoyo.TaskNeedsNewInstrument, age: 10 * day, sec: apoyo.STyFE},
		{cycle: 0, alcaldia: "Cuauhtémoc", step: apoyo.StepPayment, status: apoyo.CaseWaiting, waiting: waitingCW,
			kind: apoyo.TaskReturnedAfterSettlement, age: 9 * day, sec: apoyo.STyFE},
		// A partner organisation's referral waits on SIBISO, which
		// coordinates the NGOs; a referral with an outcome is not waited on.
		{cycle: 1, alcaldia: "Cuauhtémoc", step: apoyo.StepReferrals, status: apoyo.CaseWaiting, waiting: waitingCW,
			referrals: []apoyo.Referral{{ID: "styfe.icat", Secretariat: "STYFE", Outcome: apoyo.ReferralAttended},
				{ID: "ngo.sin_fronteras", Secretariat: apoyo.NGO, Overdue: true}},
			kind: apoyo.TaskReferralOverdue, age: 8 * day, sec: apoyo.SIBISO},
		{cycle: 1, alcaldia: "Iztapalapa", step: apoyo.StepReferrals, status: apoyo.CaseWaiting, waiting: waitingCW,
			referrals: []apoyo.Referral{{ID: "sedesa.salud_mental", Secretariat: "SEDESA", Overdue: true},
				{ID: "sibiso.albergue_temporal", Secretariat: "SIBISO", Overdue: true}},
			kind: apoyo.TaskReferralOverdue, age: 6 * day, sec: apoyo.SEDESA},
		{cycle: 1, alcaldia: "Gustavo A. Madero", step: apoyo.StepApproval, status: apoyo.CaseFailed, waiting: waitingCW,
			kind: apoyo.TaskStepFailed, age: 4 * day, sec: apoyo.STyFE},
		{cycle: 1, alcaldia: "Tlalpan", step: apoyo.StepDone, status: apoyo.CaseDone,
			kind: apoyo.TaskPaymentFailed, age: 3 * day, sec: apoyo.STyFE},
		{cycle: 1, alcaldia: "Iztapalapa", step: apoyo.StepDone, status: apoyo.CaseDone,
			kind: apoyo.TaskIdentityReviewExpired, age: 2 * day, sec: apoyo.SIBISO},
		{cycle: 1, alcaldia: "Iztapalapa", step: apoyo.StepIdentity, status: apoyo.CaseWaiting, waiting: waitingCW,
			kind: apoyo.TaskIdentityReview, age: time.Hour, sec: apoyo.SIBISO},
	}
}

// TestQueueFilters: each filter, alone and combined, returns exactly the
// open tasks that match it, oldest first, each item saying where its case
// stands; the queue's columns were taken from the case's projection and
// the person's row when the task was raised.
func TestQueueFilters(t *testing.T) {
	t.Parallel()
	q := newQueueWorld(t, queueFixture())
	// A task closed before the read is in no answer.
	closed := q.stuck[0]
	require.NoError(t, q.store.ResolveTasks(q.ctx, closed.caseID, closed.kind))
	open := func(s *stuck) bool { return s != closed }

	everything := q.all(t, apoyo.QueueFilter{})
	require.Equal(t, q.want(open), taskIDs(everything))
	byTask := map[int64]apoyo.QueueItem{}
	for _, it := range everything {
		byTask[it.TaskID] = it
	}
	for _, s := range q.stuck[1:] {
		it := byTask[s.taskID]
		cyc := q.cycles[s.cycle]
		_, ben, err := apoyo.ParseCaseID(s.caseID)
		require.NoError(t, err)
		require.Equal(t, apoyo.QueueItem{TaskID: s.taskID, Kind: s.kind, Detail: it.Detail, CaseID: s.caseID, ProgramID: q.prog,
			CycleID: cyc.ID, BeneficiaryID: ben, Step: s.step, Status: s.status, Secretariat: s.sec, Alcaldia: s.alcaldia,
			Since: it.Since}, it, "task of %s (%s)", s.caseID, s.kind)
		require.True(t, q.now.Add(-s.age).Equal(it.Since), "%s: since %v", s.kind, it.Since)
		require.True(t, strings.HasPrefix(it.Detail, "task "))
	}

	type filterCase struct {
		f    apoyo.QueueFilter
		keep func(s *stuck) bool
	}
	filters := map[string]filterCase{}
	add := func(name string, f apoyo.QueueFilter, keep func(s *stuck) bool) { filters[name] = filterCase{f, keep} }
	for i, c := range q.cycles {
		add("cycle "+c.Name, apoyo.QueueFilter{CycleID: c.ID}, func(s *stuck) bool { return s.cycle == i })
	}
	add("unknown cycle", apoyo.QueueFilter{CycleID: "cyc_nothere"}, func(*stuck) bool { return false })
	for _, step := range apoyo.Steps {
		add("step "+string(step), apoyo.QueueFilter{Step: step}, func(s *stuck) bool { return s.step == step })
	}
	for _, sec := range apoyo.Secretariats {
		add("secretariat "+string(sec), apoyo.QueueFilter{Secretariat: sec}, func(s *stuck) bool { return s.sec == sec })
	}
	for _, a := range []string{"Iztapalapa", "Cuauhtémoc", "Tlalpan", "Gustavo A. Madero", "Xochimilco"} {
		add("alcaldía "+a, apoyo.QueueFilter{Alcaldia: a}, func(s *stuck) bool { return s.alcaldia == a })
	}
	add("alcaldía by another spelling", apoyo.QueueFilter{Alcaldia: "GAM"}, func(s *stuck) bool { return s.alcaldia == "Gustavo A. Madero" })
	add("alcaldía without accents", apoyo.QueueFilter{Alcaldia: "cuauhtemoc"}, func(s *stuck) bool { return s.alcaldia == "Cuauhtémoc" })
	for _, k := range apoyo.TaskKinds {
		add("kind "+string(k), apoyo.QueueFilter{Kind: k}, func(s *stuck) bool { return s.kind == k })
	}
	for _, days := range []int{0, 5, 9, 30} {
		before := q.now.Add(-time.Duration(days) * 24 * time.Hour)
		add(fmt.Sprintf("open for more than %d days", days), apoyo.QueueFilter{OpenBefore: before},
			func(s *stuck) bool { return q.now.Add(-s.age).Before(before) })
	}
	for _, st := range q.stuck[1:3] {
		add("case "+st.caseID, apoyo.QueueFilter{CaseID: st.caseID}, func(s *stuck) bool { return s.caseID == st.caseID })
	}
	add("cycle and secretariat", apoyo.QueueFilter{CycleID: q.cycles[1].ID, Secretariat: apoyo.SIBISO},
		func(s *stuck) bool { return s.cycle == 1 && s.sec == apoyo.SIBISO })
	add("step, alcaldía, kind and age", apoyo.QueueFilter{Step: apoyo.StepApproval, Alcaldia: "Iztapalapa", Kind: apoyo.TaskApprovalOverdue,
		OpenBefore: q.now.Add(-24 * time.Hour)}, func(s *stuck) bool {
		return s.step == apoyo.StepApproval && s.alcaldia == "Iztapalapa" && s.kind == apoyo.TaskApprovalOverdue
	})

	for name, tc := range filters {
		for _, limit := range []int{0, 1, 2} {
			f := tc.f
			f.Limit = limit
			got := q.all(t, f)
			require.Equal(t, q.want(func(s *stuck) bool { return open(s) && tc.keep(s) }), taskIDs(got), "%s, limit %d", name, limit)
		}
	}
}

// TestQueuePaging: following Next visits every open task exactly once, in
// task id order, whether or not the last page is full; a cursor starts
// after itself.
func TestQueuePaging(t *testing.T) {
	t.Parallel()
	var fixture []*stuck
	for i := 0; i < 23; i++ {
		fixture = append(fixture, &stuck{cycle: i % 2, alcaldia: "Coyoacán", step: apoyo.StepIdentity, status: apoyo.CaseWaiting,
			waiting: []string{apoyo.WaitingOnCaseworker}, kind: apoyo.TaskIdentityReview, age: time.Duration(30-i) * time.Hour})
	}
	q := newQueueWorld(t, fixture)
	all := q.want(func(*stuck) bool { return true })
	for _, limit := range []int{1, 5, 22, 23, 24, apoyo.MaxQueueLimit} {
		require.Equal(t, all, taskIDs(q.all(t, apoyo.QueueFilter{Limit: limit})), "limit %d", limit)
	}
	p, err := q.store.Queue(q.ctx, apoyo.QueueFilter{Limit: 23})
	require.NoError(t, err)
	require.Len(t, p.Items, 23)
	require.Zero(t, p.Next, "a page that ends the queue has no next, even when full")

	p, err = q.store.Queue(q.ctx, apoyo.QueueFilter{After: all[9], Limit: 3})
	require.NoError(t, err)
	require.Equal(t, all[10:13], taskIDs(p.Items))
	require.Equal(t, all[12], p.Next)

	p, err = q.store.Queue(q.ctx, apoyo.QueueFilter{After: all[22]})
	require.NoError(t, err)
	require.Empty(t, p.Items)
	require.NotNil(t, p.Items, "an empty page is [] in JSON, not null")
	require.Zero(t, p.Next)
	b, err := json.Marshal(p)
	require.NoError(t, err)
	require.JSONEq(t, `{"items": []}`, string(b))
}

// TestQueueFollowsTheCase: a task leaves the queue when its case moves on
// (the projection's write, then ResolveStaleTasks, as the activities and
// the application do), or when it is resolved; while it stays, its step
// and secretariat follow the case.
func TestQueueFollowsTheCase(t *testing.T) {
	t.Parallel()
	day := 24 * time.Hour
	cw := []string{apoyo.WaitingOnCaseworker}
	q := newQueueWorld(t, []*stuck{
		{alcaldia: "Iztapalapa", step: apoyo.StepApproval, status: apoyo.CaseWaiting, waiting: []string{"STYFE", "SIBISO", "SEDESA"},
			kind: apoyo.TaskApprovalOverdue, age: 3 * day},
		{alcaldia: "Iztapalapa", step: apoyo.StepIdentity, status: apoyo.CaseWaiting, waiting: cw, kind: apoyo.TaskIdentityReview, age: 3 * day},
		{alcaldia: "Iztapalapa", step: apoyo.StepPayment, status: apoyo.CaseFailed, waiting: cw, kind: apoyo.TaskStepFailed, age: 3 * day},
		{alcaldia: "Iztapalapa", step: apoyo.StepDone, status: apoyo.CaseDone, kind: apoyo.TaskReturnedAfterSettlement, age: 3 * day},
		{alcaldia: "Iztapalapa", step: apoyo.StepReferrals, status: apoyo.CaseWaiting, waiting: cw, kind: apoyo.TaskReferralOverdue,
			referrals: []apoyo.Referral{{ID: "a", Secretariat: "SEDESA"}, {ID: "b", Secretariat: "STYFE"}}, age: 3 * day},
	})
	approval, identity, failed, returned, referral := q.stuck[0], q.stuck[1], q.stuck[2], q.stuck[3], q.stuck[4]
	item := func(s *stuck) (apoyo.QueueItem, bool) {
		t.Helper()
		for _, it := range q.all(t, apoyo.QueueFilter{}) {
			if it.TaskID == s.taskID {
				return it, true
			}
		}
		return apoyo.QueueItem{}, false
	}
	version := int64(1)
	// moveOn records a new state as the application does after an update.
	moveOn := func(s *stuck, step apoyo.Step, status apoyo.CaseStatus, waiting []string, referrals []apoyo.Referral) {
		t.Helper()
		version++
		require.NoError(t, q.store.SaveState(q.ctx, apoyo.CaseState{CaseID: s.caseID, Version: version, Step: step, Status: status,
			WaitingOn: waiting, Referrals: referrals, Timeline: []apoyo.Event{}}))
		require.NoError(t, q.store.ResolveStaleTasks(q.ctx, s.caseID, step))
	}
	secOf := func(s *stuck) apoyo.Secretariat {
		t.Helper()
		it, ok := item(s)
		require.True(t, ok, "%s left the queue", s.kind)
		return it.Secretariat
	}

	// An overdue approval waits on each secretariat in turn, as votes come.
	require.Equal(t, apoyo.STyFE, secOf(approval))
	moveOn(approval, apoyo.StepApproval, apoyo.CaseWaiting, []string{"SIBISO", "SEDESA"}, nil)
	require.Equal(t, apoyo.SIBISO, secOf(approval))
	page, err := q.store.Queue(q.ctx, apoyo.QueueFilter{Secretariat: apoyo.SIBISO, Kind: apoyo.TaskApprovalOverdue})
	require.NoError(t, err)
	require.Equal(t, []int64{approval.taskID}, taskIDs(page.Items))
	moveOn(approval, apoyo.StepApproval, apoyo.CaseWaiting, []string{"SEDESA"}, nil)
	require.Equal(t, apoyo.SEDESA, secOf(approval))
	moveOn(approval, apoyo.StepPayment, apoyo.CaseRunning, nil, nil)
	_, ok := item(approval)
	require.False(t, ok, "approved, the case left the approval step")

	// An overdue referral waits on the first referral without an outcome.
	require.Equal(t, apoyo.SEDESA, secOf(referral))
	moveOn(referral, apoyo.StepReferrals, apoyo.CaseWaiting, cw,
		[]apoyo.Referral{{ID: "a", Secretariat: "SEDESA", Outcome: apoyo.ReferralAttended}, {ID: "b", Secretariat: "STYFE"}})
	require.Equal(t, apoyo.STyFE, secOf(referral))
	moveOn(referral, apoyo.StepDone, apoyo.CaseDone, nil, nil)
	_, ok = item(referral)
	require.False(t, ok, "every referral closed, the case ended")

	// A document decided: the screening activity resolves the review.
	require.NoError(t, q.store.ResolveTasks(q.ctx, identity.caseID, apoyo.TaskIdentityReview))
	_, ok = item(identity)
	require.False(t, ok)

	// A failed step stays while the case is failed, and goes with the retry.
	moveOn(failed, apoyo.StepPayment, apoyo.CaseFailed, cw, nil)
	_, ok = item(failed)
	require.True(t, ok)
	moveOn(failed, apoyo.StepPayment, apoyo.CaseRunning, nil, nil)
	_, ok = item(failed)
	require.False(t, ok, "retried")

	// A return after settlement reopens a case that had ended: its task
	// follows it back to the payment step, where it is the work to do.
	it, ok := item(returned)
	require.True(t, ok)
	require.Equal(t, apoyo.StepDone, it.Step)
	moveOn(returned, apoyo.StepPayment, apoyo.CaseWaiting, cw, nil)
	it, ok = item(returned)
	require.True(t, ok)
	require.Equal(t, apoyo.StepPayment, it.Step)
	page, err = q.store.Queue(q.ctx, apoyo.QueueFilter{Step: apoyo.StepPayment})
	require.NoError(t, err)
	require.Equal(t, []int64{returned.taskID}, taskIDs(page.Items))
	require.NoError(t, q.store.ResolveTasks(q.ctx, returned.caseID, apoyo.TaskReturnedAfterSettlement))

	page, err = q.store.Queue(q.ctx, apoyo.QueueFilter{})
	require.NoError(t, err)
	require.Empty(t, page.Items, "every case moved on")
}

// TestQueueRefusesBadFilters: a filter the queue cannot take is refused as
// queue.invalid, naming the field.
func TestQueueRefusesBadFilters(t *testing.T) {
	t.Parallel()
	e := setup(t, 0)
	for _, tc := range []struct {
		f     apoyo.QueueFilter
		field string
	}{
		{apoyo.QueueFilter{Step: "paying"}, "step"},
		{apoyo.QueueFilter{CaseID: "ben_x"}, "case_id"},
		{apoyo.QueueFilter{Kind: "lost_document"}, "kind"},
		{apoyo.QueueFilter{Secretariat: "sibiso"}, "secretariat"},
		{apoyo.QueueFilter{Secretariat: apoyo.NGO}, "secretariat"},
		{apoyo.QueueFilter{Alcaldia: "Ecatepec"}, "alcaldia"},
		{apoyo.QueueFilter{After: -1}, "after"},
		{apoyo.QueueFilter{Limit: -1}, "limit"},
		{apoyo.QueueFilter{Limit: apoyo.MaxQueueLimit + 1}, "limit"},
	} {
		_, err := e.store.Queue(e.ctx, tc.f)
		require.ErrorIs(t, err, cases.ErrQueueInvalid, "%+v", tc.f)
		var ae *apoyo.Error
		require.ErrorAs(t, err, &ae)
		require.Equal(t, apoyo.EINVALID, ae.Code)
		require.Equal(t, tc.field, ae.Field, "%+v: %v", tc.f, err)
	}
	p, err := e.store.Queue(e.ctx, apoyo.QueueFilter{Limit: apoyo.MaxQueueLimit})
	require.NoError(t, err)
	require.Empty(t, p.Items)
}

// TestRaiseTaskNeedsTheCase: a task is raised on a case whose projection
// is stored; on none, it says so and stores nothing.
func TestRaiseTaskNeedsTheCase(t *testing.T) {
	t.Parallel()
	e := setup(t, 0)
	err := e.store.RaiseTask(e.ctx, "case/cyc_none/ben_none", apoyo.TaskIdentityReview, "")
	require.ErrorIs(t, err, cases.ErrCaseNotFound)
	var n int
	require.NoError(t, e.pool.QueryRow(e.ctx, "SELECT count(*) FROM case_tasks").Scan(&n))
	require.Zero(t, n)
}

// TestQueuePlansUseIndexes: on a table of tens of thousands of tasks,
// most of them closed, with statistics, the queue's statement reads the
// open tasks through the index of its filtered column, common value or
// rare, whatever the page, and through the index of every open task
// without one: never the whole table, nor every open task for a few. The
// store has every execution planned for its values, as EXPLAIN plans them
// here.
func TestQueuePlansUseIndexes(t *testing.T) {
	t.Parallel()
	e := setup(t, 0)
	c1, c2, c3 := e.cycle(t, "2026-10"), e.cycle(t, "2026-11"), e.cycle(t, "2026-12")
	const people = 20000
	// Every person has a case in one of the cycles, with three tasks, one
	// of them open: the open tasks are a third of the table, spread over
	// every kind, step, secretariat and alcaldía, and opened a minute
	// apart in id order.
	_, err := e.pool.Exec(e.ctx, `INSERT INTO beneficiaries (id, program_id, birth_date, sex, nationality, population_group, alcaldia,
			payment_method, consent, given_names, first_surname, key_id)
		SELECT 'ben_' || lpad(i::text, 16, '0'), $1, date '1990-01-01', 'M', 'HND', 'migrant', ($3::text[])[1 + i % 15],
			'cash_pickup', true, '\x00', '\x00', 'k1'
		FROM generate_series(1, $2) i`, e.prog, people, mxid.Alcaldias[:15])
	require.NoError(t, err)
	_, err = e.pool.Exec(e.ctx, `INSERT INTO cases (id, program_id, cycle_id, beneficiary_id, step, status)
		SELECT 'case/' || cyc || '/' || b.id, $1, cyc, b.id, 'done', 'done'
		FROM beneficiaries b, LATERAL (SELECT CASE WHEN right(b.id, 1)::int % 2 = 0 THEN $2 ELSE $3 END AS cyc) x
		WHERE b.program_id = $1`, e.prog, c1.ID, c2.ID)
	require.NoError(t, err)
	// Each column's last value is left out here, and given below to a
	// few open tasks only: a rare value, which its own index must serve.
	_, err = e.pool.Exec(e.ctx, `INSERT INTO case_tasks (case_id, kind, cycle_id, step, secretariat, alcaldia, created_at, resolved_at)
		SELECT case_id, ($1::text[])[1 + n % 7], cycle_id, ($2::text[])[1 + n % 5], ($3::text[])[1 + n % 2], alcaldia,
			now() - (3 * $4 - n) * interval '1 minute', CASE WHEN k <> 0 THEN now() END
		FROM (SELECT c.id AS case_id, c.cycle_id, b.alcaldia, k, row_number() OVER (ORDER BY c.id, k) AS n
			FROM cases c JOIN beneficiaries b ON b.id = c.beneficiary_id, generate_series(0, 2) k) x
		ORDER BY n`,
		apoyo.TaskKinds, apoyo.Steps, apoyo.Secretariats, people)
	require.NoError(t, err)
	rare := map[string]string{"cycle_id": c3.ID, "step": string(apoyo.StepDone), "secretariat": string(apoyo.SEDESA),
		"alcaldia": mxid.Alcaldias[15], "kind": string(apoyo.TaskIdentityReviewExpired)}
	residue := 0
	for col, v := range rare {
		residue++
		_, err = e.pool.Exec(e.ctx, "UPDATE case_tasks SET "+col+" = $1 WHERE resolved_at IS NULL AND id % 997 = $2", v, residue)
		require.NoError(t, err)
	}
	_, err = e.pool.Exec(e.ctx, "ANALYZE beneficiaries, cases, case_tasks")
	require.NoError(t, err)

	// The first open tasks, the oldest, are an old cycle's last ones.
	c0 := e.cycle(t, "2026-09")
	rows, err := e.pool.Query(e.ctx, `UPDATE case_tasks SET cycle_id = $1 WHERE id IN (SELECT id FROM case_tasks WHERE resolved_at IS NULL
		ORDER BY id LIMIT 200) RETURNING id`, c0.ID)
	require.NoError(t, err)
	oldest, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	require.NoError(t, err)
	slices.Sort(oldest)
	_, err = e.pool.Exec(e.ctx, "ANALYZE case_tasks")
	require.NoError(t, err)

	filters := map[string]struct {
		f     apoyo.QueueFilter
		index string
	}{
		"none":             {apoyo.QueueFilter{}, "case_tasks_queue"},
		"open before":      {apoyo.QueueFilter{OpenBefore: time.Now().Add(-24 * time.Hour)}, "case_tasks_queue"},
		"cycle":            {apoyo.QueueFilter{CycleID: c2.ID}, "case_tasks_queue_cycle"},
		"step":             {apoyo.QueueFilter{Step: apoyo.StepApproval}, "case_tasks_queue_step"},
		"secretariat":      {apoyo.QueueFilter{Secretariat: apoyo.SIBISO}, "case_tasks_queue_secretariat"},
		"alcaldia":         {apoyo.QueueFilter{Alcaldia: mxid.Alcaldias[3]}, "case_tasks_queue_alcaldia"},
		"kind":             {apoyo.QueueFilter{Kind: apoyo.TaskReferralOverdue}, "case_tasks_queue_kind"},
		"deep page":        {apoyo.QueueFilter{Step: apoyo.StepPayment, After: 3 * people * 9 / 10}, "case_tasks_queue_step"},
		"rare cycle":       {apoyo.QueueFilter{CycleID: c3.ID}, "case_tasks_queue_cycle"},
		"rare step":        {apoyo.QueueFilter{Step: apoyo.StepDone}, "case_tasks_queue_step"},
		"rare secretariat": {apoyo.QueueFilter{Secretariat: apoyo.SEDESA}, "case_tasks_queue_secretariat"},
		"rare alcaldia":    {apoyo.QueueFilter{Alcaldia: mxid.Alcaldias[15]}, "case_tasks_queue_alcaldia"},
		"rare kind":        {apoyo.QueueFilter{Kind: apoyo.TaskIdentityReviewExpired}, "case_tasks_queue_kind"},
		"rare kind, deep":  {apoyo.QueueFilter{Kind: apoyo.TaskIdentityReviewExpired, After: 3 * people / 2}, "case_tasks_queue_kind"},
		"rare and common":  {apoyo.QueueFilter{Kind: apoyo.TaskIdentityReviewExpired, Secretariat: apoyo.STyFE}, "case_tasks_queue_kind"},
		"old cycle's last": {apoyo.QueueFilter{CycleID: c0.ID, After: oldest[189]}, "case_tasks_queue_cycle"},
		"common and rare":  {apoyo.QueueFilter{CycleID: c2.ID, Alcaldia: mxid.Alcaldias[15]}, "case_tasks_queue_(cycle|alcaldia)"},
	}
	for name, tc := range filters {
		sql, args, err := cases.QueueStatement(tc.f)
		require.NoError(t, err)
		var plan []byte
		require.NoError(t, e.pool.QueryRow(e.ctx, "EXPLAIN (FORMAT JSON) "+sql, args...).Scan(&plan))
		requireQueueIndex(t, name, plan, tc.index)
	}
}

// requireQueueIndex fails unless the plan reads case_tasks through index
// (a pattern), by an index scan or a bitmap of it (chosen when all the
// matches fit in a page), and only so.
func requireQueueIndex(t *testing.T, what string, planJSON []byte, index string) {
	t.Helper()
	var plans []struct{ Plan map[string]any }
	require.NoError(t, json.Unmarshal(planJSON, &plans), what)
	var scans []string // "<node type> on <index>" of each read of case_tasks
	var bitmapIndexes func(n map[string]any) []string
	bitmapIndexes = func(n map[string]any) []string {
		var out []string
		if n["Node Type"] == "Bitmap Index Scan" {
			out = append(out, fmt.Sprint(n["Index Name"]))
		}
		children, _ := n["Plans"].([]any)
		for _, c := range children {
			out = append(out, bitmapIndexes(c.(map[string]any))...)
		}
		return out
	}
	var walk func(n map[string]any)
	walk = func(n map[string]any) {
		if n["Relation Name"] == "case_tasks" {
			idx := fmt.Sprint(n["Index Name"])
			if n["Node Type"] == "Bitmap Heap Scan" {
				idx = strings.Join(bitmapIndexes(n), "+")
			}
			scans = append(scans, fmt.Sprintf("%v on %s", n["Node Type"], idx))
			return
		}
		children, _ := n["Plans"].([]any)
		for _, c := range children {
			walk(c.(map[string]any))
		}
	}
	walk(plans[0].Plan)
	t.Logf("%s: %v", what, scans)
	require.Len(t, scans, 1, "%s: %s", what, planJSON)
	require.Regexp(t, `^(Index Scan|Index Only Scan|Bitmap Heap Scan) on `+index+`$`, scans[0], "%s: %s", what, planJSON)
}
