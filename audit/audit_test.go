package audit_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/audit"
	"github.com/apoyo-cdmx/apoyo/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func setup(t *testing.T) (*audit.Log, *pgtest.DB) {
	t.Helper()
	db := pgtest.New(t)
	return audit.New(db.Pool), db
}

// entry is a valid entry of action a on targets by actor.
func entry(actor string, a apoyo.Action, targets ...string) apoyo.AuditEntry {
	return apoyo.AuditEntry{
		ActorID: actor, ActorName: "Name of " + actor, Role: "caseworker", Via: "token", TokenID: "tok-" + actor,
		Action: a, Targets: targets, Outcome: apoyo.AuditOK, RequestID: "req-" + actor,
	}
}

func requireOK(t *testing.T, l *audit.Log) apoyo.AuditVerifyReport {
	t.Helper()
	rep, err := l.Verify(context.Background())
	require.NoError(t, err)
	require.True(t, rep.OK, "verify: first bad %d: %s", rep.FirstBad, rep.Problem)
	return rep
}

func seqs(es []apoyo.AuditEntry) []int64 {
	out := []int64{}
	for _, e := range es {
		out = append(out, e.Seq)
	}
	return out
}

func TestAppendAndListWithEveryFilter(t *testing.T) {
	t.Parallel()
	l, _ := setup(t)
	ctx := context.Background()
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.FixedZone("CDMX", -6*3600))

	var stored []apoyo.AuditEntry
	add := func(e apoyo.AuditEntry, at time.Time) {
		t.Helper()
		e.At = at
		e.Seq, e.Hash, e.PrevHash = 99, "ignored", "ignored"
		s, err := l.Append(ctx, e)
		require.NoError(t, err)
		stored = append(stored, s)
	}
	failed := entry("u2", apoyo.ActCaseRetry, "case-2")
	failed.Outcome, failed.ErrorCode, failed.ErrorReason = apoyo.AuditFailed, apoyo.ECONFLICT, "cases.conflict"
	denied := entry("u3", apoyo.ActPersonalDataRead, "ben-1")
	denied.Outcome, denied.Purpose = apoyo.AuditDenied, "verificación de identidad — trámite 7\nsegunda línea"
	withDetail := entry("u1", apoyo.ActRosterImport)
	withDetail.Detail = map[string]string{"rows": "120", "sha256": "ab12", "ñandú": "✓"}

	add(entry("u1", apoyo.ActIdentityDecide, "case-1", "ben-1"), base.Add(123456789*time.Nanosecond)) // 1
	add(failed, base.Add(time.Hour))                                                                  // 2
	add(denied, base.Add(2*time.Hour))                                                                // 3
	add(withDetail, base.Add(3*time.Hour))                                                            // 4
	add(entry("u1", apoyo.ActCaseRetry, "case-2", "case-1"), base.Add(4*time.Hour))                   // 5
	add(entry("u2", apoyo.ActIdentityDecide), time.Time{})                                            // 6: now

	for i, s := range stored {
		require.Equal(t, int64(i+1), s.Seq, "seq set by the log")
		require.Len(t, s.Hash, 64)
		if i == 0 {
			require.Equal(t, strings.Repeat("0", 64), s.PrevHash)
		} else {
			require.Equal(t, stored[i-1].Hash, s.PrevHash, "chained to the entry before")
		}
		require.Equal(t, time.UTC, s.At.Location())
		require.Zero(t, s.At.Nanosecond()%1000, "truncated to microseconds")
	}
	require.Equal(t, base.Add(123456*time.Microsecond).UTC(), stored[0].At)
	require.WithinDuration(t, time.Now(), stored[5].At, time.Minute)
	require.NotNil(t, stored[5].Targets)
	require.Empty(t, stored[5].Targets)
	require.Nil(t, stored[0].Detail)

	all, err := l.List(ctx, apoyo.AuditFilter{})
	require.NoError(t, err)
	require.Equal(t, stored, all, "List returns entries exactly as Append stored them")

	cases := []struct {
		name string
		f    apoyo.AuditFilter
		want []int64
	}{
		{"actor", apoyo.AuditFilter{ActorID: "u1"}, []int64{1, 4, 5}},
		{"action", apoyo.AuditFilter{Action: apoyo.ActIdentityDecide}, []int64{1, 6}},
		{"target", apoyo.AuditFilter{Target: "case-1"}, []int64{1, 5}},
		{"target not first", apoyo.AuditFilter{Target: "ben-1"}, []int64{1, 3}},
		{"outcome failed", apoyo.AuditFilter{Outcome: apoyo.AuditFailed}, []int64{2}},
		{"outcome denied", apoyo.AuditFilter{Outcome: apoyo.AuditDenied}, []int64{3}},
		{"outcome ok", apoyo.AuditFilter{Outcome: apoyo.AuditOK}, []int64{1, 4, 5, 6}},
		{"since inclusive", apoyo.AuditFilter{Since: base.Add(time.Hour), Until: base.Add(24 * time.Hour)}, []int64{2, 3, 4, 5}},
		{"until exclusive", apoyo.AuditFilter{Until: base.Add(2 * time.Hour)}, []int64{1, 2}},
		{"after", apoyo.AuditFilter{After: 4}, []int64{5, 6}},
		{"limit", apoyo.AuditFilter{Limit: 2}, []int64{1, 2}},
		{"combined", apoyo.AuditFilter{ActorID: "u1", Target: "case-2", Action: apoyo.ActCaseRetry}, []int64{5}},
		{"no match", apoyo.AuditFilter{ActorID: "nobody"}, []int64{}},
	}
	for _, c := range cases {
		got, err := l.List(ctx, c.f)
		require.NoError(t, err, c.name)
		require.Equal(t, c.want, seqs(got), c.name)
	}

	// Paging by After walks the whole log once.
	var paged []int64
	after := int64(0)
	for {
		page, err := l.List(ctx, apoyo.AuditFilter{After: after, Limit: 4})
		require.NoError(t, err)
		if len(page) == 0 {
			break
		}
		paged = append(paged, seqs(page)...)
		after = page[len(page)-1].Seq
	}
	require.Equal(t, []int64{1, 2, 3, 4, 5, 6}, paged)

	_, err = l.List(ctx, apoyo.AuditFilter{Outcome: "maybe"})
	require.ErrorIs(t, err, audit.ErrInvalid)
	_, err = l.List(ctx, apoyo.AuditFilter{Target: "a\x00b"})
	require.ErrorIs(t, err, audit.ErrInvalid)

	rep := requireOK(t, l)
	require.Equal(t, int64(6), rep.Entries)
	require.Equal(t, apoyo.AuditHead{Seq: 6, Hash: stored[5].Hash, At: stored[5].At}, rep.Head)
}

