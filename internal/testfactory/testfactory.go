// Package testfactory builds the world integration tests run in: a
// programme with its ledger accounts and budget, people enrolled in it,
// cycles. Only tests import it.
//
// Each function makes one thing on a World (the stores on one test's
// pgtest database) and takes an options struct whose zero value, or nil,
// means sensible defaults; every field says its default. What a test does
// not set is what no assertion of it should depend on: a test that checks a
// value passes it.
//
//	w := testfactory.New(t, pgtest.New(t))
//	p := w.Program(t, nil)
//	ids := w.People(t, p.ID, &testfactory.PeopleOpts{N: 3})
//	c := w.Cycle(t, p.ID, &testfactory.CycleOpts{Accounts: true})
package testfactory

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/beneficiary"
	"github.com/apoyo-cdmx/apoyo/cases"
	"github.com/apoyo-cdmx/apoyo/enrolment"
	"github.com/apoyo-cdmx/apoyo/internal/pgtest"
	"github.com/apoyo-cdmx/apoyo/ledger"
	"github.com/apoyo-cdmx/apoyo/mxid"
	"github.com/apoyo-cdmx/apoyo/pii"
	"github.com/apoyo-cdmx/apoyo/program"
)

// KeyID is the id of the test PII key Keys returns; beneficiary rows made
// by Beneficiary carry it too.
const KeyID = "k1"

// Keys returns the test PII keys: encryption key KeyID, 32 bytes of 0x01,
// and an index key of 32 bytes of 0x02. They protect nothing and must never
// be configured anywhere else.
func Keys(t testing.TB) (*pii.Keyring, *pii.Indexer) {
	t.Helper()
	kr, err := pii.NewKeyring(map[string][]byte{KeyID: bytes.Repeat([]byte{1}, pii.KeySize)}, KeyID)
	require.NoError(t, err)
	ix, err := pii.NewIndexer(bytes.Repeat([]byte{2}, pii.KeySize))
	require.NoError(t, err)
	return kr, ix
}

// World is the stores of one test's database, sealing personal data with
// the test keys (Keys). Its methods are for one goroutine at a time.
type World struct {
	Pool     *pgxpool.Pool
	Ledger   *ledger.Ledger
	Programs *program.Store
	Enrol    *enrolment.Store
	Cases    *cases.Store
	Keyring  *pii.Keyring
	Indexer  *pii.Indexer

	rng      *rand.Rand      // CURPs and CLABEs of People
	seen     map[string]bool // CURPs and CLABEs People made
	programs int             // programmes Program made
	rows     int             // rows Beneficiary inserted
}

// New returns the stores on db (pgtest.New), with the test keys. The
// ledger is closed when the test ends.
func New(t testing.TB, db *pgtest.DB) *World {
	t.Helper()
	kr, ix := Keys(t)
	led := ledger.New(db.Pool, ledger.Options{})
	t.Cleanup(led.Close)
	return &World{Pool: db.Pool, Ledger: led, Programs: program.NewStore(db.Pool), Enrol: enrolment.NewStore(db.Pool, kr, ix),
		Cases: cases.NewStore(db.Pool), Keyring: kr, Indexer: ix, rng: rand.New(rand.NewPCG(1, 2)), seen: map[string]bool{}}
}

// ProgramOpts tune Program.
type ProgramOpts struct {
	// Name is the programme's name. Default: "Programa " and the test's
	// name, then " #2", " #3"… for further programmes of the World.
	Name string
	// Budget is split over the city, GCF and UN funds by
	// program.DefaultFunds. Default: 1,000,000.
	Budget decimal.Decimal
	// Spec is the rest of the programme (eligibility, approval, identity,
	// referrals, benefit amount). Default: the zero spec, program.Build's
	// defaults. Its Name and Funds, when set, win over Name and Budget.
	Spec *apoyo.ProgramSpec
}

// Program creates a programme (program.Build, then the store, which opens
// its ledger accounts and deposits its budget) and returns it as stored.
func (w *World) Program(t testing.TB, o *ProgramOpts) apoyo.Program {
	t.Helper()
	if o == nil {
		o = &ProgramOpts{}
	}
	w.programs++
	var spec apoyo.ProgramSpec
	if o.Spec != nil {
		spec = *o.Spec
	}
	if spec.Name == "" {
		spec.Name = o.Name
	}
	if spec.Name == "" {
		spec.Name = "Programa " + t.Name()
		if w.programs > 1 {
			spec.Name += fmt.Sprintf(" #%d", w.programs)
		}
		if r := []rune(spec.Name); len(r) > 200 { // the column's limit; keep the #n
			spec.Name = string(r[len(r)-200:])
		}
	}
	if spec.Funds == nil {
		budget := o.Budget
		if budget.IsZero() {
			budget = decimal.NewFromInt(1_000_000)
		}
		spec.Funds = program.DefaultFunds(budget)
	}
	p, err := program.Build(spec, time.Now())
	require.NoError(t, err)
	p, err = w.Programs.Create(t.Context(), p, w.Ledger)
	require.NoError(t, err)
	return p
}

