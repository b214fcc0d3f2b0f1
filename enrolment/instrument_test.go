package enrolment_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/enrolment"
)

// Defect 9: the shared-CLABE check import runs also runs when a
// caseworker supplies a new instrument. A CLABE already on file for
// another beneficiary is refused, naming no account number, so a person
// looks before money moves; nothing is changed.
func TestNewInstrumentSharedCLABERefused(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	g := newGen(11)
	a, b := g.person(0), g.person(3) // both pay by SPEI, own CLABEs
	rep := e.importCSV(t, buildCSV(t, a, b), apoyo.ImportOptions{})
	require.Equal(t, 2, rep.Accepted)
	require.Zero(t, rep.Flagged)
	var aID, bID string
	require.NoError(t, e.db.Pool.QueryRow(ctx, "SELECT id FROM beneficiaries WHERE source_row = 2").Scan(&aID))
	require.NoError(t, e.db.Pool.QueryRow(ctx, "SELECT id FROM beneficiaries WHERE source_row = 3").Scan(&bID))

	// b's payment came back; the caseworker types a's CLABE (spaced).
	spaced := a["clabe"][:6] + " " + a["clabe"][6:]
	err := e.store.UpdatePaymentInstrument(ctx, bID, apoyo.RailSPEI, spaced, "")
	require.Error(t, err, "a CLABE on file for another beneficiary must be refused")
	require.Equal(t, "beneficiary.shared_instrument", apoyo.ErrorReasonOf(err), "%v", err)
	require.Equal(t, apoyo.ECONFLICT, apoyo.ErrorCodeOf(err))
	require.NotContains(t, err.Error(), a["clabe"])
	require.NotContains(t, err.Error(), a["clabe"][:6])
	require.NotContains(t, err.Error(), aID, "nor whose it is")

	got, err := e.store.Get(ctx, bID)
	require.NoError(t, err)
	require.Equal(t, b["clabe"], got.Record.CLABE, "nothing changed")
	for _, id := range []string{aID, bID} {
		p, err := e.store.Profile(ctx, id)
		require.NoError(t, err)
		require.Empty(t, p.ReviewFlags)
	}

	// The person's own CLABE again is no sharing.
	require.NoError(t, e.store.UpdatePaymentInstrument(ctx, bID, apoyo.RailSPEI, b["clabe"], ""))
	// Once a person has confirmed the account is shared (a family), it is
	// stored and both are flagged, as import flags them.
	require.NoError(t, e.store.UpdatePaymentInstrumentShared(ctx, bID, apoyo.RailSPEI, spaced, ""))
	for _, id := range []string{aID, bID} {
		p, err := e.store.Profile(ctx, id)
		require.NoError(t, err)
		require.Equal(t, []string{enrolment.FlagSharedCLABE}, p.ReviewFlags)
	}
	got, err = e.store.Get(ctx, bID)
	require.NoError(t, err)
	require.Equal(t, a["clabe"], got.Record.CLABE)
	require.False(t, strings.Contains(got.Record.CLABE, " "))
}
