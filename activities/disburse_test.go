package activities_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/activities"
	"github.com/apoyo-cdmx/apoyo/bank/sandbox"
	"github.com/apoyo-cdmx/apoyo/cases"
	"github.com/apoyo-cdmx/apoyo/ledger"
	"github.com/apoyo-cdmx/apoyo/payment"
	"github.com/apoyo-cdmx/apoyo/program"
	"github.com/apoyo-cdmx/apoyo/workflows"
)

var (
	goodCLABE   = sandbox.CLABE("12345678")
	settledOnce = map[sandbox.MovementKind]int{sandbox.MovementAccepted: 1, sandbox.MovementSettled: 1}
)

func TestDisburseSettlesSPEI(t *testing.T) {
	f := newFixture(t, options{people: []person{{name: "Ana", clabe: goodCLABE}}})
	f.screen("Ana")
	c, b := f.cycle.ID, f.id("Ana")

	res, err := f.act.Disburse(f.ctx, f.disburseIn("Ana", 1))
	require.NoError(t, err)
	city := f.fund("city")
	require.Equal(t, apoyo.PaymentResult{OrderID: f.orderID("Ana", 1), Rail: "spei", State: "settled", Fund: city}, res)
	require.True(t, res.Paid())

	avail := program.AvailableAccount(f.prog.ID)
	f.requireTransfer("commit:"+c+":"+b, f.account(program.CycleCommitted), avail, city, f.amount)
	f.requireTransfer("transit:"+c+":"+b+":1", f.account(program.CycleInTransit), f.account(program.CycleCommitted), city, f.amount)
	f.requireTransfer("settle:"+c+":"+b+":1", f.account(program.CyclePaid), f.account(program.CycleInTransit), city, f.amount)
	require.Equal(t, []string{"commit:" + c + ":" + b, "transit:" + c + ":" + b + ":1", "settle:" + c + ":" + b + ":1"}, f.ledgerKeys("Ana"))
	f.requireBalance(f.account(program.CyclePaid), f.amount)
	f.requireBalance(f.account(program.CycleCommitted), decimal.Zero)
	f.requireBalance(f.account(program.CycleInTransit), decimal.Zero)
	f.requireBalance(avail, f.prog.TotalBudget().Sub(f.amount))

	pays := f.payments("Ana")
	require.Len(t, pays, 1)
	p := pays[res.OrderID]
	require.Equal(t, apoyo.PaymentState("settled"), p.State)
	require.Equal(t, 1, p.Attempt)
	require.Equal(t, apoyo.Rail("spei"), p.Rail)
	require.Equal(t, city, p.Fund)
	require.True(t, f.amount.Equal(p.Amount))
	require.NotEmpty(t, p.ProviderRef)
	require.NotEmpty(t, p.OperationDate)
	paid, err := f.cases.PaidInCycle(f.ctx, c, b)
	require.NoError(t, err)
	require.True(t, paid)

	// No referrals: the case is done.
	proj, err := f.cases.Case(f.ctx, apoyo.CaseID(c, b))
	require.NoError(t, err)
	require.Equal(t, apoyo.StepDone, proj.Step)
	require.Equal(t, apoyo.OutcomeCompleted, proj.Outcome)

	require.Equal(t, settledOnce, f.moves(res.OrderID))
	require.Equal(t, []string{res.OrderID}, f.bankOrders())
	f.verifyLedger()
}

func TestDisburseCashPickupAndCard(t *testing.T) {
	f := newFixture(t, options{people: []person{
		{name: "Beto", method: apoyo.RailCashPickup},
		{name: "Caro", method: apoyo.RailCard, card: sandbox.CardNumber("4242")},
	}})
	f.screen("Beto")
	f.screen("Caro")

	res, err := f.act.Disburse(f.ctx, f.disburseIn("Beto", 1))
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentState("collected"), res.State)
	require.Equal(t, apoyo.Rail("cash_pickup"), res.Rail)
	require.True(t, res.Paid())
	require.Equal(t, map[sandbox.MovementKind]int{sandbox.MovementAccepted: 1, sandbox.MovementSettled: 1, sandbox.MovementCollected: 1},
		f.moves(res.OrderID))

	res, err = f.act.Disburse(f.ctx, f.disburseIn("Caro", 1))
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentState("settled"), res.State)
	require.Equal(t, apoyo.Rail("card"), res.Rail)
	require.Equal(t, settledOnce, f.moves(res.OrderID))

	f.requireBalance(f.account(program.CyclePaid), f.amount.Mul(decimal.NewFromInt(2)))
	f.requireBalance(f.account(program.CycleInTransit), decimal.Zero)
	f.verifyLedger()
}

