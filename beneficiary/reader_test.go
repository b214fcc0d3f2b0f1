package beneficiary_test

import (
	"encoding/csv"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/beneficiary"
)

var ioEOF = io.EOF

func itoa(i int) string { return strconv.Itoa(i) }

func TestNewReaderHeader(t *testing.T) {
	t.Parallel()
	all := strings.Join(beneficiary.Columns, ",")
	required := strings.Join(beneficiary.RequiredColumns, ",")
	tests := []struct {
		name   string
		header string
		reason string // "" = accepted
		field  string
	}{
		{"all columns", all, "", ""},
		{"only required columns", required, "", ""},
		{"BOM, spaces and capitals", "\ufeff Given_Names ,FIRST_SURNAME,birth_date, sex,nationality,population_group,alcaldia,payment_method,consent,id_document_type", "", ""},
		{"reordered", "consent,payment_method,id_document_type,alcaldia,population_group,nationality,sex,birth_date,first_surname,given_names,curp", "", ""},
		{"unknown column", required + ",nickname", "beneficiary.header.unknown_column", ""}, // named by position, never quoted
		{"no header row", "Ana,Pérez,,1990-01-01,M", "beneficiary.header.absent", ""},
		{"missing required column", strings.Replace(required, ",consent", "", 1), "beneficiary.header.missing_column", "consent"},
		{"missing id_document_type", strings.Replace(required, ",id_document_type", "", 1), "beneficiary.header.missing_column", "id_document_type"},
		{"duplicate column", required + ",curp,curp", "beneficiary.header.duplicate_column", "curp"},
		{"empty column name", required + ",", "beneficiary.header.unknown_column", ""},
		{"empty file", "", "beneficiary.header.empty", ""},
		{"broken quoting in header", `"given_names,first_surname`, "beneficiary.csv_syntax", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rd, err := beneficiary.NewReader(strings.NewReader(tc.header), clockNow)
			if tc.reason == "" {
				require.NoError(t, err)
				require.NotNil(t, rd)
				return
			}
			require.Nil(t, rd)
			var ae *apoyo.Error
			require.ErrorAs(t, err, &ae)
			require.Equal(t, tc.reason, ae.Reason)
			require.Equal(t, apoyo.EINVALID, ae.Code)
			require.Equal(t, 1, ae.Row)
			require.Equal(t, tc.field, ae.Field)
		})
	}
}

func TestNewReaderReportsAllHeaderProblems(t *testing.T) {
	t.Parallel()
	_, err := beneficiary.NewReader(strings.NewReader("given_names,nick,first_surname"), clockNow)
	var ae *apoyo.Error
	require.ErrorAs(t, err, &ae)
	require.Equal(t, "", ae.Field)
	require.ErrorIs(t, err, beneficiary.ErrUnknownColumn)
	require.Contains(t, ae.Message, "column 2 of the header is not a known column")
	require.NotContains(t, ae.Message, "nick", "header cells are not quoted")
	// The first problem is the error; the rest are listed in its message.
	require.Contains(t, ae.Message, `"birth_date" is missing`)
	require.Contains(t, ae.Message, `"consent" is missing`)
}

func TestReaderReorderedColumnsAndBOM(t *testing.T) {
	t.Parallel()
	header := []string{"consent", "needs", "clabe", "payment_method", "id_document_number", "id_document_type", "curp", "alcaldia", "population_group", "nationality", "sex", "birth_date", "first_surname", "given_names"}
	src := "\ufeff" + buildCSV(t, header, with(goodRow(), "alcaldia", "gam", "nationality", "ven", "population_group", "Asylum Seeker", "needs", " Health ; employment;health;; ", "consent", "Sí", "given_names", "  María   José ", "sex", "m"))
	res := readAll(t, src)
	require.Len(t, res, 1)
	require.Empty(t, res[0].errs)
	r := res[0].rec
	require.Equal(t, 2, res[0].row)
	require.Equal(t, "María José", r.GivenNames)
	require.Equal(t, "Hernández", r.FirstSurname)
	require.Equal(t, "Gustavo A. Madero", r.Alcaldia)
	require.Equal(t, "VEN", r.Nationality)
	require.Equal(t, apoyo.PopulationAsylumSeeker, r.PopulationGroup)
	require.Equal(t, apoyo.SexFemale, r.Sex)
	require.Equal(t, []apoyo.Need{apoyo.NeedHealth, apoyo.NeedEmployment}, r.Needs)
	require.True(t, r.Consent)
	require.Equal(t, "1956-04-27", r.BirthDate.Format(time.DateOnly))
	require.Equal(t, goodCLABE, r.CLABE)
	require.Equal(t, 0, r.HouseholdSize) // column absent
}