func TestListLimitDefaultAndCap(t *testing.T) {
	t.Parallel()
	l, db := setup(t)
	ctx := context.Background()
	tx, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	for i := 0; i < audit.MaxLimit+5; i++ {
		_, err := l.AppendTx(ctx, tx, entry("u1", apoyo.ActCaseRead, fmt.Sprint("case-", i)))
		require.NoError(t, err)
	}
	require.NoError(t, tx.Commit(ctx))

	for _, c := range []struct{ limit, want int }{{0, audit.DefaultLimit}, {-3, audit.DefaultLimit}, {7, 7}, {audit.MaxLimit + 1, audit.MaxLimit}, {1 << 30, audit.MaxLimit}} {
		got, err := l.List(ctx, apoyo.AuditFilter{Limit: c.limit})
		require.NoError(t, err)
		require.Len(t, got, c.want, "limit %d", c.limit)
		require.Equal(t, int64(1), got[0].Seq)
	}
	requireOK(t, l)
}

// TestConcurrentAppends writes from many goroutines, in transactions of
// their own and inside callers' transactions: seq runs 1..n and the chain
// verifies.
func TestConcurrentAppends(t *testing.T) {
	t.Parallel()
	l, db := setup(t)
	ctx := context.Background()
	const workers, each = 16, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				e := entry(fmt.Sprint("u", w), apoyo.ActCaseRead, fmt.Sprintf("case-%d-%d", w, i))
				if i%2 == 0 {
					_, err := l.Append(ctx, e)
					errs <- err
					continue
				}
				errs <- pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
					_, err := l.AppendTx(ctx, tx, e)
					return err
				})
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	var all []apoyo.AuditEntry
	after := int64(0)
	for {
		page, err := l.List(ctx, apoyo.AuditFilter{After: after, Limit: audit.MaxLimit})
		require.NoError(t, err)
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		after = page[len(page)-1].Seq
	}
	require.Len(t, all, workers*each)
	for i, e := range all {
		require.Equal(t, int64(i+1), e.Seq)
		if i > 0 {
			require.Equal(t, all[i-1].Hash, e.PrevHash)
		}
	}
	rep := requireOK(t, l)
	require.Equal(t, int64(workers*each), rep.Entries)
	head, err := l.Head(ctx)
	require.NoError(t, err)
	require.Equal(t, all[len(all)-1].Hash, head.Hash)
}