// Rule 0504: the bank stores the order but the first POST's answer is a
// 504. Disburse must ask for the status and follow that order, never send
// another.
func TestDisburseBankTimeoutFollowsExistingOrder(t *testing.T) {
	f := newFixture(t, options{people: []person{{name: "Dora", clabe: sandbox.CLABE("7770504")}}})
	f.screen("Dora")

	res, err := f.act.Disburse(f.ctx, f.disburseIn("Dora", 1))
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentState("settled"), res.State)

	errs := f.spy.submitErrs()
	require.Len(t, errs, 1, "one POST only")
	require.Error(t, errs[0], "the sandbox answers the first POST with 504")
	require.Equal(t, apoyo.EUNAVAILABLE, apoyo.ErrorCodeOf(errs[0]))

	require.Equal(t, settledOnce, f.moves(res.OrderID), "exactly one order at the bank")
	require.Equal(t, []string{res.OrderID}, f.bankOrders())
	require.Equal(t, apoyo.PaymentState("settled"), f.payments("Dora")[res.OrderID].State)
	f.requireBalance(f.account(program.CyclePaid), f.amount)

	// A retry (the activity timed out after the 504) finds the order.
	again, err := f.act.Disburse(f.ctx, f.disburseIn("Dora", 1))
	require.NoError(t, err)
	require.Equal(t, res, again)
	require.Equal(t, 1, f.spy.submitCount(), "the retry asked the status and did not POST")
	require.Equal(t, settledOnce, f.moves(res.OrderID))
	f.verifyLedger()
}

// An EUNAVAILABLE from Submit that never reached the bank: Disburse asks,
// the bank does not know the order, and the activity fails (retryably)
// without guessing; the retry sends the order once.
func TestDisburseUnknownOutcomeThenRetry(t *testing.T) {
	f := newFixture(t, options{people: []person{{name: "Eva", clabe: goodCLABE}}})
	f.screen("Eva")
	f.spy.set(func(s *spyProvider) { s.submitErr = payment.ErrUnavailable.With("connection reset") })

	_, err := f.act.Disburse(f.ctx, f.disburseIn("Eva", 1))
	require.Error(t, err)
	require.False(t, nonRetryable(err), "an unknown outcome must be retried: %v", err)
	require.Empty(t, f.bankOrders())
	f.requireBalance(f.account(program.CycleInTransit), f.amount)

	f.spy.set(func(s *spyProvider) { s.submitErr = nil })
	res, err := f.act.Disburse(f.ctx, f.disburseIn("Eva", 1))
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentState("settled"), res.State)
	require.Equal(t, settledOnce, f.moves(res.OrderID))
	f.requireBalance(f.account(program.CyclePaid), f.amount)
	f.requireBalance(f.account(program.CycleInTransit), decimal.Zero)
	f.verifyLedger()
}

// Two tries of the same attempt at once: the first asks the bank (no such
// order yet), the second then sends it and sees it settle, and only then
// does the first go on. The person is paid, by this very attempt's order:
// the first try follows that order to the same result instead of failing
// as "already paid" (which would leave the case failed, waiting for a
// retry, over money that was paid once). Seen in CI as a flake of
// TestDisburseRetryNeverPaysTwice; this is the interleaving, on purpose.
func TestDisburseConcurrentTryFinishedMeanwhile(t *testing.T) {
	f := newFixture(t, options{people: []person{{name: "Iris", clabe: sandbox.CLABE("4444")}}})
	f.screen("Iris")
	var second apoyo.PaymentResult
	var secondErr error
	f.spy.set(func(s *spyProvider) {
		s.afterStatus = func() { second, secondErr = f.act.Disburse(f.ctx, f.disburseIn("Iris", 1)) }
	})
	first, err := f.act.Disburse(f.ctx, f.disburseIn("Iris", 1))
	require.NoError(t, secondErr)
	require.Equal(t, apoyo.PaymentSettled, second.State)
	require.NoError(t, err, "the first try follows the order the second one sent")
	require.Equal(t, second, first)
	require.Equal(t, 1, f.spy.submitCount(), "one order left")
	require.Equal(t, settledOnce, f.moves(f.orderID("Iris", 1)))
	f.verifyLedger()
}