// TestReaderGoodAndBadRows: bad rows are reported at their own row and
// field, and good rows around them still come through.
func TestReaderGoodAndBadRows(t *testing.T) {
	t.Parallel()
	h := beneficiary.Columns
	good := goodRow()
	src := buildCSV(t, h,
		good,                                     // row 2
		with(good, "curp", "HEGG560427MVZRRL05"), // row 3: check digit
		with(good, "curp", goodCURP2, "sex", "H"),                // row 4: good
		with(good, "birth_date", "31/02/1990"),                   // row 5: not a date
		with(good, "payment_method", "card"),                     // row 6: card without number
		with(good, "household_size", "0"),                        // row 7
		with(good, "household_size", "31"),                       // row 8
		with(good, "birth_date", "2025-06-02"),                   // row 9: tomorrow
		with(good, "birth_date", "1899-12-31"),                   // row 10
		with(good, "birth_date", "01/06/2025"),                   // row 11: today, DD/MM/YYYY: fine
		with(good, "nationality", "XXX"),                         // row 12
		with(good, "nationality", "xxa"),                         // row 13: stateless: fine
		with(good, "needs", "health;food"),                       // row 14
		with(good, "consent", "maybe"),                           // row 15
		with(good, "consent", ""),                                // row 16
		with(good, "email", "not-an-email"),                      // row 17
		with(good, "payment_method", "cash_pickup", "clabe", ""), // row 18: fine
	)
	// A blank line and a line of empty cells, as spreadsheets leave them,
	// are skipped without shifting row numbers: they are rows 19 and 20.
	src += "\n" + strings.Repeat(",", len(h)-1) + "\n"
	src += buildCSV(t, h, with(good, "alcaldia", "Ecatepec"))[len(strings.Join(h, ","))+1:] // row 21

	res := readAll(t, src)
	type want struct {
		row    int
		field  string
		reason string
	}
	wants := []want{
		{2, "", ""},
		{3, "curp", "curp.check_digit"},
		{4, "", ""},
		{5, "birth_date", "beneficiary.birth_date.format"},
		{6, "card_number", "beneficiary.card_required"},
		{7, "household_size", "beneficiary.household_size"},
		{8, "household_size", "beneficiary.household_size"},
		{9, "birth_date", "beneficiary.birth_date.future"},
		{10, "birth_date", "beneficiary.birth_date.too_old"},
		{11, "", ""},
		{12, "nationality", "beneficiary.nationality"},
		{13, "", ""},
		{14, "needs", "beneficiary.unknown_value"},
		{15, "consent", "beneficiary.consent"},
		{16, "consent", "beneficiary.required"},
		{17, "email", "beneficiary.email"},
		{18, "", ""},
		{21, "alcaldia", "beneficiary.alcaldia"},
	}
	require.Len(t, res, len(wants))
	for i, w := range wants {
		got := res[i]
		require.Equal(t, w.row, got.row, "result %d", i)
		if w.field == "" {
			require.Empty(t, got.errs, "row %d: %v", w.row, got.errs)
			continue
		}
		require.Len(t, got.errs, 1, "row %d: %v", w.row, got.errs)
		e := got.errs[0]
		require.Equal(t, w.row, e.Row)
		require.Equal(t, w.field, e.Field)
		require.Equal(t, w.reason, e.Err.Reason, "row %d", w.row)
		require.Equal(t, apoyo.EINVALID, e.Err.Code)
		require.Equal(t, w.row, e.Err.Row)
		require.Equal(t, w.field, e.Err.Field)
		require.NotEmpty(t, e.Message)
	}
	// Non-identifying values are shown as they are; a DD/MM date parses.
	require.Equal(t, "31/02/1990", res[3].errs[0].ValueHint)
	require.Equal(t, "XXX", res[10].errs[0].ValueHint)
	require.Equal(t, "2025-06-01", res[9].rec.BirthDate.Format(time.DateOnly))
	require.False(t, res[13].rec.Consent)
}

