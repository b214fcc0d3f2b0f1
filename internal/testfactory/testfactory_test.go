package testfactory_test

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/internal/pgtest"
	"github.com/apoyo-cdmx/apoyo/internal/testfactory"
	"github.com/apoyo-cdmx/apoyo/program"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The zero options make a world a test can use as it is.
func TestDefaults(t *testing.T) {
	t.Parallel()
	w := testfactory.New(t, pgtest.New(t))
	ctx := t.Context()

	p := w.Program(t, nil)
	require.Equal(t, "Programa TestDefaults", p.Name)
	require.Equal(t, []string{"city", "gcf", "un"}, []string{p.Funds[0].Code, p.Funds[1].Code, p.Funds[2].Code})
	require.Equal(t, "1000000.00", p.TotalBudget().StringFixed(2))
	avail, err := w.Ledger.AccountBalance(ctx, program.AvailableAccount(p.ID), "")
	require.NoError(t, err)
	require.Equal(t, "1000000.00", avail.StringFixed(2), "the budget is deposited")
	require.Equal(t, "Programa TestDefaults #2", w.Program(t, nil).Name, "names stay unique")

	ids := w.People(t, p.ID, nil)
	require.Len(t, ids, 1)
	got, err := w.Enrol.Get(ctx, ids[0])
	require.NoError(t, err)
	r := got.Record
	require.Equal(t, "Persona", r.GivenNames)
	require.Equal(t, "1990-05-17", r.BirthDate.Format(time.DateOnly))
	require.Equal(t, apoyo.Sex("M"), r.Sex)
	require.Equal(t, "Iztapalapa", r.Alcaldia)
	require.Equal(t, apoyo.RailCashPickup, r.PaymentMethod)
	require.NotEmpty(t, r.CURP)
	require.True(t, r.Consent)

	c := w.Cycle(t, p.ID, nil)
	require.Regexp(t, `^cyc_[a-z0-9]+$`, c.ID)
	require.Equal(t, "2026-11", c.Name)
	require.Equal(t, "2026-11", c.Period)
	require.True(t, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Equal(c.CycleDate))
	require.Equal(t, apoyo.CycleRunning, c.Status)
	_, err = w.Ledger.Account(ctx, program.CycleAccount(p.ID, c.ID, program.CycleCommitted))
	require.Error(t, err, "no accounts unless asked")
}

func TestOptions(t *testing.T) {
	t.Parallel()
	w := testfactory.New(t, pgtest.New(t))
	ctx := t.Context()

	p := w.Program(t, &testfactory.ProgramOpts{Name: "Uno", Budget: decimal.NewFromInt(1000),
		Spec: &apoyo.ProgramSpec{Eligibility: apoyo.EligibilitySpec{Alcaldias: []string{"Tlalpan"}}}})
	require.Equal(t, "Uno", p.Name)
	require.Equal(t, "1000.00", p.TotalBudget().StringFixed(2))
	require.Equal(t, []string{"Tlalpan"}, p.Eligibility.Alcaldias)

	// N people on a rail that needs an instrument get one each.
	spei := w.People(t, p.ID, &testfactory.PeopleOpts{N: 3, Rail: apoyo.RailSPEI})
	require.Len(t, spei, 3)
	require.IsIncreasing(t, spei)
	clabes := map[string]bool{}
	for _, id := range spei {
		got, err := w.Enrol.Get(ctx, id)
		require.NoError(t, err)
		require.Equal(t, apoyo.RailSPEI, got.Record.PaymentMethod)
		clabes[got.Record.CLABE] = true
	}
	require.Len(t, clabes, 3, "distinct CLABEs")

	// Explicit rows over the defaults; a later call returns only its own.
	rows := w.People(t, p.ID, &testfactory.PeopleOpts{Rows: []map[string]string{
		{"given_names": "Ana", "sex": "H", "birth_date": "1985-01-02", "alcaldia": "Tlalpan", "payment_method": "card"},
		{"given_names": "Beto", "id_document_type": "tvrh", "id_document_number": "TVRH99887766"},
	}})
	require.Len(t, rows, 2)
	byName := map[string]string{}
	for _, id := range rows {
		require.NotContains(t, spei, id)
		got, err := w.Enrol.Get(ctx, id)
		require.NoError(t, err)
		byName[got.Record.GivenNames] = id
		switch got.Record.GivenNames {
		case "Ana":
			require.Equal(t, "1985-01-02", got.Record.BirthDate.Format(time.DateOnly))
			require.Equal(t, "Tlalpan", got.Record.Alcaldia)
			require.Equal(t, apoyo.RailCard, got.Record.PaymentMethod)
			require.NotEmpty(t, got.Record.CardNumber)
			require.NotEmpty(t, got.Record.CURP)
		case "Beto":
			require.Empty(t, got.Record.CURP, "a document instead of a CURP")
			require.Equal(t, apoyo.DocTVRH, got.Record.IDDocumentType)
		}
	}
	require.Len(t, byName, 2)

	c := w.Cycle(t, p.ID, &testfactory.CycleOpts{ID: "cyc_fixed0001", Name: "2025-03", Period: "marzo",
		CycleDate: time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC), Accounts: true})
	require.Equal(t, "cyc_fixed0001", c.ID)
	require.Equal(t, "marzo", c.Period)
	for _, s := range program.CycleStates {
		_, err := w.Ledger.Account(ctx, program.CycleAccount(p.ID, c.ID, s))
		require.NoError(t, err, s)
	}
}

func TestBeneficiaryRows(t *testing.T) {
	t.Parallel()
	w := testfactory.New(t, pgtest.New(t))
	p := w.Program(t, nil)
	a := w.Beneficiary(t, p.ID, nil)
	b := w.Beneficiary(t, p.ID, &testfactory.BeneficiaryOpts{Sex: "X", Nationality: "VEN", PopulationGroup: "refugee",
		Alcaldia: "Ecatepec", Rail: apoyo.RailSPEI, Birth: time.Date(2000, 1, 2, 0, 0, 0, 0, time.UTC), Sealed: []byte("s")})
	require.Equal(t, "ben_0000000000000001", a)
	require.Equal(t, "ben_0000000000000002", b)

	type row struct {
		birth, sex, nat, group, alc, method, keyID string
		given                                      []byte
	}
	read := func(id string) row {
		var r row
		require.NoError(t, w.Pool.QueryRow(t.Context(), `SELECT birth_date::text, sex, nationality, population_group, alcaldia,
			payment_method, key_id, given_names FROM beneficiaries WHERE id = $1`, id).
			Scan(&r.birth, &r.sex, &r.nat, &r.group, &r.alc, &r.method, &r.keyID, &r.given))
		return r
	}
	require.Equal(t, row{"1990-05-17", "M", "HND", "asylum_seeker", "Iztapalapa", "cash_pickup", testfactory.KeyID, []byte{0}}, read(a))
	require.Equal(t, row{"2000-01-02", "X", "VEN", "refugee", "Ecatepec", "spei", testfactory.KeyID, []byte("s")}, read(b))
	n, err := w.Enrol.Count(t.Context(), p.ID)
	require.NoError(t, err)
	require.Equal(t, int64(2), n)
}