func TestDisburseRetryNeverPaysTwice(t *testing.T) {
	f := newFixture(t, options{people: []person{
		{name: "Fer", clabe: sandbox.CLABE("1111")},
		{name: "Gil", clabe: sandbox.CLABE("2222")},
		{name: "Hugo", clabe: sandbox.CLABE("3330504")}, // with a lost answer too
	}})
	for _, n := range []string{"Fer", "Gil", "Hugo"} {
		f.screen(n)
	}

	// Twice in a row: a retry after a crash that lost the first result.
	first, err := f.act.Disburse(f.ctx, f.disburseIn("Fer", 1))
	require.NoError(t, err)
	second, err := f.act.Disburse(f.ctx, f.disburseIn("Fer", 1))
	require.NoError(t, err)
	require.Equal(t, first, second)
	require.Equal(t, apoyo.PaymentState("settled"), first.State)

	// Five workers at once, from scratch.
	for _, name := range []string{"Gil", "Hugo"} {
		results := make([]apoyo.PaymentResult, 5)
		errs := make([]error, 5)
		var wg sync.WaitGroup
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// As Temporal does: retry what is retryable. (Concurrent
				// first inserts of the payment row can race on a unique
				// index that is not the ON CONFLICT target: reported.)
				for try := 0; try < 5; try++ {
					results[i], errs[i] = f.act.Disburse(f.ctx, f.disburseIn(name, 1))
					if errs[i] == nil || nonRetryable(errs[i]) {
						return
					}
					t.Logf("%s #%d: retryable error, retrying: %v", name, i, errs[i])
				}
			}()
		}
		wg.Wait()
		for i := range results {
			require.NoError(t, errs[i], "%s #%d", name, i)
			require.Equal(t, results[0], results[i], "%s #%d", name, i)
		}
		require.Equal(t, apoyo.PaymentState("settled"), results[0].State, name)
	}

	for _, name := range []string{"Fer", "Gil", "Hugo"} {
		c, b := f.cycle.ID, f.id(name)
		require.Equal(t, settledOnce, f.moves(f.orderID(name, 1)), name)
		tx := f.requireTransfer("settle:"+c+":"+b+":1", f.account(program.CyclePaid), f.account(program.CycleInTransit), f.fund("city"), f.amount)
		require.NotZero(t, tx.ID)
		require.Equal(t, []string{"commit:" + c + ":" + b, "transit:" + c + ":" + b + ":1", "settle:" + c + ":" + b + ":1"}, f.ledgerKeys(name), name)
		pays := f.payments(name)
		require.Len(t, pays, 1, name)
		require.Equal(t, apoyo.PaymentState("settled"), pays[f.orderID(name, 1)].State, name)
	}
	require.Len(t, f.bankOrders(), 3)
	f.requireBalance(f.account(program.CyclePaid), f.amount.Mul(decimal.NewFromInt(3)))
	f.requireBalance(program.AvailableAccount(f.prog.ID), f.prog.TotalBudget().Sub(f.amount.Mul(decimal.NewFromInt(3))))
	f.verifyLedger()
}

// A worker dies while it waits for the bank: the retry finds the order
// and follows it to the end; the bank has one order.
func TestDisburseCrashMidPoll(t *testing.T) {
	f := newFixture(t, options{manualClock: true, people: []person{{name: "Iris", clabe: goodCLABE}}})
	f.screen("Iris")
	c, b := f.cycle.ID, f.id("Iris")

	ctx, cancel := context.WithCancel(f.ctx)
	f.spy.set(func(s *spyProvider) { s.afterSubmit = cancel })
	_, err := f.act.Disburse(ctx, f.disburseIn("Iris", 1))
	require.ErrorIs(t, err, context.Canceled)
	orderID := f.orderID("Iris", 1)
	require.Equal(t, map[sandbox.MovementKind]int{sandbox.MovementAccepted: 1}, f.moves(orderID), "the order left and is pending")
	require.Equal(t, apoyo.PaymentState("pending"), f.payments("Iris")[orderID].State)
	f.requireNoTransaction("settle:" + c + ":" + b + ":1")
	f.requireBalance(f.account(program.CycleInTransit), f.amount)

	f.spy.set(func(s *spyProvider) { s.afterSubmit = nil })
	_, err = f.bank.Advance(0) // the bank settles
	require.NoError(t, err)
	res, err := f.act.Disburse(f.ctx, f.disburseIn("Iris", 1))
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentState("settled"), res.State)
	require.Equal(t, 1, f.spy.submitCount(), "the retry did not POST again")
	require.Equal(t, settledOnce, f.moves(orderID))
	require.Equal(t, apoyo.PaymentState("settled"), f.payments("Iris")[orderID].State)
	f.requireBalance(f.account(program.CyclePaid), f.amount)
	f.requireBalance(f.account(program.CycleInTransit), decimal.Zero)
	f.verifyLedger()
}

// The same, with a deadline instead of a cancel (as a heartbeat timeout
// does): the deadline falls while the order is pending.
func TestDisburseDeadlineMidPoll(t *testing.T) {
	f := newFixture(t, options{manualClock: true, people: []person{{name: "Jose", clabe: goodCLABE}}})
	f.screen("Jose")
	ctx := newTripCtx(f.ctx)
	f.spy.set(func(s *spyProvider) { s.afterSubmit = ctx.trip })
	_, err := f.act.Disburse(ctx, f.disburseIn("Jose", 1))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, map[sandbox.MovementKind]int{sandbox.MovementAccepted: 1}, f.moves(f.orderID("Jose", 1)), "the deadline fell while pending")
	f.spy.set(func(s *spyProvider) { s.afterSubmit = nil })
	_, err = f.bank.Advance(0)
	require.NoError(t, err)

	res, err := f.act.Disburse(f.ctx, f.disburseIn("Jose", 1))
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentState("settled"), res.State)
	require.Equal(t, settledOnce, f.moves(res.OrderID))
	f.requireBalance(f.account(program.CyclePaid), f.amount)
	f.verifyLedger()
}

