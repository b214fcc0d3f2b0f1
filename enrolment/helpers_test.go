package enrolment_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/beneficiary"
	"github.com/apoyo-cdmx/apoyo/enrolment"
	"github.com/apoyo-cdmx/apoyo/internal/pgtest"
	"github.com/apoyo-cdmx/apoyo/internal/testfactory"
	"github.com/apoyo-cdmx/apoyo/mxid"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// fixedNow is the clock birth dates are judged against.
var fixedNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return fixedNow }

type env struct {
	db    *pgtest.DB
	w     *testfactory.World
	store *enrolment.Store
	prog  string
}

// setup gives a test its own database with one programme.
func setup(t testing.TB) *env {
	t.Helper()
	db := pgtest.New(t)
	w := testfactory.New(t, db)
	e := &env{db: db, w: w, store: w.Enrol}
	e.prog = e.newProgram(t, "Protección al Ingreso")
	return e
}

func (e *env) newProgram(t testing.TB, name string) string {
	t.Helper()
	return e.w.Program(t, &testfactory.ProgramOpts{Name: name}).ID
}

func (e *env) count(t testing.TB) int64 {
	t.Helper()
	n, err := e.store.Count(context.Background(), e.prog)
	require.NoError(t, err)
	return n
}

func (e *env) importCSV(t testing.TB, src string, opts apoyo.ImportOptions) apoyo.ImportReport {
	t.Helper()
	if opts.Now == nil {
		opts.Now = clock
	}
	rep, err := e.store.Import(context.Background(), e.prog, strings.NewReader(src), opts)
	require.NoError(t, err)
	return rep
}

// gen makes valid, distinct people.
type gen struct {
	r    *rand.Rand
	seen map[string]bool
}

func newGen(seed uint64) *gen {
	return &gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), seen: map[string]bool{}}
}

func (g *gen) unique(f func() string) string {
	for {
		v := f()
		if !g.seen[v] {
			g.seen[v] = true
			return v
		}
	}
}

// person returns a valid roster row for the i-th person, paid by SPEI,
// card or cash in turn.
func (g *gen) person(i int) map[string]string {
	birth := time.Date(1950+g.r.IntN(55), time.Month(1+g.r.IntN(12)), 1+g.r.IntN(28), 0, 0, 0, 0, time.UTC)
	sex := []string{"H", "M", "X"}[g.r.IntN(3)]
	curp := g.unique(func() string { return mxid.GenerateCURP(g.r, birth, sex, "NE") })
	row := map[string]string{
		"given_names":      fmt.Sprintf("Nombre%d", i),
		"first_surname":    "Apellido",
		"second_surname":   "",
		"birth_date":       birth.Format(time.DateOnly),
		"sex":              sex,
		"nationality":      []string{"HND", "VEN", "HTI", "SLV", "GTM"}[g.r.IntN(5)],
		"population_group": string(apoyo.PopulationGroups[g.r.IntN(5)]),
		"alcaldia":         mxid.Alcaldias[g.r.IntN(16)],
		"household_size":   "2",
		"phone":            fmt.Sprintf("55%08d", g.r.IntN(100000000)),
		"curp":             curp,
		"id_document_type": "curp",
		"payment_method":   "cash_pickup",
		"needs":            "employment;shelter",
		"consent":          "sí",
	}
	switch i % 3 {
	case 0:
		row["payment_method"] = "spei"
		row["clabe"] = g.unique(func() string { return mxid.GenerateCLABE(g.r, "072") })
	case 1:
		row["payment_method"] = "card"
		row["card_number"] = "4111111111111111"
	}
	return row
}

func with(m map[string]string, kv ...string) map[string]string {
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		c[kv[i]] = kv[i+1]
	}
	return c
}

// buildCSV writes rows under the full template header.
func buildCSV(t testing.TB, rows ...map[string]string) string {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, writeCSV(&b, rows...))
	return b.String()
}

func writeCSV(w io.Writer, rows ...map[string]string) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(beneficiary.Columns); err != nil {
		return err
	}
	for _, r := range rows {
		if err := writeRow(cw, r); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func writeRow(cw *csv.Writer, r map[string]string) error {
	rec := make([]string, len(beneficiary.Columns))
	for i, h := range beneficiary.Columns {
		rec[i] = r[h]
	}
	return cw.Write(rec)
}

// generated streams n rows through a pipe as they are written: the import
// never sees the file whole. Every 1000th row (from row 2 of the file,
// i % 1000 == 999) is invalid and every 500th repeats the previous person's
// CURP.
func generated(n int, seed uint64) (io.Reader, func() (valid, bad, dups int)) {
	pr, pw := io.Pipe()
	var valid, bad, dups int
	done := make(chan struct{})
	go func() {
		defer close(done)
		g := newGen(seed)
		cw := csv.NewWriter(pw)
		err := cw.Write(beneficiary.Columns)
		var prev map[string]string
		for i := 0; i < n && err == nil; i++ {
			row := g.person(i)
			switch {
			case i%1000 == 999:
				row["birth_date"] = "31/02/1990"
				bad++
			case i%500 == 499 && prev != nil:
				row["curp"] = prev["curp"]
				dups++
			default:
				valid++
			}
			err = writeRow(cw, row)
			prev = row
		}
		cw.Flush()
		if err == nil {
			err = cw.Error()
		}
		pw.CloseWithError(err)
	}()
	return pr, func() (int, int, int) { <-done; return valid, bad, dups }
}
