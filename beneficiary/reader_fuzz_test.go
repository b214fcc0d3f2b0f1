package beneficiary_test

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"testing"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/beneficiary"
	"github.com/apoyo-cdmx/apoyo/internal/textcheck"
)

// FuzzRosterReader: whatever the bytes, the reader either refuses the
// header with an *apoyo.Error at row 1, or yields rows whose every problem
// is an invalid-input *apoyo.Error located at that row and at a known
// column (or "" for the whole row), and whose accepted records hold only
// text that passes textcheck — so nothing it accepts can make PostgreSQL
// fail or be stored as mojibake. Rows are numbered increasingly, and
// errors are reported at rows, never as a failure of the reader.
func FuzzRosterReader(f *testing.F) {
	seed := buildCSV(f, beneficiary.Columns, goodRow(), with(goodRow(), "sex", "Q"))
	f.Add([]byte(seed))
	f.Add([]byte("\ufeff" + seed))
	f.Add([]byte(buildCSV(f, beneficiary.RequiredColumns, with(goodRow(), "first_surname", "Pe\xf1a"))))
	f.Add([]byte(buildCSV(f, beneficiary.Columns, with(goodRow(), "given_names", "a\x00b", "second_surname", "x\ny"))))
	f.Add([]byte(seed[bytes.IndexByte([]byte(seed), '\n')+1:])) // no header
	f.Add([]byte("given_names,first_surname\n\"broken"))
	f.Add([]byte("\xff\xfeg\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rd, err := beneficiary.NewReader(bytes.NewReader(data), clockNow)
		if err != nil {
			var ae *apoyo.Error
			// The header is the first line that is not blank (encoding/csv
			// skips empty lines), so usually row 1.
			if !errors.As(err, &ae) || ae.Code != apoyo.EINVALID || ae.Row < 1 {
				t.Fatalf("header error %#v is not invalid input at a row", err)
			}
			if ae.Field != "" && !slices.Contains(beneficiary.Columns, ae.Field) {
				t.Fatalf("header error names field %q, not a column", ae.Field)
			}
			return
		}
		last := 0
		for {
			rec, row, errs, err := rd.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			if row <= last {
				t.Fatalf("row %d after row %d", row, last)
			}
			last = row
			for _, fe := range errs {
				if fe.Err == nil || fe.Err.Code != apoyo.EINVALID || fe.Row != row || fe.Err.Row != row || fe.Err.Field != fe.Field {
					t.Fatalf("row %d: error %#v is not located at its row and field", row, fe)
				}
				if fe.Field != "" && !slices.Contains(beneficiary.Columns, fe.Field) {
					t.Fatalf("row %d: field %q is not a column", row, fe.Field)
				}
			}
			if len(errs) > 0 {
				continue
			}
			for col, v := range map[string]string{
				"given_names": rec.GivenNames, "first_surname": rec.FirstSurname, "second_surname": rec.SecondSurname,
				"nationality": rec.Nationality, "alcaldia": rec.Alcaldia, "phone": rec.Phone, "email": rec.Email,
				"curp": rec.CURP, "id_document_number": rec.IDDocumentNumber, "clabe": rec.CLABE, "card_number": rec.CardNumber,
				"sex": string(rec.Sex), "population_group": string(rec.PopulationGroup), "payment_method": string(rec.PaymentMethod),
				"id_document_type": string(rec.IDDocumentType),
			} {
				if !textcheck.Valid(v, textcheck.RosterLimits[col]) {
					t.Fatalf("row %d: accepted %s %q is not valid text", row, col, v)
				}
			}
			for _, n := range rec.Needs {
				if !textcheck.Valid(string(n), textcheck.MaxList) {
					t.Fatalf("row %d: accepted need %q is not valid text", row, n)
				}
			}
		}
	})
}