func TestAppendTxRolledBackLeavesNoEntryAndNoGap(t *testing.T) {
	t.Parallel()
	l, db := setup(t)
	ctx := context.Background()
	_, err := l.Append(ctx, entry("u1", apoyo.ActCaseRead, "case-1"))
	require.NoError(t, err)

	tx, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	e, err := l.AppendTx(ctx, tx, entry("u1", apoyo.ActCaseCancel, "case-1"))
	require.NoError(t, err)
	require.Equal(t, int64(2), e.Seq)
	require.NoError(t, tx.Rollback(ctx))

	all, err := l.List(ctx, apoyo.AuditFilter{})
	require.NoError(t, err)
	require.Equal(t, []int64{1}, seqs(all), "the rolled-back entry is gone")

	next, err := l.Append(ctx, entry("u1", apoyo.ActCaseRetry, "case-1"))
	require.NoError(t, err)
	require.Equal(t, int64(2), next.Seq, "no gap")
	require.Equal(t, all[0].Hash, next.PrevHash)
	requireOK(t, l)
}

func TestWriteInTx(t *testing.T) {
	t.Parallel()
	l, db := setup(t)
	ctx := context.Background()
	count := func() int {
		var n int
		require.NoError(t, db.Pool.QueryRow(ctx, "SELECT count(*) FROM audit_log").Scan(&n))
		return n
	}

	// No pending entry: nothing is written.
	require.NoError(t, pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error { return audit.WriteInTx(ctx, tx) }))
	require.Equal(t, 0, count())

	// Written once, with outcome ok, even when called twice (and
	// concurrently) in the call chain.
	e := entry("u1", apoyo.ActInstrumentSet, "case-1")
	e.Outcome = apoyo.AuditFailed // the decorator's draft; WriteInTx records success
	pctx, p := audit.WithPending(ctx, l, e)
	require.Same(t, p, audit.PendingFrom(pctx))
	require.NoError(t, pgx.BeginFunc(pctx, db.Pool, func(tx pgx.Tx) error {
		if err := audit.WriteInTx(pctx, tx); err != nil {
			return err
		}
		return audit.WriteInTx(pctx, tx)
	}))
	require.Equal(t, 1, count())
	require.True(t, p.Written)
	require.Equal(t, int64(1), p.Entry.Seq)
	require.Equal(t, apoyo.AuditOK, p.Entry.Outcome)
	require.True(t, p.Committed(nil))
	require.True(t, p.Committed(errors.New("a later step failed")), "the database says it committed")
	// A second store method, in a later transaction of the same call.
	require.NoError(t, pgx.BeginFunc(pctx, db.Pool, func(tx pgx.Tx) error { return audit.WriteInTx(pctx, tx) }))
	require.Equal(t, 1, count())

	// Written in a transaction that rolls back: not committed, and a
	// retry in a new transaction writes it, without a gap.
	pctx, p = audit.WithPending(ctx, l, entry("u1", apoyo.ActCaseCancel, "case-9"))
	tx, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, audit.WriteInTx(pctx, tx))
	require.NoError(t, tx.Rollback(ctx))
	require.True(t, p.Written, "Written alone proves nothing")
	require.False(t, p.Committed(errors.New("rolled back")), "the transaction rolled back")
	require.NoError(t, pgx.BeginFunc(pctx, db.Pool, func(tx pgx.Tx) error { return audit.WriteInTx(pctx, tx) }))
	require.Equal(t, 2, count())
	require.True(t, p.Committed(errors.New("a later step failed")))
	require.Equal(t, int64(2), p.Entry.Seq)

	// Never written: not committed, whatever the call returned. And the
	// check works after the call's context was cancelled.
	cctx, cancel := context.WithCancel(ctx)
	pctx, p = audit.WithPending(cctx, l, entry("u3", apoyo.ActCaseRead, "case-3"))
	require.False(t, p.Committed(nil))
	require.False(t, p.Committed(errors.New("failed")))
	require.NoError(t, pgx.BeginFunc(pctx, db.Pool, func(tx pgx.Tx) error { return audit.WriteInTx(pctx, tx) }))
	require.Equal(t, 3, count())
	cancel()
	require.True(t, p.Committed(context.Canceled))

	// Concurrent store methods of one call: one writes.
	pctx, _ = audit.WithPending(ctx, l, entry("u2", apoyo.ActCaseRetry, "case-3"))
	tx, err = db.Pool.Begin(ctx)
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	conn := sync.Mutex{} // one connection: statements must not interleave
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			conn.Lock()
			defer conn.Unlock()
			errs[i] = audit.WriteInTx(pctx, tx)
		}(i)
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.NoError(t, tx.Commit(ctx))
	require.Equal(t, 4, count())

	// A pending entry that could never be stored fails the transaction's
	// write in Go, before the database sees it.
	bad := entry("u1", apoyo.ActCaseRetry, "case-\x00")
	pctx, p = audit.WithPending(ctx, l, bad)
	err = pgx.BeginFunc(pctx, db.Pool, func(tx pgx.Tx) error { return audit.WriteInTx(pctx, tx) })
	require.ErrorIs(t, err, audit.ErrInvalid)
	require.False(t, p.Written)
	require.False(t, p.Committed(err))
	require.Equal(t, 4, count())
	requireOK(t, l)
}

