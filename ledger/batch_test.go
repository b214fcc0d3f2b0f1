package ledger_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo/ledger"
)

// The remembered path (headCache) must give every answer the locking path
// gives: each test warms the memory, changes something behind it, and
// checks the next answer.

func TestRememberedPathIsTaken(t *testing.T) {
	t.Parallel()
	f := setup(t, ledger.Options{})
	ctx := context.Background()
	f.fund(t, "city", "100000")
	for i := 0; i < 10; i++ {
		_, err := f.l.Post(ctx, ledger.Transfer(fmt.Sprintf("pay:%d", i), "benefits", "budget", "city", d("5600"), ""))
		require.NoError(t, err)
	}
	// The first transfer between these accounts reads them; the rest go
	// through memory.
	require.GreaterOrEqual(t, f.l.RememberedForTest(), int64(9))
	requireVerified(t, f.l)
}

func TestRememberedPathSeesAnotherProcessesWrites(t *testing.T) {
	t.Parallel()
	f := setup(t, ledger.Options{})
	other := ledger.New(f.db.Pool, ledger.Options{})
	t.Cleanup(other.Close)
	ctx := context.Background()
	f.fund(t, "city", "11200")
	_, err := f.l.Post(ctx, ledger.Transfer("pay:1", "benefits", "budget", "city", d("5600"), ""))
	require.NoError(t, err)
	// The other process spends the rest of the budget; this one still
	// remembers 5,600 in it.
	_, err = other.Post(ctx, ledger.Transfer("pay:2", "benefits", "budget", "city", d("5600"), ""))
	require.NoError(t, err)
	_, err = f.l.Post(ctx, ledger.Transfer("pay:3", "benefits", "budget", "city", d("5600"), ""))
	require.ErrorIs(t, err, ledger.ErrBalanceRule)
	requireVerified(t, f.l)
}

func TestRememberedPathSeesAClosedAccount(t *testing.T) {
	t.Parallel()
	f := setup(t, ledger.Options{})
	other := ledger.New(f.db.Pool, ledger.Options{})
	t.Cleanup(other.Close)
	ctx := context.Background()
	f.fund(t, "city", "20000")
	_, err := f.l.Post(ctx, ledger.Transfer("pay:1", "benefits", "budget", "city", d("5600"), ""))
	require.NoError(t, err)
	require.NoError(t, other.CloseAccount(ctx, "benefits"))
	_, err = f.l.Post(ctx, ledger.Transfer("pay:2", "benefits", "budget", "city", d("5600"), ""))
	require.ErrorIs(t, err, ledger.ErrAccountClosed)
}

func TestRememberedPathReplaysWhatTheRuleWouldNowRefuse(t *testing.T) {
	t.Parallel()
	f := setup(t, ledger.Options{})
	ctx := context.Background()
	f.fund(t, "city", "5600")
	first, err := f.l.Post(ctx, ledger.Transfer("pay:1", "benefits", "budget", "city", d("5600"), ""))
	require.NoError(t, err)
	// The budget is empty now: a retry of the same payment is its replay,
	// not a broken rule, and not a second payment.
	again, err := f.l.Post(ctx, ledger.Transfer("pay:1", "benefits", "budget", "city", d("5600"), ""))
	require.NoError(t, err)
	require.True(t, again.Replayed)
	require.Equal(t, first.ID, again.ID)
	// A replay while money remains goes through memory first, meets the
	// recorded key in the database, and is answered as a replay too.
	f.fund(t, "city", "20000")
	_, err = f.l.Post(ctx, ledger.Transfer("pay:2", "benefits", "budget", "city", d("5600"), ""))
	require.NoError(t, err)
	again, err = f.l.Post(ctx, ledger.Transfer("pay:1", "benefits", "budget", "city", d("5600"), ""))
	require.NoError(t, err)
	require.True(t, again.Replayed)
	require.Equal(t, first.ID, again.ID)
	requireVerified(t, f.l)
}
