package sandbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/bank/sandbox"
	"github.com/apoyo-cdmx/apoyo/payment"
)

// orderPlannedFor finds an order, built by mk from an id, that plan picks
// for kind.
func orderPlannedFor(t *testing.T, plan *sandbox.FaultPlan, kind sandbox.FaultKind, mk func(id string) payment.Order) payment.Order {
	t.Helper()
	for i := 1; i < 100_000; i++ {
		if o := mk(fmt.Sprintf("pay_cyc1_ben%d_1", i)); plan.For(o) == kind {
			return o
		}
	}
	t.Fatalf("no order planned for %s", kind)
	return payment.Order{}
}

func TestFaultPlanIsDeterministicAndHitsAboutTheRate(t *testing.T) {
	t.Parallel()
	a, b, other := &sandbox.FaultPlan{Seed: 7}, &sandbox.FaultPlan{Seed: 7}, &sandbox.FaultPlan{Seed: 8}
	hits, differ := map[sandbox.FaultKind]int{}, 0
	const n = 20_000
	for i := 0; i < n; i++ {
		o := speiOrder(fmt.Sprintf("pay_cyc1_ben%d_1", i), "70000000100")
		o.CallbackURL = "http://127.0.0.1:1/hook"
		k := a.For(o)
		require.Equal(t, k, b.For(o), "same seed, same plan")
		if k != other.For(o) {
			differ++
		}
		hits[k]++
	}
	faulty := n - hits[""]
	require.InDelta(t, 0.2, float64(faulty)/n, 0.02, "about 20%% of orders misbehave")
	for _, k := range sandbox.FaultKinds {
		require.Positive(t, hits[k], "SPEI orders with callbacks can get %s", k)
	}
	require.Positive(t, differ, "another seed, another plan")

	var none *sandbox.FaultPlan
	require.Empty(t, none.For(speiOrder("pay_x_y_1", "70000000100")), "no plan, no faults")
	cash := cashOrder("pay_x_y_1")
	for i := 0; i < 1000; i++ {
		cash.ID = fmt.Sprintf("pay_cyc1_ben%d_1", i)
		require.NotContains(t, []sandbox.FaultKind{sandbox.FaultCancelled, sandbox.FaultReturnAfterSettlement, sandbox.FaultDuplicateCallback,
			sandbox.FaultOutOfOrderCallback}, (&sandbox.FaultPlan{Seed: 1, Rate: 1}).For(cash), "CN and late returns are SPEI answers; callback faults need a callback")
	}
}

func TestFaultUnavailableBeforeAccept(t *testing.T) {
	t.Parallel()
	plan := &sandbox.FaultPlan{Seed: 3, Rate: 1}
	e := newEnv(t, sandbox.Config{Faults: plan})
	ctx := context.Background()
	o := orderPlannedFor(t, plan, sandbox.FaultUnavailableBeforeAccept, func(id string) payment.Order { return cashOrder(id) })

	_, err := e.client.Submit(ctx, o)
	require.Error(t, err)
	require.Equal(t, apoyo.EUNAVAILABLE, apoyo.ErrorCodeOf(err), "a 5xx: %v", err)
	_, err = e.client.Status(ctx, o.ID)
	require.ErrorIs(t, err, payment.ErrUnknownOrder, "the bank did not take it")

	st, err := e.client.Submit(ctx, o)
	require.NoError(t, err, "the retry with the same key is taken")
	require.Equal(t, apoyo.PaymentPending, st.State)
	e.advance(t, "")
	require.Equal(t, []sandbox.MovementKind{sandbox.MovementAccepted, sandbox.MovementSettled}, kinds(e.movements(t, ""), o.ID))
	require.Equal(t, map[sandbox.FaultKind]int{sandbox.FaultUnavailableBeforeAccept: 1}, e.bank.FaultCounts())
}

