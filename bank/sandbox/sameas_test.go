package sandbox_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/bank/sandbox"
	"github.com/apoyo-cdmx/apoyo/payment"
	"github.com/apoyo-cdmx/apoyo/payment/httpprovider"
)

// TestResubmitWithAnotherInstrumentIsAConflict resubmits an order under its
// own id and key with the money going elsewhere (another CLABE, another
// card, another rail): the bank must refuse it as an idempotency conflict,
// before and after settlement and after a restart from its journal, and pay
// once, to the first instrument. Under another key the id is taken
// (duplicate order id). Over HTTP with the real client, as Disburse talks.
func TestResubmitWithAnotherInstrumentIsAConflict(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	spei := speiOrder("pay_1_b1_1", "12345")
	card := cardOrder("pay_1_b2_1", "4242")

	otherCLABE := spei
	otherCLABE.Beneficiary = payment.Instrument{CLABE: sandbox.CLABE("54321")}
	clabePlusCard := spei
	clabePlusCard.Beneficiary.CardNumber = sandbox.CardNumber("4242")
	otherCard := card
	otherCard.Beneficiary = payment.Instrument{CardNumber: sandbox.CardNumber("1881")}
	cardToSPEI := card
	cardToSPEI.Rail, cardToSPEI.Beneficiary = apoyo.RailSPEI, payment.Instrument{CLABE: sandbox.CLABE("12345")}
	cardToSPEI.Reference = payment.NewReference(card.ID)
	conflicts := map[string]payment.Order{
		"another CLABE":        otherCLABE,
		"a card added":         clabePlusCard,
		"another card":         otherCard,
		"card order as a SPEI": cardToSPEI,
	}
	for _, o := range []payment.Order{otherCLABE, otherCard, cardToSPEI} {
		require.NoError(t, payment.ValidateOrder(o), "the conflicting orders are valid on their own")
	}

	path := filepath.Join(t.TempDir(), "bank.jsonl")
	clock := &fakeClock{t: monday10}
	b, err := sandbox.Open(sandbox.Config{Now: clock.Now, JournalPath: path})
	require.NoError(t, err)
	client, stop := serve(t, b)

	check := func(when string) {
		t.Helper()
		for what, o := range conflicts {
			_, err := client.Submit(ctx, o)
			require.ErrorIs(t, err, payment.ErrIdempotencyConflict, "%s, %s: accepted as a replay", what, when)
			require.Equal(t, apoyo.ECONFLICT, apoyo.ErrorCodeOf(err), "%s, %s", what, when)
		}
		// The same order id under a new key: the id is taken, whatever the
		// instrument.
		o := otherCLABE
		o.IdempotencyKey = "another-key"
		_, err := client.Submit(ctx, o)
		require.ErrorIs(t, err, payment.ErrDuplicateOrderID, when)
		require.Equal(t, apoyo.ECONFLICT, apoyo.ErrorCodeOf(err), when)
		// And the true repeats are still replays.
		for _, o := range []payment.Order{spei, card} {
			_, err := client.Submit(ctx, o)
			require.NoError(t, err, "%s: a true repeat, %s", o.ID, when)
		}
	}

	for _, o := range []payment.Order{spei, card} {
		_, err := client.Submit(ctx, o)
		require.NoError(t, err)
	}
	check("while pending")
	_, err = b.Advance(0)
	require.NoError(t, err)
	check("after settlement")
	stop()
	require.NoError(t, b.Close())

	b, err = sandbox.Open(sandbox.Config{Now: clock.Now, JournalPath: path})
	require.NoError(t, err)
	client, stop = serve(t, b)
	defer stop()
	t.Cleanup(func() { _ = b.Close() })
	check("after a restart from the journal")

	accepted := map[string][]payment.Instrument{}
	for _, m := range b.Movements("") {
		if m.Kind == sandbox.MovementAccepted {
			accepted[m.OrderID] = append(accepted[m.OrderID], m.Order.Beneficiary)
		}
	}
	require.Equal(t, map[string][]payment.Instrument{
		spei.ID: {spei.Beneficiary},
		card.ID: {card.Beneficiary},
	}, accepted, "each order accepted once, to its first instrument")
}

// serve puts b behind an httptest server and returns the real client and a
// stop function.
func serve(t *testing.T, b *sandbox.Bank) (*httpprovider.Client, func()) {
	t.Helper()
	srv := httptest.NewServer(b.Handler())
	return httpprovider.NewClient(srv.URL, srv.Client()), srv.Close
}