func TestLogIsAppendOnly(t *testing.T) {
	t.Parallel()
	l, db := setup(t)
	ctx := context.Background()
	_, err := l.Append(ctx, entry("u1", apoyo.ActCaseRead, "case-1"))
	require.NoError(t, err)
	for _, sql := range []string{
		"UPDATE audit_log SET actor_name = 'someone else'",
		"DELETE FROM audit_log",
		"TRUNCATE audit_log",
	} {
		_, err := db.Pool.Exec(ctx, sql)
		require.ErrorContains(t, err, "append-only", sql)
		var pgErr *pgconn.PgError
		require.ErrorAs(t, err, &pgErr)
		require.Equal(t, "42501", pgErr.Code, "insufficient_privilege")
	}
	all, err := l.List(ctx, apoyo.AuditFilter{})
	require.NoError(t, err)
	require.Len(t, all, 1)
	require.Equal(t, "Name of u1", all[0].ActorName)
	requireOK(t, l)
}

// TestTamperIsDetected changes the log as someone who can switch the
// append-only triggers off, and checks that Verify names the entry.
func TestTamperIsDetected(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	{
		_, db := setup(t)
		var super bool
		require.NoError(t, db.Pool.QueryRow(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super))
		if !super {
			t.Skipf("the database user of %s is not a superuser: cannot switch the append-only triggers off to tamper", pgtest.EnvURL)
		}
	}
	cases := []struct {
		name     string
		sql      string
		firstBad int64
		problem  string
	}{
		{"actor name changed", "UPDATE audit_log SET actor_name = 'someone else' WHERE seq = 3", 3, "entry 3: hash does not match"},
		{"target removed", "UPDATE audit_log SET targets = '{}' WHERE seq = 2", 2, "entry 2: hash does not match"},
		{"detail changed", `UPDATE audit_log SET detail = '{"rows": "1"}' WHERE seq = 4`, 4, "entry 4: hash does not match"},
		{"time moved", "UPDATE audit_log SET at = at - interval '1 day' WHERE seq = 1", 1, "entry 1: hash does not match"},
		{"middle entry deleted", "DELETE FROM audit_log WHERE seq = 3", 3, "entries 3 to 3 are missing"},
		{"last entry deleted", "DELETE FROM audit_log WHERE seq = 5", 5, "the tail was removed"},
		{"relinked", "UPDATE audit_log SET prev_hash = (SELECT hash FROM audit_log WHERE seq = 1) WHERE seq = 3", 3, "entry 3 is not chained to entry 2"},
		{"head moved back", "UPDATE audit_chain_head SET last_seq = 4, last_hash = (SELECT hash FROM audit_log WHERE seq = 4)", 5, "entries were added around the head"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			l, db := setup(t)
			for i := 1; i <= 5; i++ {
				e := entry(fmt.Sprint("u", i), apoyo.ActCaseRetry, fmt.Sprint("case-", i))
				e.Detail = map[string]string{"rows": fmt.Sprint(i)}
				_, err := l.Append(ctx, e)
				require.NoError(t, err)
			}
			requireOK(t, l)
			conn, err := db.Pool.Acquire(ctx)
			require.NoError(t, err)
			defer conn.Release()
			_, err = conn.Exec(ctx, "ALTER TABLE audit_log DISABLE TRIGGER USER")
			require.NoError(t, err)
			_, err = conn.Exec(ctx, c.sql)
			require.NoError(t, err)
			_, err = conn.Exec(ctx, "ALTER TABLE audit_log ENABLE TRIGGER USER")
			require.NoError(t, err)

			rep, err := l.Verify(ctx)
			require.NoError(t, err)
			require.False(t, rep.OK)
			require.Equal(t, c.firstBad, rep.FirstBad, rep.Problem)
			require.Contains(t, rep.Problem, c.problem)
			require.NotContains(t, rep.Problem, "someone else", "ids only")
		})
	}
}