func TestFaultTimeoutAfterAccept(t *testing.T) {
	t.Parallel()
	plan := &sandbox.FaultPlan{Seed: 3, Rate: 1}
	e := newEnv(t, sandbox.Config{Faults: plan})
	ctx := context.Background()
	o := orderPlannedFor(t, plan, sandbox.FaultTimeoutAfterAccept, func(id string) payment.Order { return cardOrder(id, "1234") })

	_, err := e.client.Submit(ctx, o)
	require.ErrorIs(t, err, payment.ErrUnavailable)
	st, err := e.client.Status(ctx, o.ID)
	require.NoError(t, err, "the bank took the order although the answer was lost")
	again, err := e.client.Submit(ctx, o)
	require.NoError(t, err, "a repeat is answered normally")
	require.Equal(t, st.ProviderRef, again.ProviderRef)
	e.advance(t, "")
	require.Equal(t, []sandbox.MovementKind{sandbox.MovementAccepted, sandbox.MovementSettled}, kinds(e.movements(t, ""), o.ID), "one order, paid once")
	require.Equal(t, 1, e.bank.Faults())
}

func TestFaultCancelledIsACN(t *testing.T) {
	t.Parallel()
	plan := &sandbox.FaultPlan{Seed: 3, Rate: 1}
	e := newEnv(t, sandbox.Config{Faults: plan})
	ctx := context.Background()
	o := orderPlannedFor(t, plan, sandbox.FaultCancelled, func(id string) payment.Order { return speiOrder(id, "70000000100") })

	_, err := e.client.Submit(ctx, o)
	require.NoError(t, err)
	e.advance(t, "")
	st, err := e.client.Status(ctx, o.ID)
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentCancelled, st.State)
	require.Equal(t, payment.SPEICancelled, st.SPEIState)
	require.True(t, st.Final())
	require.Equal(t, []sandbox.MovementKind{sandbox.MovementAccepted, sandbox.MovementCancelled}, kinds(e.movements(t, ""), o.ID))
	lines := e.statementCSV(t, "2025-03-10")
	require.Len(t, lines, 1)
	require.Equal(t, []string{"2025-03-10", o.TrackingKey, o.ID, "5600.00", "CN"}, lines[0][:5])
	_, ben, _, ok := sandbox.ParseOrderID(o.ID, "cyc1")
	require.True(t, ok)
	require.Zero(t, e.bank.Audit("cyc1").Payee("cyc1", ben).Paid, "no money left")
	require.Equal(t, map[sandbox.FaultKind]int{sandbox.FaultCancelled: 1}, e.bank.FaultCounts())
}

func TestFaultReturnAfterSettlement(t *testing.T) {
	t.Parallel()
	plan := &sandbox.FaultPlan{Seed: 3, Rate: 1}
	e := newEnv(t, sandbox.Config{Faults: plan})
	ctx := context.Background()
	o := orderPlannedFor(t, plan, sandbox.FaultReturnAfterSettlement, func(id string) payment.Order { return speiOrder(id, "70000000100") })

	_, err := e.client.Submit(ctx, o)
	require.NoError(t, err)
	e.advance(t, "")
	st, err := e.client.Status(ctx, o.ID)
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentSettled, st.State, "settles first (LQ)")
	require.Zero(t, e.bank.Faults(), "the return has not happened yet")

	e.advance(t, "24h")
	st, err = e.client.Status(ctx, o.ID)
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentReturned, st.State)
	require.NotZero(t, st.ReturnCause)
	require.NotEmpty(t, st.ReturnTrackingKey)
	require.Equal(t, []sandbox.MovementKind{sandbox.MovementReturned}, kinds(e.movements(t, "2025-03-11"), o.ID))
	day2 := e.statementCSV(t, "2025-03-11")
	require.Len(t, day2, 1)
	require.Equal(t, []string{"2025-03-11", o.TrackingKey, o.ID, "5600.00", "D", st.ReturnTrackingKey, fmt.Sprint(st.ReturnCause)}, day2[0][:7],
		"a return line on the day it came back")
	require.NotEmpty(t, day2[0][8], "carrying when the order had settled")
	require.Equal(t, map[sandbox.FaultKind]int{sandbox.FaultReturnAfterSettlement: 1}, e.bank.FaultCounts())

	// The money comes back once.
	e.advance(t, "72h")
	require.Len(t, kinds(e.movements(t, ""), o.ID), 3)
}