func TestDisburseReturnedThenNewInstrument(t *testing.T) {
	f := newFixture(t, options{people: []person{{name: "Karla", clabe: sandbox.CLABE("1")}}})
	f.screen("Karla")
	c, b := f.cycle.ID, f.id("Karla")
	city := f.fund("city")

	res, err := f.act.Disburse(f.ctx, f.disburseIn("Karla", 1))
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentState("returned"), res.State)
	require.Equal(t, payment.CauseAccountNotFound, res.ReturnCause)
	require.Equal(t, 1, res.ReturnCause)
	require.Equal(t, payment.ReturnCauseText(1), res.Reason)
	require.False(t, res.Paid())
	f.requireTransfer("return:"+c+":"+b+":1", f.account(program.CycleReturned), f.account(program.CycleInTransit), city, f.amount)
	f.requireBalance(f.account(program.CycleReturned), f.amount)
	f.requireBalance(f.account(program.CyclePaid), decimal.Zero)
	p1 := f.payments("Karla")[res.OrderID]
	require.Equal(t, apoyo.PaymentState("returned"), p1.State)
	require.Equal(t, 1, p1.ReturnCause)
	paid, err := f.cases.PaidInCycle(f.ctx, c, b)
	require.NoError(t, err)
	require.False(t, paid)
	// A returned attempt does not finish the case.
	proj, err := f.cases.Case(f.ctx, apoyo.CaseID(c, b))
	require.NoError(t, err)
	require.NotEqual(t, apoyo.StepDone, proj.Step)

	require.NoError(t, f.bens.UpdatePaymentInstrument(f.ctx, b, apoyo.RailSPEI, goodCLABE, ""))
	require.NoError(t, f.cases.RaiseTask(f.ctx, apoyo.CaseID(c, b), "needs_new_instrument", "returned"))
	res2, err := f.act.Disburse(f.ctx, f.disburseIn("Karla", 2))
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentState("settled"), res2.State)
	require.Equal(t, city, res2.Fund, "a later attempt keeps the first attempt's fund")
	require.NotEqual(t, res.OrderID, res2.OrderID)

	f.requireTransfer("transit:"+c+":"+b+":2", f.account(program.CycleInTransit), f.account(program.CycleReturned), city, f.amount)
	f.requireTransfer("settle:"+c+":"+b+":2", f.account(program.CyclePaid), f.account(program.CycleInTransit), city, f.amount)
	require.Equal(t, []string{"commit:" + c + ":" + b, "transit:" + c + ":" + b + ":1", "return:" + c + ":" + b + ":1",
		"transit:" + c + ":" + b + ":2", "settle:" + c + ":" + b + ":2"}, f.ledgerKeys("Karla"))
	f.requireBalance(f.account(program.CycleReturned), decimal.Zero)
	f.requireBalance(f.account(program.CycleInTransit), decimal.Zero)
	f.requireBalance(f.account(program.CycleCommitted), decimal.Zero)
	f.requireBalance(f.account(program.CyclePaid), f.amount)

	require.Equal(t, []string{res.OrderID, res2.OrderID}, f.bankOrders())
	require.Equal(t, map[sandbox.MovementKind]int{sandbox.MovementAccepted: 1, sandbox.MovementReturned: 1}, f.moves(res.OrderID))
	require.Equal(t, settledOnce, f.moves(res2.OrderID))

	pays := f.payments("Karla")
	require.Len(t, pays, 2)
	nPaid := 0
	for _, p := range pays {
		if p.State == "settled" || p.State == "collected" {
			nPaid++
		}
	}
	require.Equal(t, 1, nPaid)
	require.Equal(t, apoyo.PaymentState("returned"), pays[res.OrderID].State)
	require.Equal(t, apoyo.PaymentState("settled"), pays[res2.OrderID].State)

	tasks, err := f.cases.OpenTasks(f.ctx, c, 0)
	require.NoError(t, err)
	require.Empty(t, tasks, "a paid attempt resolves needs_new_instrument")
	f.verifyLedger()
}

func TestDisburseCardRejected(t *testing.T) {
	f := newFixture(t, options{people: []person{{name: "Luis", method: apoyo.RailCard, card: sandbox.CardNumber("0000")}}})
	f.screen("Luis")
	c, b := f.cycle.ID, f.id("Luis")

	res, err := f.act.Disburse(f.ctx, f.disburseIn("Luis", 1))
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentState("rejected"), res.State)
	require.Equal(t, apoyo.Rail("card"), res.Rail)
	require.False(t, res.Paid())
	f.requireTransfer("return:"+c+":"+b+":1", f.account(program.CycleReturned), f.account(program.CycleInTransit), f.fund("city"), f.amount)
	f.requireBalance(f.account(program.CycleReturned), f.amount)
	f.requireBalance(f.account(program.CyclePaid), decimal.Zero)
	require.Equal(t, apoyo.PaymentState("rejected"), f.payments("Luis")[res.OrderID].State)
	require.Equal(t, map[sandbox.MovementKind]int{sandbox.MovementAccepted: 1, sandbox.MovementRejected: 1}, f.moves(res.OrderID))
	f.verifyLedger()
}