// personDefaults are the columns People fills in a row that leaves them
// empty (PeopleOpts.Rows lists them).
var personDefaults = map[string]string{
	"given_names":      "Persona",
	"first_surname":    "Prueba",
	"birth_date":       "1990-05-17",
	"sex":              "M",
	"nationality":      "HND",
	"population_group": "asylum_seeker",
	"alcaldia":         "Iztapalapa",
	"household_size":   "2",
	"phone":            "5512345678",
	"consent":          "yes",
}

// PeopleOpts tune People.
type PeopleOpts struct {
	// N is how many people to enrol when Rows is empty, each made of the
	// defaults alone. Default: 1.
	N int
	// Rail is the payment_method of a row without one. Default:
	// cash_pickup. A spei row without a clabe gets a generated valid CLABE
	// (distinct within the World); a card row without a card_number gets
	// 4111111111111111.
	Rail apoyo.Rail
	// Rows, when set, are the people, one roster row each, keyed by
	// column (beneficiary.Columns); N is then ignored. Default: none.
	// Empty columns take these defaults: given_names Persona,
	// first_surname Prueba, birth_date 1990-05-17, sex M, nationality HND,
	// population_group asylum_seeker, alcaldia Iztapalapa, household_size
	// 2, phone 5512345678, consent yes, payment_method Rail; and a row
	// with neither curp nor id_document_type gets a valid CURP for its
	// birth_date and sex, distinct within the World.
	Rows []map[string]string
}

// People enrols people in a programme through a roster CSV import, as a
// programme manager does, and requires every row accepted. It returns the
// new beneficiaries' ids, sorted.
func (w *World) People(t testing.TB, programID string, o *PeopleOpts) []string {
	t.Helper()
	if o == nil {
		o = &PeopleOpts{}
	}
	rows := o.Rows
	if len(rows) == 0 {
		n := o.N
		if n == 0 {
			n = 1
		}
		rows = make([]map[string]string, n)
	}
	rail := o.Rail
	if rail == "" {
		rail = apoyo.RailCashPickup
	}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	require.NoError(t, cw.Write(beneficiary.Columns))
	for _, given := range rows {
		row := w.person(t, given, rail)
		rec := make([]string, len(beneficiary.Columns))
		for i, c := range beneficiary.Columns {
			rec[i] = row[c]
		}
		require.NoError(t, cw.Write(rec))
	}
	cw.Flush()
	require.NoError(t, cw.Error())

	before := w.ids(t, programID)
	rep, err := w.Enrol.Import(t.Context(), programID, &buf, apoyo.ImportOptions{})
	require.NoError(t, err)
	require.Equal(t, len(rows), rep.Accepted, "import errors: %+v", rep.Errors)
	var ids []string
	for id := range w.ids(t, programID) {
		if !before[id] {
			ids = append(ids, id)
		}
	}
	require.Len(t, ids, len(rows))
	slices.Sort(ids)
	return ids
}

// person is a roster row: given over personDefaults, with the generated
// values filled in.
func (w *World) person(t testing.TB, given map[string]string, rail apoyo.Rail) map[string]string {
	t.Helper()
	row := map[string]string{"payment_method": string(rail)}
	for k, v := range personDefaults {
		row[k] = v
	}
	for k, v := range given {
		if v != "" {
			row[k] = v
		}
	}
	if row["curp"] == "" && row["id_document_type"] == "" {
		birth, err := time.Parse(time.DateOnly, row["birth_date"])
		require.NoError(t, err, "birth_date of %v", given)
		row["curp"] = w.unique(func() string { return mxid.GenerateCURP(w.rng, birth, row["sex"], "NE") })
	}
	switch apoyo.Rail(row["payment_method"]) {
	case apoyo.RailSPEI:
		if row["clabe"] == "" {
			row["clabe"] = w.unique(func() string { return mxid.GenerateCLABE(w.rng, "072") })
		}
	case apoyo.RailCard:
		if row["card_number"] == "" {
			row["card_number"] = "4111111111111111"
		}
	}
	return row
}