func TestHandledAndSecretariatsActedFor(t *testing.T) {
	t.Parallel()
	l, _ := setup(t)
	ctx := context.Background()
	app := func(e apoyo.AuditEntry) {
		t.Helper()
		_, err := l.Append(ctx, e)
		require.NoError(t, err)
	}
	vote := func(actor string, s apoyo.Secretariat, a apoyo.Action, o apoyo.AuditOutcome, targets ...string) apoyo.AuditEntry {
		e := entry(actor, a, targets...)
		e.Role, e.Secretariat, e.Outcome = "approver", s, o
		return e
	}
	app(entry("cw", apoyo.ActIdentityDecide, "case-1", "ben-1"))
	app(entry("cw", apoyo.ActReferralOutcome, "case-2"))
	failed := entry("cw", apoyo.ActCaseCancel, "case-3")
	failed.Outcome = apoyo.AuditFailed
	app(failed)                                             // failed: not handled
	app(entry("cw", apoyo.ActCaseRead, "case-4"))           // a read: not handled
	app(entry("other", apoyo.ActInstrumentSet, "case-5"))   // someone else
	app(entry("cw", apoyo.ActCaseRetry, "batch", "case-6")) // any target counts

	got, err := l.Handled(ctx, "cw", []string{"case-1", "case-2", "case-3", "case-4", "case-5", "case-6", "case-7"})
	require.NoError(t, err)
	require.Equal(t, map[string]bool{"case-1": true, "case-2": true, "case-6": true}, got)
	got, err = l.Handled(ctx, "cw", nil)
	require.NoError(t, err)
	require.Empty(t, got)
	got, err = l.Handled(ctx, "nobody", []string{"case-1"})
	require.NoError(t, err)
	require.Empty(t, got)
	_, err = l.Handled(ctx, "cw", []string{"ok", "\xff"})
	require.ErrorIs(t, err, audit.ErrInvalid)

	app(vote("ap", apoyo.SIBISO, apoyo.ActApprovalVote, apoyo.AuditOK, "case-1"))
	app(vote("ap", apoyo.STyFE, apoyo.ActRosterSign, apoyo.AuditOK, "cycle-1"))
	app(vote("ap", apoyo.SIBISO, apoyo.ActRosterSign, apoyo.AuditOK, "cycle-1"))
	app(vote("ap", apoyo.SEDESA, apoyo.ActApprovalVote, apoyo.AuditDenied, "case-2")) // denied: not acted
	app(vote("ap", apoyo.SEDESA, apoyo.ActRosterRead, apoyo.AuditOK, "cycle-1"))      // a read: not acted
	app(vote("ap2", apoyo.SEDESA, apoyo.ActApprovalVote, apoyo.AuditOK, "case-2"))

	ss, err := l.SecretariatsActedFor(ctx, "ap")
	require.NoError(t, err)
	require.Equal(t, []apoyo.Secretariat{apoyo.SIBISO, apoyo.STyFE}, ss)
	ss, err = l.SecretariatsActedFor(ctx, "cw")
	require.NoError(t, err)
	require.Empty(t, ss)
}