// An order the bank refuses outright (HTTP 400): a final answer, booked as
// rejected, not an error to retry.
func TestDisburseOrderRefused(t *testing.T) {
	f := newFixture(t, options{people: []person{{name: "Mar", clabe: goodCLABE}}})
	f.screen("Mar")
	f.spy.set(func(s *spyProvider) { s.submitErr = payment.ErrInvalidOrder.With("CLABE check digit is wrong") })

	res, err := f.act.Disburse(f.ctx, f.disburseIn("Mar", 1))
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentState("rejected"), res.State)
	require.Contains(t, res.Reason, "order refused")
	require.Empty(t, f.bankOrders())
	f.requireBalance(f.account(program.CycleReturned), f.amount)
	require.Equal(t, apoyo.PaymentState("rejected"), f.payments("Mar")[res.OrderID].State)
	f.verifyLedger()
}

func TestRelease(t *testing.T) {
	f := newFixture(t, options{people: []person{
		{name: "Nora", clabe: sandbox.CLABE("2")},
		{name: "Omar", method: apoyo.RailCashPickup},
		{name: "Pia", clabe: sandbox.CLABE("3")},
	}})
	f.screen("Nora")
	f.screen("Pia")
	avail := program.AvailableAccount(f.prog.ID)
	budget := f.prog.TotalBudget()
	city := f.fund("city")

	res, err := f.act.Disburse(f.ctx, f.disburseIn("Nora", 1))
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentState("returned"), res.State)
	require.Equal(t, 2, res.ReturnCause)
	f.requireBalance(avail, budget.Sub(f.amount))

	in := workflows.ReleaseInput{ProgramID: f.prog.ID, CycleID: f.cycle.ID, BeneficiaryID: f.id("Nora"), Reason: "no new instrument"}
	require.NoError(t, f.act.Release(f.ctx, in))
	key := "release:returned:" + f.cycle.ID + ":" + f.id("Nora")
	tx := f.requireTransfer(key, avail, f.account(program.CycleReturned), city, f.amount)
	f.requireNoTransaction("release:committed:" + f.cycle.ID + ":" + f.id("Nora"))
	f.requireBalance(f.account(program.CycleReturned), decimal.Zero)
	f.requireBalance(avail, budget)

	// Again: nothing more moves.
	require.NoError(t, f.act.Release(f.ctx, in))
	again := f.requireTransfer(key, avail, f.account(program.CycleReturned), city, f.amount)
	require.Equal(t, tx.ID, again.ID)
	require.Len(t, f.ledgerKeys("Nora"), 4) // commit, transit, return, release
	f.requireBalance(avail, budget)

	// Never committed: nothing to release.
	require.NoError(t, f.act.Release(f.ctx, workflows.ReleaseInput{ProgramID: f.prog.ID, CycleID: f.cycle.ID, BeneficiaryID: f.id("Omar"), Reason: "ineligible"}))
	require.Empty(t, f.ledgerKeys("Omar"))

	// Two returned attempts: the entitlement comes back once.
	res, err = f.act.Disburse(f.ctx, f.disburseIn("Pia", 1))
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentState("returned"), res.State)
	require.NoError(t, f.bens.UpdatePaymentInstrument(f.ctx, f.id("Pia"), apoyo.RailSPEI, sandbox.CLABE("14"), ""))
	res, err = f.act.Disburse(f.ctx, f.disburseIn("Pia", 2))
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentState("returned"), res.State)
	require.Equal(t, 14, res.ReturnCause)
	require.NoError(t, f.act.Release(f.ctx, workflows.ReleaseInput{ProgramID: f.prog.ID, CycleID: f.cycle.ID, BeneficiaryID: f.id("Pia"), Reason: "failed"}))
	f.requireTransfer("release:returned:"+f.cycle.ID+":"+f.id("Pia"), avail, f.account(program.CycleReturned), city, f.amount)
	f.requireBalance(f.account(program.CycleReturned), decimal.Zero)
	f.requireBalance(avail, budget)
	f.verifyLedger()
}