// callbackRecorder is a callback endpoint that keeps the states it gets.
func callbackRecorder(t *testing.T) (string, func() []apoyo.PaymentState) {
	var mu sync.Mutex
	var got []apoyo.PaymentState
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var st payment.Status
		if err := json.NewDecoder(r.Body).Decode(&st); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, st.State)
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	return hook.URL + "/hook", func() []apoyo.PaymentState {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}

func TestFaultCallbacks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind sandbox.FaultKind
		want []apoyo.PaymentState
	}{
		{sandbox.FaultDuplicateCallback, []apoyo.PaymentState{apoyo.PaymentPending, apoyo.PaymentPending, apoyo.PaymentSettled, apoyo.PaymentSettled}},
		{sandbox.FaultOutOfOrderCallback, []apoyo.PaymentState{apoyo.PaymentPending, apoyo.PaymentSettled, apoyo.PaymentPending}},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			t.Parallel()
			plan := &sandbox.FaultPlan{Seed: 5, Rate: 1}
			e := newEnv(t, sandbox.Config{Faults: plan})
			url, got := callbackRecorder(t)
			o := orderPlannedFor(t, plan, tc.kind, func(id string) payment.Order {
				o := cardOrder(id, "1234")
				o.CallbackURL = url
				return o
			})
			_, err := e.client.Submit(context.Background(), o)
			require.NoError(t, err)
			e.advance(t, "")
			require.Eventually(t, func() bool { return len(got()) >= len(tc.want) }, 10*time.Second, 5*time.Millisecond)
			require.Equal(t, tc.want, got())
			require.Equal(t, map[sandbox.FaultKind]int{tc.kind: 1}, e.bank.FaultCounts())
		})
	}
}

func TestNoFaultsByDefault(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{})
	ctx := context.Background()
	for i := 0; i < 200; i++ {
		_, err := e.client.Submit(ctx, speiOrder(fmt.Sprintf("pay_cyc1_ben%d_1", i), "70000000100"))
		require.NoError(t, err)
	}
	e.advance(t, "24h")
	for _, m := range e.movements(t, "") {
		require.Contains(t, []sandbox.MovementKind{sandbox.MovementAccepted, sandbox.MovementSettled}, m.Kind)
	}
	require.Zero(t, e.bank.Faults())
}

// TestFaultKeyMakesThePlanIndependentOfIDs: two runs whose order ids differ
// (random cycle and beneficiary ids) but name the same people get the same
// faults once the plan knows orders by a key the seed fixes.
func TestFaultKeyMakesThePlanIndependentOfIDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	faultsOf := func(cycle string) []sandbox.MovementKind {
		e := newEnv(t, sandbox.Config{Faults: &sandbox.FaultPlan{Seed: 11, Rate: 0.5}})
		e.bank.SetFaultKey(func(id string) string {
			_, ben, n, _ := sandbox.ParseOrderID(id, cycle)
			return fmt.Sprintf("%s/%d", ben, n)
		})
		var out []sandbox.MovementKind
		for i := 0; i < 40; i++ {
			o := speiOrder(fmt.Sprintf("pay_%s_p%d_1", cycle, i), "70000000100")
			if _, err := e.client.Submit(ctx, o); err != nil {
				_, err = e.client.Submit(ctx, o) // a 503 or a 504: the retry is taken or answered
				require.NoError(t, err)
			}
		}
		e.advance(t, "")
		for _, m := range e.movements(t, "") {
			out = append(out, m.Kind)
		}
		require.Positive(t, e.bank.Faults())
		return out
	}
	require.Equal(t, faultsOf("cycA"), faultsOf("cycB"), "same people, same faults, whatever the ids")
}