func TestReaderMultipleErrorsInOneRow(t *testing.T) {
	t.Parallel()
	h := beneficiary.Columns
	bad := with(goodRow(),
		"given_names", "",
		"sex", "F",
		"alcaldia", "Narnia",
		"phone", "12345",
		"curp", "",
		"id_document_type", "",
		"id_document_number", "",
		"clabe", "",
		"population_group", "tourist",
	)
	res := readAll(t, buildCSV(t, h, bad))
	require.Len(t, res, 1)
	errs := res[0].errs
	// Every problem, in the file's column order.
	require.Equal(t, []string{"given_names", "sex", "population_group", "alcaldia", "phone", "id_document_type", "clabe"}, fields(errs))
	reasons := make([]string, len(errs))
	for i, e := range errs {
		reasons[i] = e.Err.Reason
		require.Equal(t, 2, e.Row)
	}
	require.Equal(t, []string{
		"beneficiary.required", "beneficiary.unknown_value", "beneficiary.unknown_value",
		"beneficiary.alcaldia", "beneficiary.phone", "beneficiary.identity_required",
		"beneficiary.clabe_required",
	}, reasons)
	require.Equal(t, "F", errs[1].ValueHint)
	require.Equal(t, "Narnia", errs[3].ValueHint)
	require.Contains(t, errs[1].Message, "H, M or X")
	require.ErrorIs(t, errs[6], beneficiary.ErrCLABERequired)
}

func TestReaderShortAndLongRows(t *testing.T) {
	t.Parallel()
	h := beneficiary.Columns
	src := buildCSV(t, h, goodRow())
	src += "Ana,Pérez,,1990-01-01,M\n"                                                                    // row 3: short
	src += strings.TrimSuffix(buildCSV(t, h, goodRow())[len(strings.Join(h, ","))+1:], "\n") + ",extra\n" // row 4: long
	src += buildCSV(t, h, goodRow())[len(strings.Join(h, ","))+1:]                                        // row 5
	res := readAll(t, src)
	require.Len(t, res, 4)
	require.Empty(t, res[0].errs)
	for i, n := range []int{5, 20} {
		r := res[1+i]
		require.Equal(t, 3+i, r.row)
		require.Len(t, r.errs, 1)
		require.Equal(t, "", r.errs[0].Field)
		require.ErrorIs(t, r.errs[0], beneficiary.ErrFieldCount)
		require.Contains(t, r.errs[0].Message, "has "+itoa(n)+" fields")
	}
	require.Equal(t, 5, res[3].row)
	require.Empty(t, res[3].errs)
}

// TestReaderQuotedFields: commas and quotes inside quotes are data; a line
// break inside quotes is CSV but not a valid value of any field (see
// textcheck), so it is that row's error. A record is numbered by the
// physical line it starts on, so the record after one spanning lines 2-4
// is row 5.
func TestReaderQuotedFields(t *testing.T) {
	t.Parallel()
	h := beneficiary.Columns
	good := goodRow()
	src := buildCSV(t, h,
		with(good, "given_names", "María, \"La Güera\"", "second_surname", "de la\nLuz\nRamírez"), // rows 2-4
		with(good, "sex", "Z"),      // row 5
		with(good, "email", "a\nb"), // rows 6-7, invalid email
		good,                        // row 8
	)
	res0 := readAll(t, buildCSV(t, h, with(good, "given_names", "María, \"La Güera\"", "second_surname", "  de la   Luz Ramírez ")))
	require.Empty(t, res0[0].errs)
	require.Equal(t, `María, "La Güera"`, res0[0].rec.GivenNames)
	require.Equal(t, "de la Luz Ramírez", res0[0].rec.SecondSurname) // inner whitespace collapsed
	res := readAll(t, src)
	require.Len(t, res, 4)
	require.Equal(t, 2, res[0].row)
	require.Equal(t, []string{"second_surname"}, fields(res[0].errs))
	require.Equal(t, "text.control_character", res[0].errs[0].Err.Reason)
	require.Equal(t, 5, res[1].row)
	require.Equal(t, []string{"sex"}, fields(res[1].errs))
	require.Equal(t, 5, res[1].errs[0].Row)
	require.Equal(t, 6, res[2].row)
	require.Equal(t, []string{"email"}, fields(res[2].errs))
	require.Equal(t, 8, res[3].row)
	require.Empty(t, res[3].errs)
}