// Release of a case whose entitlement was committed but whose order never
// left (approval rejected after a commit, say) gives back the commitment.
func TestReleaseCommittedNeverSent(t *testing.T) {
	f := newFixture(t, options{people: []person{{name: "Quim", clabe: goodCLABE}}})
	f.screen("Quim")
	c, b := f.cycle.ID, f.id("Quim")
	avail := program.AvailableAccount(f.prog.ID)
	// The commit Disburse makes first, alone.
	_, err := f.led.Post(f.ctx, func() ledger.TransactionRequest {
		r := ledger.Transfer("commit:"+c+":"+b, f.account(program.CycleCommitted), avail, f.fund("city"), f.amount, "entitlement committed")
		r.Metadata = map[string]string{"program": f.prog.ID, "cycle": c, "beneficiary": b}
		return r
	}())
	require.NoError(t, err)
	in := workflows.ReleaseInput{ProgramID: f.prog.ID, CycleID: c, BeneficiaryID: b, Reason: "cancelled"}
	require.NoError(t, f.act.Release(f.ctx, in))
	require.NoError(t, f.act.Release(f.ctx, in))
	f.requireTransfer("release:committed:"+c+":"+b, avail, f.account(program.CycleCommitted), f.fund("city"), f.amount)
	f.requireBalance(f.account(program.CycleCommitted), decimal.Zero)
	f.requireBalance(avail, f.prog.TotalBudget())
	f.verifyLedger()
}

// Reserved mode: the cycle reserved every case's amount at launch, so
// Disburse draws on the reservation (no commit) and CloseCycle gives back
// what is left.
func TestDisburseReservedAndCloseCycle(t *testing.T) {
	f := newFixture(t, options{people: []person{
		{name: "Rosa", clabe: goodCLABE},
		{name: "Saul", clabe: sandbox.CLABE("1")},
		{name: "Tere", clabe: sandbox.CLABE("87654321")},
	}})
	c := f.cycle.ID
	city := f.fund("city")
	avail := program.AvailableAccount(f.prog.ID)
	committed := f.account(program.CycleCommitted)
	reserved := f.amount.Mul(decimal.NewFromInt(3))
	_, err := f.led.Post(f.ctx, ledger.TransactionRequest{IdempotencyKey: "reserve:" + c + ":" + city, Currency: "MXN",
		Description: "cycle reservation", Metadata: map[string]string{"program": f.prog.ID, "cycle": c},
		Postings: []ledger.Posting{
			{Account: committed, Fund: city, Direction: ledger.Debit, Amount: reserved},
			{Account: avail, Fund: city, Direction: ledger.Credit, Amount: reserved},
		}})
	require.NoError(t, err)
	budget := f.prog.TotalBudget()
	f.requireBalance(avail, budget.Sub(reserved))

	for _, n := range []string{"Rosa", "Saul"} {
		f.screen(n)
	}
	in := f.disburseIn("Rosa", 1)
	in.Reserved, in.Fund = true, city
	res, err := f.act.Disburse(f.ctx, in)
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentState("settled"), res.State)
	require.Equal(t, city, res.Fund)
	b := f.id("Rosa")
	f.requireNoTransaction("commit:" + c + ":" + b)
	f.requireTransfer("transit:"+c+":"+b+":1", f.account(program.CycleInTransit), committed, city, f.amount)
	f.requireTransfer("settle:"+c+":"+b+":1", f.account(program.CyclePaid), f.account(program.CycleInTransit), city, f.amount)

	in = f.disburseIn("Saul", 1)
	in.Reserved, in.Fund = true, city
	res, err = f.act.Disburse(f.ctx, in)
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentState("returned"), res.State)
	f.requireNoTransaction("commit:" + c + ":" + f.id("Saul"))
	rel := workflows.ReleaseInput{ProgramID: f.prog.ID, CycleID: c, BeneficiaryID: f.id("Saul"), Reason: "no instrument", Reserved: true, Fund: city}
	require.NoError(t, f.act.Release(f.ctx, rel))
	require.NoError(t, f.act.Release(f.ctx, rel))
	f.requireTransfer("release:returned:"+c+":"+f.id("Saul"), avail, f.account(program.CycleReturned), city, f.amount)
	f.requireNoTransaction("release:committed:" + c + ":" + f.id("Saul"))

	// Tere never got going: her share is still committed. A reserved
	// Release for her moves nothing (CloseCycle does).
	require.NoError(t, f.act.Release(f.ctx, workflows.ReleaseInput{ProgramID: f.prog.ID, CycleID: c, BeneficiaryID: f.id("Tere"),
		Reason: "cancelled", Reserved: true, Fund: city}))
	f.requireBalance(committed, f.amount)
	f.requireBalance(avail, budget.Sub(reserved).Add(f.amount))

	closeIn := workflows.CloseCycleInput{ProgramID: f.prog.ID, CycleID: c, Status: "done"}
	require.NoError(t, f.act.CloseCycle(f.ctx, closeIn))
	tx := f.requireTransfer("close:"+c+":"+city, avail, committed, city, f.amount)
	f.requireBalance(committed, decimal.Zero)
	f.requireBalance(avail, budget.Sub(f.amount))
	cyc, err := f.cases.Cycle(f.ctx, c)
	require.NoError(t, err)
	require.Equal(t, apoyo.CycleStatus("closed"), cyc.Status)

	require.NoError(t, f.act.CloseCycle(f.ctx, closeIn))
	again := f.requireTransfer("close:"+c+":"+city, avail, committed, city, f.amount)
	require.Equal(t, tx.ID, again.ID)
	f.requireBalance(avail, budget.Sub(f.amount))
	f.requireBalance(f.account(program.CyclePaid), f.amount)
	require.Equal(t, settledOnce, f.moves(f.orderID("Rosa", 1)))
	require.Len(t, f.bankOrders(), 2)
	f.verifyLedger()
}

