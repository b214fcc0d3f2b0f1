package beneficiary_test

import (
	"bytes"
	"encoding/csv"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo/beneficiary"
	"github.com/apoyo-cdmx/apoyo/mxid"
)

// fixedNow is the clock for every test: birth dates are judged against it.
var fixedNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func clockNow() time.Time { return fixedNow }

// Known-good identifiers, checked in mxid's tests against published
// examples.
const (
	goodCURP  = "HEGG560427MVZRRL04"
	goodCURP2 = "LORX350217HNEPDV08"
	goodCLABE = "032180000118359719"
	goodCard  = "4111111111111111" // the well-known Visa test number
)

// goodRow is a complete valid row keyed by column.
func goodRow() map[string]string {
	return map[string]string{
		"given_names":        "Gabriela",
		"first_surname":      "Hernández",
		"second_surname":     "Gutiérrez",
		"birth_date":         "1956-04-27",
		"sex":                "M",
		"nationality":        "VEN",
		"population_group":   "refugee",
		"alcaldia":           "Cuauhtémoc",
		"household_size":     "3",
		"phone":              "5512345678",
		"email":              "gaby@example.org",
		"curp":               goodCURP,
		"id_document_type":   "residente_permanente",
		"id_document_number": "RP12345678",
		"payment_method":     "spei",
		"clabe":              goodCLABE,
		"card_number":        "",
		"needs":              "employment;health",
		"consent":            "yes",
	}
}

// buildCSV writes header and rows (each a map over the header) with
// encoding/csv, so quoting is exactly what a real export produces.
func buildCSV(t testing.TB, header []string, rows ...map[string]string) string {
	t.Helper()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	require.NoError(t, w.Write(header))
	for _, r := range rows {
		rec := make([]string, len(header))
		for i, h := range header {
			rec[i] = r[h]
		}
		require.NoError(t, w.Write(rec))
	}
	w.Flush()
	require.NoError(t, w.Error())
	return b.String()
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

type rowResult struct {
	rec  beneficiary.Record
	row  int
	errs []beneficiary.FieldError
}

// readAll drains a reader.
func readAll(t testing.TB, src string) []rowResult {
	t.Helper()
	rd, err := beneficiary.NewReader(strings.NewReader(src), clockNow)
	require.NoError(t, err)
	var out []rowResult
	for {
		rec, row, errs, err := rd.Next()
		if err != nil {
			require.ErrorIs(t, err, ioEOF)
			return out
		}
		out = append(out, rowResult{rec, row, errs})
	}
}

// fields returns the Field of each error, in order.
func fields(errs []beneficiary.FieldError) []string {
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = e.Field
	}
	return out
}

// genRow makes a valid random row, for volume tests.
func genRow(r *rand.Rand, i int) []string {
	birth := time.Date(1950+r.IntN(55), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC)
	sex := []string{"H", "M", "X"}[r.IntN(3)]
	curp := mxid.GenerateCURP(r, birth, sex, "NE")
	pay, clabe, card := "cash_pickup", "", ""
	switch i % 3 {
	case 0:
		pay, clabe = "spei", mxid.GenerateCLABE(r, "072")
	case 1:
		pay, card = "card", goodCard
	}
	return []string{
		"Nombre " + itoa(i), "Apellido", "", birth.Format(time.DateOnly), sex, "HND",
		"migrant", mxid.Alcaldias[r.IntN(16)], "2", "5512345678", "",
		curp, "curp", "", pay, clabe, card, "employment;shelter", "sí",
	}
}