func TestReaderBrokenQuotingIsARowError(t *testing.T) {
	t.Parallel()
	h := beneficiary.Columns
	src := buildCSV(t, h, goodRow())
	src += `Ana "la" Pérez,x` + "\n" // row 3: bare quote
	src += buildCSV(t, h, goodRow())[len(strings.Join(h, ","))+1:]
	res := readAll(t, src)
	require.Len(t, res, 3)
	require.Equal(t, 3, res[1].row)
	require.Len(t, res[1].errs, 1)
	require.ErrorIs(t, res[1].errs[0], beneficiary.ErrCSVSyntax)
	require.Equal(t, 3, res[1].errs[0].Err.Row)
	require.Equal(t, 4, res[2].row)
	require.Empty(t, res[2].errs)
}

// TestReaderHintsAreMasked: no error, hint or message carries a full CURP,
// CLABE, phone, card or document number.
func TestReaderHintsAreMasked(t *testing.T) {
	t.Parallel()
	h := beneficiary.Columns
	const (
		badCURP  = "GODE561231HDFABC09"
		badCLABE = "032180000118359718"
		badPhone = "55123456789"
		badCard  = "4111111111111112"
		badDoc   = "AB12"
	)
	row := with(goodRow(), "curp", badCURP, "clabe", badCLABE, "phone", badPhone,
		"payment_method", "card", "card_number", badCard,
		"id_document_type", "pasaporte", "id_document_number", badDoc,
		"household_size", "5512345678") // a phone in the wrong column
	res := readAll(t, buildCSV(t, h, row))
	require.Len(t, res, 1)
	errs := res[0].errs
	require.Equal(t, []string{"household_size", "phone", "curp", "id_document_number", "clabe", "card_number"}, fields(errs))
	hints := map[string]string{}
	for _, e := range errs {
		hints[e.Field] = e.ValueHint
		for _, secret := range []string{badCURP, badCLABE, badPhone, badCard, badDoc, "5512345678"} {
			require.NotContains(t, e.ValueHint, secret)
			require.NotContains(t, e.Message, secret)
			require.NotContains(t, e.Error(), secret)
			require.NotContains(t, e.Err.Error(), secret)
		}
	}
	require.Equal(t, "GO••••••••••••••09", hints["curp"])
	require.Equal(t, "03••••••••••••••18", hints["clabe"])
	require.Equal(t, "55•••••••89", hints["phone"])
	require.Equal(t, "•••", hints["id_document_number"])
	require.Equal(t, "55••••••78", hints["household_size"])
	require.Equal(t, "curp.structure", errs[2].Err.Reason) // "GODE...ABC..." has a vowel among the consonants
	require.Equal(t, "clabe.check_digit", errs[4].Err.Reason)
}