// Temporal runs an activity at least once: a worker that dies after
// Disburse finished but before Temporal heard of it runs it again. If the
// bank's answer changed meanwhile (rule 0013: settled, then returned), the
// rerun books the return as a late return (paid → returned, the entry
// reconciliation posts too), never from in_transit, which holds other
// cases' money, and never twice.
func TestDisburseRerunAfterLateReturn(t *testing.T) {
	f := newFixture(t, options{settleDelay: 50 * time.Millisecond, returnDelay: 300 * time.Millisecond, people: []person{
		{name: "Hana", clabe: sandbox.CLABE("90013")},
		{name: "Iker", clabe: goodCLABE},
	}})
	f.screen("Hana")
	f.screen("Iker")
	c, b := f.cycle.ID, f.id("Hana")
	city := f.fund("city")

	// Iker's order is in flight (his worker died while polling): his
	// money is in transit meanwhile.
	ctx, cancel := context.WithCancel(f.ctx)
	f.spy.set(func(s *spyProvider) { s.afterSubmit = cancel })
	_, err := f.act.Disburse(ctx, f.disburseIn("Iker", 1))
	require.ErrorIs(t, err, context.Canceled)
	f.spy.set(func(s *spyProvider) { s.afterSubmit = nil })

	first, err := f.act.Disburse(f.ctx, f.disburseIn("Hana", 1))
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentState("settled"), first.State)
	require.Eventually(t, func() bool { return f.moves(first.OrderID)[sandbox.MovementReturned] == 1 }, 5*time.Second, 10*time.Millisecond)

	for range 2 {
		rerun, err := f.act.Disburse(f.ctx, f.disburseIn("Hana", 1))
		require.NoError(t, err)
		require.Equal(t, apoyo.PaymentState("returned"), rerun.State)
		require.Equal(t, payment.CauseNotRecognised, rerun.ReturnCause)
		require.Equal(t, first.OrderID, rerun.OrderID)
	}
	require.Equal(t, 1, f.spy.submitCount()-1, "Hana's order was sent once") // the other is Iker's
	require.Equal(t, map[sandbox.MovementKind]int{sandbox.MovementAccepted: 1, sandbox.MovementSettled: 1, sandbox.MovementReturned: 1},
		f.moves(first.OrderID))
	f.requireNoTransaction("return:" + c + ":" + b + ":1")
	f.requireTransfer("late-return:"+c+":"+b+":1", f.account(program.CycleReturned), f.account(program.CyclePaid), city, f.amount)
	require.Equal(t, []string{"commit:" + c + ":" + b, "transit:" + c + ":" + b + ":1", "settle:" + c + ":" + b + ":1",
		"late-return:" + c + ":" + b + ":1"}, f.ledgerKeys("Hana"))
	f.requireBalance(f.account(program.CycleInTransit), f.amount) // Iker's, untouched
	f.requireBalance(f.account(program.CyclePaid), decimal.Zero)
	f.requireBalance(f.account(program.CycleReturned), f.amount)
	pay := f.payments("Hana")[first.OrderID]
	require.Equal(t, apoyo.PaymentState("returned"), pay.State)
	require.Equal(t, payment.CauseNotRecognised, pay.ReturnCause)

	// Released, the late-returned money goes back to the budget once.
	rel := workflows.ReleaseInput{ProgramID: f.prog.ID, CycleID: c, BeneficiaryID: b, Reason: "not recognised"}
	require.NoError(t, f.act.Release(f.ctx, rel))
	require.NoError(t, f.act.Release(f.ctx, rel))
	f.requireTransfer("release:returned:"+c+":"+b, program.AvailableAccount(f.prog.ID), f.account(program.CycleReturned), city, f.amount)
	f.requireBalance(f.account(program.CycleReturned), decimal.Zero)

	// Iker's retry still finds his money in transit and settles.
	res, err := f.act.Disburse(f.ctx, f.disburseIn("Iker", 1))
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentState("settled"), res.State)
	f.requireBalance(f.account(program.CycleInTransit), decimal.Zero)
	f.requireBalance(program.AvailableAccount(f.prog.ID), f.prog.TotalBudget().Sub(f.amount))
	f.verifyLedger()
}

