package ledger_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/ledger"
)

// programmes adds to f, for each named programme, the accounts
// program/accounts.go would (prg:<p>:funding, available, benefits) and
// funds its budget with amount from the city fund.
func (f *fixture) programmes(t *testing.T, amount string, names ...string) {
	t.Helper()
	ctx := context.Background()
	for _, p := range names {
		for _, a := range []ledger.AccountSpec{
			{Code: "prg:" + p + ":funding", Type: apoyo.Equity, Currency: "MXN"},
			{Code: "prg:" + p + ":available", Type: apoyo.Asset, Currency: "MXN", MinBalance: &zero},
			{Code: "prg:" + p + ":benefits", Type: apoyo.Expense, Currency: "MXN"},
		} {
			_, err := f.l.CreateAccount(ctx, a)
			require.NoError(t, err)
		}
		_, err := f.l.Post(ctx, ledger.Transfer("deposit:"+p, "prg:"+p+":available", "prg:"+p+":funding", "city", d(amount), ""))
		require.NoError(t, err)
	}
}

func pay(p string, n int) ledger.TransactionRequest {
	return ledger.Transfer(fmt.Sprintf("pay:%s:%d", p, n), "prg:"+p+":benefits", "prg:"+p+":available", "city", d("5600"), "")
}

func TestEachProgrammeHasItsOwnChain(t *testing.T) {
	t.Parallel()
	f := setup(t, ledger.Options{})
	ctx := context.Background()
	f.fund(t, "city", "100") // chain 0: accounts of no programme
	f.programmes(t, "56000", "a", "b")
	chains := map[int64][]int64{}
	for i := 0; i < 3; i++ {
		for _, p := range []string{"a", "b"} {
			tx, err := f.l.Post(ctx, pay(p, i))
			require.NoError(t, err)
			chains[ledger.ChainOf(tx.ID)] = append(chains[ledger.ChainOf(tx.ID)], tx.ID)
		}
	}
	require.Len(t, chains, 2, "two programmes, two chains: %v", chains)
	for c, ids := range chains {
		require.NotZero(t, c, "a programme's transfers are not on chain 0")
		// Each chain numbers its own transactions without gaps (the
		// deposit was its first).
		for i, id := range ids {
			require.Equal(t, c<<36+int64(i)+2, id)
		}
	}
	rep := requireVerified(t, f.l)
	require.EqualValues(t, 3, rep.Chains)
}

// A programme's writer must not wait for another programme's: with
// programme a's chain head locked (as a batch of a's does while it
// writes), programme b still pays.
func TestProgrammesDoNotWaitForEachOther(t *testing.T) {
	t.Parallel()
	f := setup(t, ledger.Options{})
	ctx := context.Background()
	f.fund(t, "city", "100")
	f.programmes(t, "56000", "a", "b")

	tx, err := f.db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck
	_, err = tx.Exec(ctx, "SELECT 1 FROM ledger_chains WHERE name = 'prg:a' FOR UPDATE")
	require.NoError(t, err)

	short, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = f.l.Post(short, pay("b", 1))
	require.NoError(t, err, "programme b waited for programme a's lock")

	blocked, cancel2 := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel2()
	_, err = f.l.Post(blocked, pay("a", 1))
	require.ErrorIs(t, err, context.DeadlineExceeded, "programme a's own writes do wait for its lock")
	require.NoError(t, tx.Rollback(ctx))
	// The one that waited goes through now (this call is its replay, or
	// the first to reach the writer).
	_, err = f.l.Post(ctx, pay("a", 1))
	require.NoError(t, err)
	requireVerified(t, f.l)
}

// A transfer between two programmes goes to chain 0, so it moves
// programme a's budget without moving a's chain head. A writer that
// remembers a's budget must notice (the per-balance guard), or it would
// write back a balance that forgets the transfer.
func TestRememberedBalanceMovedByAnotherChain(t *testing.T) {
	t.Parallel()
	f := setup(t, ledger.Options{})
	ctx := context.Background()
	f.fund(t, "city", "100")
	f.programmes(t, "11200", "a", "b")
	_, err := f.l.Post(ctx, pay("a", 1)) // a remembers 5,600 left
	require.NoError(t, err)
	moved, err := f.l.Post(ctx, ledger.Transfer("move", "prg:b:available", "prg:a:available", "city", d("5600"), ""))
	require.NoError(t, err)
	require.Zero(t, ledger.ChainOf(moved.ID))
	_, err = f.l.Post(ctx, pay("a", 2))
	require.ErrorIs(t, err, ledger.ErrBalanceRule, "a's budget is empty")
	requireVerified(t, f.l)
}