func TestHead(t *testing.T) {
	t.Parallel()
	l, _ := setup(t)
	ctx := context.Background()
	head, err := l.Head(ctx)
	require.NoError(t, err)
	require.Equal(t, apoyo.AuditHead{}, head)
	rep := requireOK(t, l)
	require.Equal(t, int64(0), rep.Entries)
	require.Equal(t, apoyo.AuditHead{}, rep.Head)

	var last apoyo.AuditEntry
	for i := 0; i < 3; i++ {
		last, err = l.Append(ctx, entry("u1", apoyo.ActCaseRead, "case-1"))
		require.NoError(t, err)
	}
	head, err = l.Head(ctx)
	require.NoError(t, err)
	require.Equal(t, apoyo.AuditHead{Seq: 3, Hash: last.Hash, At: last.At}, head)
	require.Equal(t, head, requireOK(t, l).Head)
}

func TestInvalidEntriesAreRefusedBeforeTheDatabase(t *testing.T) {
	t.Parallel()
	l, _ := setup(t)
	ctx := context.Background()
	many := make([]string, audit.MaxTargets+1)
	for i := range many {
		many[i] = fmt.Sprint("case-", i)
	}
	tooManyKeys := map[string]string{}
	for i := 0; i <= audit.MaxDetailKeys; i++ {
		tooManyKeys[fmt.Sprint("k", i)] = "v"
	}
	cases := []struct {
		field string
		mod   func(e *apoyo.AuditEntry)
	}{
		{"actor_name", func(e *apoyo.AuditEntry) { e.ActorName = "a\x00b" }},
		{"actor_id", func(e *apoyo.AuditEntry) { e.ActorID = "\xc3\x28" }},
		{"actor_name", func(e *apoyo.AuditEntry) { e.ActorName = strings.Repeat("ñ", audit.MaxTextLen+1) }},
		{"purpose", func(e *apoyo.AuditEntry) { e.Purpose = strings.Repeat("x", audit.MaxPurposeLen+1) }},
		{"request_id", func(e *apoyo.AuditEntry) { e.RequestID = "\xff" }},
		{"error_reason", func(e *apoyo.AuditEntry) { e.ErrorReason = "x\x00" }},
		{"secretariat", func(e *apoyo.AuditEntry) { e.Secretariat = "\x00" }},
		{"targets[1]", func(e *apoyo.AuditEntry) { e.Targets = []string{"ok", "bad\x00"} }},
		{"targets", func(e *apoyo.AuditEntry) { e.Targets = many }},
		{"detail", func(e *apoyo.AuditEntry) { e.Detail = map[string]string{"k": "v\x00"} }},
		{"detail", func(e *apoyo.AuditEntry) { e.Detail = map[string]string{"k\xff": "v"} }},
		{"detail", func(e *apoyo.AuditEntry) { e.Detail = tooManyKeys }},
		{"action", func(e *apoyo.AuditEntry) { e.Action = "" }},
		{"outcome", func(e *apoyo.AuditEntry) { e.Outcome = "" }},
		{"outcome", func(e *apoyo.AuditEntry) { e.Outcome = "maybe" }},
	}
	for _, c := range cases {
		e := entry("u1", apoyo.ActCaseRead, "case-1")
		c.mod(&e)
		_, err := l.Append(ctx, e)
		require.ErrorIs(t, err, audit.ErrInvalid, c.field)
		var ae *apoyo.Error
		require.ErrorAs(t, err, &ae)
		require.Equal(t, apoyo.EINVALID, ae.Code)
		require.Equal(t, c.field, ae.Field)
		require.NotContains(t, err.Error(), "bad", "the text itself is not echoed")
	}
	head, err := l.Head(ctx)
	require.NoError(t, err)
	require.Zero(t, head.Seq, "nothing was written")

	// At the limits, and with text the database might treat differently
	// (control characters, astral characters, JSON specials), an entry is
	// stored and verifies.
	e := entry("u1", apoyo.ActPersonalDataRead, many[:audit.MaxTargets]...)
	e.ActorName = strings.Repeat("ñ", audit.MaxTextLen)
	e.Purpose = strings.Repeat("😀", audit.MaxPurposeLen-4) + "\t\n\x01\u2028"
	e.Detail = map[string]string{`"quote"\`: "<&>\x7f", "": "empty key", "emoji😀": strings.Repeat("v", audit.MaxDetailValueLen)}
	stored, err := l.Append(ctx, e)
	require.NoError(t, err)
	all, err := l.List(ctx, apoyo.AuditFilter{})
	require.NoError(t, err)
	require.Equal(t, []apoyo.AuditEntry{stored}, all)
	requireOK(t, l)
}