// tripCtx is a context whose deadline passes when the test says so (as a
// heartbeat timeout does), not after some real-clock time.
type tripCtx struct {
	context.Context
	done chan struct{}
	once sync.Once
}

func newTripCtx(parent context.Context) *tripCtx {
	return &tripCtx{Context: parent, done: make(chan struct{})}
}

func (c *tripCtx) trip()                 { c.once.Do(func() { close(c.done) }) }
func (c *tripCtx) Done() <-chan struct{} { return c.done }
func (c *tripCtx) Err() error {
	select {
	case <-c.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

// Paid twice, unseen before: another person's returned money sits in the
// same cycle's returned account, so a second attempt for a person already
// paid could draw on it and leave for the bank. Disburse refuses it, and
// the bank's own record shows the person paid exactly once. (Removing the
// already-paid check makes this test fail: the bank pays Alma twice.)
func TestDisburseSecondAttemptAfterPaidRefusedWithReturnedMoneyInCycle(t *testing.T) {
	f := newFixture(t, options{people: []person{{name: "Alma", clabe: goodCLABE}, {name: "Beto", clabe: sandbox.CLABE("1")}}})
	f.screen("Alma")
	f.screen("Beto")
	res, err := f.act.Disburse(f.ctx, f.disburseIn("Alma", 1))
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentState("settled"), res.State)
	back, err := f.act.Disburse(f.ctx, f.disburseIn("Beto", 1))
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentState("returned"), back.State)
	f.requireBalance(f.account(program.CycleReturned), f.amount) // Beto's money, drawable by a later attempt

	_, err = f.act.Disburse(f.ctx, f.disburseIn("Alma", 2))
	require.Equal(t, cases.ErrAlreadyPaid.Reason, reasonOf(err), "%v", err)
	require.True(t, nonRetryable(err))

	alma := f.bankPaid("Alma")
	require.Equal(t, 1, alma.Orders, "the bank saw one order for Alma")
	require.Equal(t, 1, alma.Net, "paid exactly once by the bank's own record")
	require.Zero(t, f.bank.Audit(f.cycle.ID).DoublePaid)
	f.requireBalance(f.account(program.CycleReturned), f.amount) // untouched
	f.verifyLedger()
}

// Defect: a cancel could race an order still being sent. A try of Disburse
// whose call to the bank is still running (its worker lost the heartbeat,
// not the connection) is overtaken by a retry; the cycle is cancelled
// meanwhile. The retry finds no order at the bank, but must not take that
// for "never sent" and give the money back: the first call then reaches
// the bank. It asks again later instead, and once the call has ended the
// order is followed to its end.
func TestDisburseCancelNeverRacesASendInFlight(t *testing.T) {
	f := newFixture(t, options{manualClock: true, people: []person{{name: "Zoe", clabe: goodCLABE}}})
	f.screen("Zoe")
	blocked, release := make(chan struct{}), make(chan struct{})
	f.spy.set(func(s *spyProvider) {
		s.beforeSubmit = func() { close(blocked); <-release }
	})
	firstCtx, cancelFirst := context.WithCancel(f.ctx)
	defer cancelFirst()
	firstErr := make(chan error, 1)
	go func() {
		_, err := f.act.Disburse(firstCtx, f.disburseIn("Zoe", 1))
		firstErr <- err
	}()
	<-blocked // the first try is inside Submit, its request not yet at the bank
	f.spy.set(func(s *spyProvider) { s.beforeSubmit = nil; s.afterSubmit = cancelFirst })
	require.NoError(t, f.cases.SetCycleStatus(f.ctx, f.cycle.ID, "cancelled"))

	_, err := f.act.Disburse(f.ctx, f.disburseIn("Zoe", 1))
	require.Equal(t, activities.ErrSendInFlight.Reason, reasonOf(err), "the retry must not conclude 'never sent': %v", err)
	require.False(t, nonRetryable(err))
	f.requireBalance(f.account(program.CycleInTransit), f.amount)

	close(release) // the first call reaches the bank after all
	require.ErrorIs(t, <-firstErr, context.Canceled)
	require.Equal(t, map[sandbox.MovementKind]int{sandbox.MovementAccepted: 1}, f.moves(f.orderID("Zoe", 1)))
	_, err = f.bank.Advance(0)
	require.NoError(t, err)
	f.spy.set(func(s *spyProvider) { s.afterSubmit = nil })

	res, err := f.act.Disburse(f.ctx, f.disburseIn("Zoe", 1))
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentState("settled"), res.State, "the order that left is followed to its end")
	require.False(t, res.CycleCancelled)
	require.Equal(t, 1, f.bankPaid("Zoe").Net)
	f.requireBalance(f.account(program.CyclePaid), f.amount)
	f.requireBalance(f.account(program.CycleInTransit), decimal.Zero)
	f.verifyLedger()
}