func TestReaderDocumentRules(t *testing.T) {
	t.Parallel()
	h := beneficiary.Columns
	good := goodRow()
	tests := []struct {
		name   string
		row    map[string]string
		fields []string
		reason string
	}{
		{"curp as document, number only", with(good, "curp", "", "id_document_type", "curp", "id_document_number", goodCURP), nil, ""},
		{"curp as document, curp column only", with(good, "id_document_type", "curp", "id_document_number", ""), nil, ""},
		{"curp as document, both equal (case differs)", with(good, "id_document_type", "curp", "id_document_number", strings.ToLower(goodCURP)), nil, ""},
		{"curp as document, both differ", with(good, "id_document_type", "curp", "id_document_number", goodCURP2), []string{"id_document_number"}, "beneficiary.curp_mismatch"},
		{"curp as document, bad number", with(good, "curp", "", "id_document_type", "curp", "id_document_number", "HEGG560427MVZRRL05"), []string{"id_document_number"}, "curp.check_digit"},
		{"curp as document, none given", with(good, "curp", "", "id_document_type", "curp", "id_document_number", ""), []string{"id_document_number"}, "beneficiary.id_document_number_required"},
		{"curp only, no document", with(good, "id_document_type", "", "id_document_number", ""), nil, ""},
		{"document only, no curp", with(good, "curp", ""), nil, ""},
		{"nothing", with(good, "curp", "", "id_document_type", "", "id_document_number", ""), []string{"id_document_type"}, "beneficiary.identity_required"},
		{"number without type", with(good, "id_document_type", ""), []string{"id_document_type"}, "beneficiary.id_document_type_required"},
		{"type without number", with(good, "id_document_number", ""), []string{"id_document_number"}, "beneficiary.id_document_number_required"},
		{"unknown type", with(good, "id_document_type", "licencia"), []string{"id_document_type"}, "beneficiary.unknown_value"},
		{"passport ok", with(good, "id_document_type", "pasaporte", "id_document_number", "G1234567"), nil, ""},
		{"passport too short", with(good, "id_document_type", "pasaporte", "id_document_number", "G123"), []string{"id_document_number"}, "beneficiary.id_document_number"},
		{"tvrh ok", with(good, "id_document_type", "TVRH", "id_document_number", "tv12345678"), nil, ""},
		{"tvrh with symbol", with(good, "id_document_type", "tvrh", "id_document_number", "TV1234-5678"), []string{"id_document_number"}, "beneficiary.id_document_number"},
		{"comar ok", with(good, "id_document_type", "comar_constancia", "id_document_number", "CDMX/123-2024"), nil, ""},
		{"padron ok", with(good, "id_document_type", "padron huespedes", "id_document_number", "PH-0042"), nil, ""},
		{"matricula too long", with(good, "id_document_type", "matricula_consular", "id_document_number", "M12345678901234567"), []string{"id_document_number"}, "beneficiary.id_document_number"},
		{"bad CLABE", with(good, "clabe", "03218000011835971"), []string{"clabe"}, "clabe.length"},
		{"CLABE with spaces is fine", with(good, "clabe", "032 180 00011835971 9"), nil, ""},
		{"card ok", with(good, "payment_method", "card", "card_number", "4111 1111 1111 1111", "clabe", ""), nil, ""},
		{"card fails Luhn", with(good, "payment_method", "card", "card_number", "4111111111111112"), []string{"card_number"}, "beneficiary.card_number"},
		{"spei without CLABE", with(good, "clabe", ""), []string{"clabe"}, "beneficiary.clabe_required"},
		{"international phone", with(good, "phone", "+58 412 555 1234"), nil, ""},
		{"+52 phone", with(good, "phone", "+52 (55) 1234-5678"), nil, ""},
		{"+52 with 9 digits", with(good, "phone", "+52551234567"), []string{"phone"}, "beneficiary.phone"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := readAll(t, buildCSV(t, h, tc.row))
			require.Len(t, res, 1)
			require.Equal(t, tc.fields, nilIfEmpty(fields(res[0].errs)), "%v", res[0].errs)
			if tc.reason != "" {
				require.Equal(t, tc.reason, res[0].errs[0].Err.Reason)
			}
		})
	}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func TestReaderConsentValues(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{"yes": true, "YES": true, "Sí": true, "si": true, "SÍ": true, "no": false, "No": false} {
		res := readAll(t, buildCSV(t, beneficiary.Columns, with(goodRow(), "consent", in)))
		require.Empty(t, res[0].errs, in)
		require.Equal(t, want, res[0].rec.Consent, in)
	}
}

// TestReaderNormalisesCURPFromDocument: after reading, a CURP given only
// as the document number is also in the CURP field, and the dedup keys
// agree for the two ways of writing the same person.
func TestReaderNormalisesCURPFromDocument(t *testing.T) {
	t.Parallel()
	src := buildCSV(t, beneficiary.Columns,
		with(goodRow(), "curp", "", "id_document_type", "curp", "id_document_number", " hegg560427mvzrrl04 "),
		with(goodRow(), "id_document_type", "CURP", "id_document_number", ""),
	)
	res := readAll(t, src)
	require.Len(t, res, 2)
	for _, r := range res {
		require.Empty(t, r.errs)
		require.Equal(t, goodCURP, r.rec.CURP)
		require.Equal(t, goodCURP, r.rec.IDDocumentNumber)
		c, d := r.rec.DedupKeys()
		require.Equal(t, goodCURP, c)
		require.Equal(t, "curp:"+goodCURP, d)
	}
}

