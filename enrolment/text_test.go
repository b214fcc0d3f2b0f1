package enrolment_test

import (
	"testing"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/charmap"
)

// TestImportRefusesTextPostgresWouldNot: NUL and invalid UTF-8 are refused
// by pgx half way through a batch; the import rejects those rows with
// their row and column named, enrols the others, and stores nothing
// invalid.
func TestImportRefusesTextPostgresWouldNot(t *testing.T) {
	t.Parallel()
	e := setup(t)
	g := newGen(7)
	src := buildCSV(t,
		g.person(0),
		with(g.person(1), "given_names", "Ana\x00María"), // row 3
		g.person(2),
		with(g.person(3), "first_surname", "Pe\xf1a"), // row 5: Windows-1252 byte after UTF-8 rows
		with(g.person(4), "phone", "55\x1b[2J1234"),   // row 6: an escape sequence
		g.person(5),
	)
	rep := e.importCSV(t, src, apoyo.ImportOptions{})
	require.Equal(t, 3, rep.Accepted)
	require.Equal(t, 3, rep.Rejected)
	type loc struct {
		Row   int
		Field string
	}
	var got []loc
	for _, re := range rep.Errors {
		got = append(got, loc{re.Row, re.Field})
		require.Empty(t, re.ValueHint)
	}
	require.Equal(t, []loc{{3, "given_names"}, {5, "first_surname"}, {6, "phone"}}, got)
	require.Equal(t, int64(3), e.count(t))
	require.Empty(t, rep.Transcoded)
}

// TestImportTranscodesWindows1252: a roster saved as plain CSV by a Spanish
// Excel imports like its UTF-8 twin, and the report says it was converted.
func TestImportTranscodesWindows1252(t *testing.T) {
	t.Parallel()
	e := setup(t)
	g := newGen(8)
	src := buildCSV(t, with(g.person(0), "first_surname", "Peña", "alcaldia", "Álvaro Obregón"), g.person(1))
	cp1252, err := charmap.Windows1252.NewEncoder().String(src)
	require.NoError(t, err)
	rep := e.importCSV(t, cp1252, apoyo.ImportOptions{})
	require.Equal(t, 2, rep.Accepted, "%v", rep.Errors)
	require.Equal(t, "windows-1252", rep.Transcoded)
}
