package beneficiary_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/charmap"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/beneficiary"
	"github.com/apoyo-cdmx/apoyo/internal/textcheck"
)

// TestReaderRefusesBadText: a cell PostgreSQL would refuse (NUL, invalid
// UTF-8) or that is not text a person wrote (controls, a bidi override,
// a line break in a name, far too long) is a row error naming the row and
// column, and the good rows around it still come through.
func TestReaderRefusesBadText(t *testing.T) {
	t.Parallel()
	h := beneficiary.Columns
	good := goodRow()
	src := buildCSV(t, h,
		good,                                                   // row 2
		with(good, "given_names", "Ana\x00"),                   // row 3
		with(good, "first_surname", "Pe\xf1a"),                 // row 4: a Windows-1252 byte in a UTF-8 file
		with(good, "second_surname", "de la\nLuz"),             // rows 5-6
		with(good, "email", "a\u202eb@example.org"),            // row 7
		with(good, "needs", strings.Repeat("health;", 40)),     // row 8
		with(good, "id_document_number", "RP1234\t5678"),       // row 9
		with(good, "alcaldia", "Cuauht\u00e9moc\u0000"),        // row 10
		with(good, "given_names", strings.Repeat("ñ", 101)),    // row 11
		with(good, "curp", goodCURP+"\x7f", "phone", "55\x01"), // row 12: two fields
		good, // row 13
	)
	res := readAll(t, src)
	type want struct {
		row    int
		fields []string
		reason string
	}
	wants := []want{
		{2, nil, ""},
		{3, []string{"given_names"}, "text.control_character"},
		{4, []string{"first_surname"}, "text.invalid_utf8"},
		{5, []string{"second_surname"}, "text.control_character"},
		{7, []string{"email"}, "text.control_character"},
		{8, []string{"needs"}, "text.too_long"},
		{9, []string{"id_document_number"}, "text.control_character"},
		{10, []string{"alcaldia"}, "text.control_character"},
		{11, []string{"given_names"}, "text.too_long"},
		{12, []string{"phone", "curp"}, "text.control_character"},
		{13, nil, ""},
	}
	require.Len(t, res, len(wants))
	for i, w := range wants {
		got := res[i]
		require.Equal(t, w.row, got.row, "result %d", i)
		require.Equal(t, w.fields, nilIfEmpty(fields(got.errs)), "row %d: %v", w.row, got.errs)
		for _, e := range got.errs {
			require.Equal(t, w.reason, e.Err.Reason, "row %d", w.row)
			require.Equal(t, w.row, e.Err.Row)
			require.Equal(t, e.Field, e.Err.Field)
			require.Equal(t, apoyo.EINVALID, e.Err.Code)
			require.Empty(t, e.ValueHint, "a bad value is not hinted at")
		}
	}
	require.Contains(t, res[2].errs[0].Message, "UTF-8")
}

// TestReaderTranscodesWindows1252: a roster saved by Excel as plain "CSV"
// on a Spanish Windows is Windows-1252; it is read as the same text a UTF-8
// export would give, and the reader says it transcoded.
func TestReaderTranscodesWindows1252(t *testing.T) {
	t.Parallel()
	row := with(goodRow(), "given_names", "José Ángel", "first_surname", "Peña", "alcaldia", "Álvaro Obregón")
	utf8src := buildCSV(t, beneficiary.Columns, row)
	cp1252, err := charmap.Windows1252.NewEncoder().String(utf8src)
	require.NoError(t, err)
	require.Contains(t, cp1252, "Pe\xf1a", "the test file really is Windows-1252")

	rd, err := beneficiary.NewReader(strings.NewReader(cp1252), clockNow)
	require.NoError(t, err)
	require.Equal(t, "windows-1252", rd.Transcoded())
	rec, rowNum, errs, err := rd.Next()
	require.NoError(t, err)
	require.Empty(t, errs)
	require.Equal(t, 2, rowNum)
	require.Equal(t, "Peña", rec.FirstSurname)
	require.Equal(t, "José Ángel", rec.GivenNames)
	require.Equal(t, "Álvaro Obregón", rec.Alcaldia)

	rd, err = beneficiary.NewReader(strings.NewReader("\ufeff"+utf8src), clockNow)
	require.NoError(t, err)
	require.Equal(t, "", rd.Transcoded(), "UTF-8 with a BOM is read as it is")
	rec, _, errs, _ = rd.Next()
	require.Empty(t, errs)
	require.Equal(t, "Peña", rec.FirstSurname)
}