// TestReaderStreams100k pushes 100,000 generated rows (about 15 MB)
// through a pipe and proves the reader streams: when the first record
// comes out, the writer has written only a small part of the file (an
// io.Pipe write returns only when the reader has taken its bytes, so a
// reader that buffered the whole file would see all of it first), and the
// heap in use stays far below the file's size all along. It is not
// parallel so that the heap it measures is its own.
func TestReaderStreams100k(t *testing.T) {
	if testing.Short() {
		t.Skip("volume test")
	}
	const n = 100_000
	pr, pw := io.Pipe()
	var written atomic.Int64 // bytes the reader has taken from the pipe
	go func() {
		w := csv.NewWriter(countingWriter{pw, &written})
		_ = w.Write(beneficiary.Columns)
		r := rand.New(rand.NewPCG(42, 42))
		for i := 0; i < n; i++ {
			rec := genRow(r, i)
			if i%1000 == 999 {
				rec[4] = "Q" // sex: one bad row in a thousand
			}
			_ = w.Write(rec)
		}
		w.Flush()
		pw.CloseWithError(w.Error())
	}()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapInuse, ms.HeapInuse
	rd, err := beneficiary.NewReader(pr, clockNow)
	require.NoError(t, err)
	rows, bad := 0, 0
	var atFirst int64
	for {
		_, row, errs, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		rows++
		if rows == 1 {
			atFirst = written.Load()
		}
		if rows%10_000 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
		if row != rows+1 { // one line per record, after the header
			require.Equal(t, rows+1, row)
		}
		if len(errs) > 0 {
			bad++
			require.Equal(t, []string{"sex"}, fields(errs), "row %d: %v", row, errs)
			require.Equal(t, 0, (row-1)%1000, "row %d", row) // data index 999 is file row 1001
		}
	}
	require.Equal(t, n, rows)
	require.Equal(t, n/1000, bad)
	total := written.Load()
	t.Logf("file %d bytes; %d taken when record 1 came out; heap in use grew by at most %d KiB", total, atFirst, (peak-base)>>10)
	require.Greater(t, total, int64(10<<20))
	// The encoding sniff peeks 64 KiB, encoding/csv and the pipe buffer a
	// little more: well under 1 MiB of a file of more than 10.
	require.Less(t, atFirst, int64(1<<20), "the first record waited for most of the file")
	require.Less(t, peak-base, uint64(8<<20), "the heap grew with the file")
}

type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// BenchmarkReader reports allocs/row for files of 1k and 10k rows; equal
// figures show the reader's cost per row does not grow with the file.
func BenchmarkReader(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		var sb strings.Builder
		w := csv.NewWriter(&sb)
		_ = w.Write(beneficiary.Columns)
		r := rand.New(rand.NewPCG(1, 1))
		for i := 0; i < n; i++ {
			_ = w.Write(genRow(r, i))
		}
		w.Flush()
		src := sb.String()
		b.Run(itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for b.Loop() {
				rd, err := beneficiary.NewReader(strings.NewReader(src), clockNow)
				if err != nil {
					b.Fatal(err)
				}
				for {
					_, _, errs, err := rd.Next()
					if err != nil {
						break
					}
					if len(errs) > 0 {
						b.Fatal(errs)
					}
				}
			}
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N*n), "allocs/row")
		})
	}
}

func TestReaderHeaderOnlyAndReadFailure(t *testing.T) {
	t.Parallel()
	rd, err := beneficiary.NewReader(strings.NewReader(strings.Join(beneficiary.Columns, ",")+"\n"), nil)
	require.NoError(t, err)
	require.Equal(t, beneficiary.Columns, rd.Header())
	_, _, _, err = rd.Next()
	require.ErrorIs(t, err, io.EOF)

	src := buildCSV(t, beneficiary.Columns, goodRow())
	rd, err = beneficiary.NewReader(io.MultiReader(strings.NewReader(src), iotest.ErrReader(errors.New("disk gone"))), clockNow)
	require.NoError(t, err)
	_, row, errs, err := rd.Next()
	require.NoError(t, err)
	require.Equal(t, 2, row)
	require.Empty(t, errs)
	_, _, _, err = rd.Next()
	require.ErrorIs(t, err, beneficiary.ErrRead)
	require.Equal(t, apoyo.EINTERNAL, apoyo.ErrorCodeOf(err))
	require.NotErrorIs(t, err, io.EOF)
}