func (w *World) unique(gen func() string) string {
	for {
		if v := gen(); !w.seen[v] {
			w.seen[v] = true
			return v
		}
	}
}

// ids is the set of a programme's beneficiary ids.
func (w *World) ids(t testing.TB, programID string) map[string]bool {
	t.Helper()
	all := map[string]bool{}
	after := ""
	for {
		page, err := w.Enrol.ListIDs(t.Context(), programID, after, 1000)
		require.NoError(t, err)
		if len(page) == 0 {
			return all
		}
		for _, id := range page {
			all[id] = true
		}
		after = page[len(page)-1]
	}
}

// BeneficiaryOpts tune Beneficiary.
type BeneficiaryOpts struct {
	// Birth is the birth date. Default: 1990-05-17.
	Birth time.Time
	// Sex is H, M or X. Default: M.
	Sex string
	// Nationality is an ISO 3166 alpha-3 code. Default: HND.
	Nationality string
	// PopulationGroup is one of apoyo.PopulationGroups. Default:
	// asylum_seeker.
	PopulationGroup string
	// Alcaldia is stored as given (any place). Default: Iztapalapa.
	Alcaldia string
	// Rail is the payment method. Default: cash_pickup.
	Rail apoyo.Rail
	// Sealed is stored in every personal-data column the row has
	// (given_names, first_surname, second_surname, curp, phone) in place
	// of ciphertext. Default: one zero byte.
	Sealed []byte
}

// Beneficiary inserts one beneficiary row straight into the table, with no
// roster import and no real personal data: for tests that count or pay
// people but never read who they are (reports, reconciliation). Its
// consent is given and its key id is KeyID. Ids are "ben_" and 16 digits,
// counting from 1 in each World. Use People for people the code may
// unseal.
func (w *World) Beneficiary(t testing.TB, programID string, o *BeneficiaryOpts) string {
	t.Helper()
	if o == nil {
		o = &BeneficiaryOpts{}
	}
	birth := o.Birth
	if birth.IsZero() {
		birth = time.Date(1990, 5, 17, 0, 0, 0, 0, time.UTC)
	}
	or := func(s, def string) string {
		if s == "" {
			return def
		}
		return s
	}
	sealed := o.Sealed
	if sealed == nil {
		sealed = []byte{0}
	}
	w.rows++
	id := fmt.Sprintf("ben_%016d", w.rows)
	_, err := w.Pool.Exec(t.Context(), `INSERT INTO beneficiaries (id, program_id, birth_date, sex, nationality, population_group,
			alcaldia, payment_method, consent, given_names, first_surname, second_surname, curp, phone, key_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, true, $9, $9, $9, $9, $9, $10)`,
		id, programID, birth, or(o.Sex, "M"), or(o.Nationality, "HND"), or(o.PopulationGroup, "asylum_seeker"),
		or(o.Alcaldia, "Iztapalapa"), or(string(o.Rail), string(apoyo.RailCashPickup)), sealed, KeyID)
	require.NoError(t, err)
	return id
}

// CycleOpts tune Cycle.
type CycleOpts struct {
	// ID is the cycle's id. Default: a fresh one (cases.NewCycleID).
	ID string
	// Name is the cycle's name, unique within its programme. Default:
	// "2026-11".
	Name string
	// Period is the period it pays. Default: Name.
	Period string
	// CycleDate is the date the cycle pays on (eligibility's reference
	// date). Default: 2026-11-01.
	CycleDate time.Time
	// Accounts opens the cycle's four ledger accounts
	// (program.EnsureCycleAccounts), as a launch does. Default: false.
	Accounts bool
}

// Cycle creates a running cycle of a programme, without a roster snapshot
// or a reservation, and requires that no cycle of that name existed.
func (w *World) Cycle(t testing.TB, programID string, o *CycleOpts) apoyo.Cycle {
	t.Helper()
	if o == nil {
		o = &CycleOpts{}
	}
	c := apoyo.Cycle{ID: o.ID, ProgramID: programID, Name: o.Name, Period: o.Period, CycleDate: o.CycleDate}
	if c.Name == "" {
		c.Name = "2026-11"
	}
	if c.Period == "" {
		c.Period = c.Name
	}
	if c.CycleDate.IsZero() {
		c.CycleDate = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	}
	c, created, err := w.Cases.CreateCycle(t.Context(), c)
	require.NoError(t, err)
	require.True(t, created, "programme %s has a cycle %q already", programID, c.Name)
	if o.Accounts {
		require.NoError(t, program.EnsureCycleAccounts(t.Context(), w.Ledger, programID, c.ID))
	}
	return c
}