// TestReaderRefusesUTF16: Excel's "Unicode text" is UTF-16; the reader
// says how to save the file instead of reporting every column unknown.
func TestReaderRefusesUTF16(t *testing.T) {
	t.Parallel()
	src := buildCSV(t, beneficiary.Columns, goodRow())
	var b bytes.Buffer
	b.WriteString("\xff\xfe")
	for _, r := range src {
		b.WriteByte(byte(r))
		b.WriteByte(byte(r >> 8))
	}
	_, err := beneficiary.NewReader(&b, clockNow)
	require.ErrorIs(t, err, textcheck.ErrEncoding)
	require.Contains(t, err.Error(), "CSV UTF-8")
	require.Equal(t, 1, apoyoRow(err))
}

func apoyoRow(err error) int {
	var ae *apoyo.Error
	if errors.As(err, &ae) {
		return ae.Row
	}
	return -1
}

// TestReaderHeaderlessRosterEchoesNoPersonalData: a roster exported
// without its header row has a person's data on line 1; the error says the
// header is missing and quotes none of that person's values.
func TestReaderHeaderlessRosterEchoesNoPersonalData(t *testing.T) {
	t.Parallel()
	src := buildCSV(t, beneficiary.Columns, goodRow(), goodRow())
	src = src[strings.IndexByte(src, '\n')+1:] // drop the header
	_, err := beneficiary.NewReader(strings.NewReader(src), clockNow)
	require.Error(t, err)
	var ae *apoyo.Error
	require.ErrorAs(t, err, &ae)
	require.Equal(t, 1, ae.Row)
	require.Contains(t, err.Error(), "header")
	person := goodRow()
	for _, col := range []string{"given_names", "first_surname", "second_surname", "birth_date", "phone", "email", "curp", "id_document_number", "clabe"} {
		v := person[col]
		for _, form := range []string{v, strings.ToLower(v), strings.ToUpper(v)} {
			require.NotContains(t, err.Error(), form, "the error quotes the %s of the person on line 1", col)
			require.NotContains(t, ae.Field, form)
		}
	}

	// A typo in a real header still gets a useful message, without
	// echoing the cell.
	_, err = beneficiary.NewReader(strings.NewReader(strings.Replace(strings.Join(beneficiary.Columns, ","), "given_names", "given_name", 1)), clockNow)
	require.ErrorIs(t, err, beneficiary.ErrUnknownColumn)
	require.Contains(t, err.Error(), "column 1")
	require.Contains(t, err.Error(), `did you mean "given_names"`)
}

// TestReaderBadHeaderText: a header cell that is not text is named by its
// position, never quoted.
func TestReaderBadHeaderText(t *testing.T) {
	t.Parallel()
	_, err := beneficiary.NewReader(strings.NewReader(strings.Join(beneficiary.RequiredColumns, ",")+",cu\x00rp\n"), clockNow)
	require.ErrorIs(t, err, textcheck.ErrControl)
	require.Equal(t, 1, apoyoRow(err))
	require.Contains(t, err.Error(), "column 11")
	require.NotContains(t, err.Error(), "\x00")
}

func TestReaderReadFailureWhilePeeking(t *testing.T) {
	t.Parallel()
	_, err := beneficiary.NewReader(io.MultiReader(strings.NewReader("given_names"), errReader{}), clockNow)
	require.ErrorIs(t, err, beneficiary.ErrRead)
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk gone") }