// Processes that write to new programmes at the same moment each add
// their chain, with distinct numbers.
func TestNewChainsAddedConcurrently(t *testing.T) {
	t.Parallel()
	f := setup(t, ledger.Options{})
	ctx := context.Background()
	f.fund(t, "city", "100")
	names := []string{"p1", "p2", "p3", "p4", "p5", "p6"}
	for _, p := range names {
		for _, a := range []ledger.AccountSpec{
			{Code: "prg:" + p + ":funding", Type: apoyo.Equity, Currency: "MXN"},
			{Code: "prg:" + p + ":available", Type: apoyo.Asset, Currency: "MXN", MinBalance: &zero},
		} {
			_, err := f.l.CreateAccount(ctx, a)
			require.NoError(t, err)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(names))
	for i, p := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := ledger.New(f.db.Pool, ledger.Options{}) // one "process" each
			defer l.Close()
			_, errs[i] = l.Post(ctx, ledger.Transfer("deposit:"+p, "prg:"+p+":available", "prg:"+p+":funding", "city", d("5600"), ""))
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	rep := requireVerified(t, f.l)
	require.EqualValues(t, len(names)+1, rep.Chains)
}

// A forgery in one programme's chain is found and named in that chain;
// the other chains still verify.
func TestForgeryInAProgrammesChain(t *testing.T) {
	t.Parallel()
	f := setup(t, ledger.Options{})
	ctx := context.Background()
	f.fund(t, "city", "100")
	f.programmes(t, "56000", "a", "b")
	var ids []int64
	for i := 0; i < 3; i++ {
		tx, err := f.l.Post(ctx, pay("b", i))
		require.NoError(t, err)
		ids = append(ids, tx.ID)
	}
	// The last row of b's chain removed: b's head, which still names it,
	// gives it away.
	f.forge(t, fmt.Sprintf("DELETE FROM ledger_postings WHERE transaction_id = %d", ids[2]),
		fmt.Sprintf("DELETE FROM ledger_transactions WHERE id = %d", ids[2]))
	rep, err := f.l.Verify(ctx)
	require.NoError(t, err)
	require.False(t, rep.OK)
	var kinds []string
	for _, p := range rep.Problems {
		kinds = append(kinds, p.Kind)
		if p.Kind == "head_mismatch" {
			require.Contains(t, p.Detail, `chain "prg:b"`)
			require.Equal(t, ids[2], p.TransactionID)
		}
	}
	require.Contains(t, kinds, "head_mismatch", "%+v", rep.Problems)
}

// forge runs statements with the append-only triggers off (superuser).
func (f *fixture) forge(t *testing.T, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	conn, err := f.db.Pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	_, err = conn.Exec(ctx, "SET session_replication_role = replica")
	require.NoError(t, err)
	for _, s := range stmts {
		_, err = conn.Exec(ctx, s)
		require.NoError(t, err, s)
	}
	_, err = conn.Exec(ctx, "SET session_replication_role = origin")
	require.NoError(t, err)
}

func problemKinds(rep apoyo.LedgerVerifyReport) []string {
	var kinds []string
	for _, p := range rep.Problems {
		kinds = append(kinds, p.Kind)
	}
	return kinds
}

func TestIncrementalVerifyFromCheckpoints(t *testing.T) {
	t.Parallel()
	f := setup(t, ledger.Options{})
	ctx := context.Background()
	f.fund(t, "city", "100")
	f.programmes(t, "560000", "a")
	for i := 0; i < 5; i++ {
		_, err := f.l.Post(ctx, pay("a", i))
		require.NoError(t, err)
	}
	full := requireVerified(t, f.l) // moves the checkpoints to the heads
	require.EqualValues(t, 7, full.Transactions)

	// Appended since: only those are re-hashed, a new programme's chain
	// whole.
	var last int64
	for i := 5; i < 8; i++ {
		tx, err := f.l.Post(ctx, pay("a", i))
		require.NoError(t, err)
		last = tx.ID
	}
	f.programmes(t, "5600", "b")
	inc, err := f.l.VerifyIncremental(ctx)
	require.NoError(t, err)
	require.True(t, inc.OK, "%+v", inc.Problems)
	require.True(t, inc.Incremental)
	require.EqualValues(t, 4, inc.Transactions, "3 new in a's chain, b's deposit")

	// Nothing new: nothing re-hashed, still OK.
	inc, err = f.l.VerifyIncremental(ctx)
	require.NoError(t, err)
	require.True(t, inc.OK, "%+v", inc.Problems)
	require.Zero(t, inc.Transactions)

	// A row appended after the checkpoint and then rewritten is found.
	tx, err := f.l.Post(ctx, pay("a", 8))
	require.NoError(t, err)
	f.forge(t, fmt.Sprintf("UPDATE ledger_transactions SET description = 'forged' WHERE id = %d", tx.ID))
	inc, err = f.l.VerifyIncremental(ctx)
	require.NoError(t, err)
	require.False(t, inc.OK)
	require.Contains(t, problemKinds(inc), "chain_break")
	// A failed verification does not move the checkpoint past the forgery.
	inc, err = f.l.VerifyIncremental(ctx)
	require.NoError(t, err)
	require.False(t, inc.OK)

	// The checkpointed row itself rewritten: the incremental verify sees
	// the checkpoint no longer holds.
	f.forge(t, fmt.Sprintf("UPDATE ledger_transactions SET hash = sha256(hash) WHERE id = %d", last))
	inc, err = f.l.VerifyIncremental(ctx)
	require.NoError(t, err)
	require.Contains(t, problemKinds(inc), "checkpoint_mismatch")
}

// What the incremental verify does not look at, the full one does: a row
// inside the already verified stretch rewritten.
func TestFullVerifyStillSeesTheVerifiedStretch(t *testing.T) {
	t.Parallel()
	f := setup(t, ledger.Options{})
	ctx := context.Background()
	f.fund(t, "city", "100")
	f.programmes(t, "560000", "a")
	var ids []int64
	for i := 0; i < 4; i++ {
		tx, err := f.l.Post(ctx, pay("a", i))
		require.NoError(t, err)
		ids = append(ids, tx.ID)
	}
	requireVerified(t, f.l)
	f.forge(t, fmt.Sprintf("UPDATE ledger_transactions SET description = 'forged' WHERE id = %d", ids[1]))
	inc, err := f.l.VerifyIncremental(ctx)
	require.NoError(t, err)
	require.True(t, inc.OK, "the incremental verify trusts its checkpoint: %+v", inc.Problems)
	full, err := f.l.Verify(ctx)
	require.NoError(t, err)
	require.False(t, full.OK)
	require.Contains(t, problemKinds(full), "chain_break")
}
