package beneficiary

import (
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-playground/validator/v10"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/internal/textcheck"
)

// Columns lists every column a roster CSV may have, in canonical order
// (the order of a template). The header may list them in any order.
var Columns = []string{
	"given_names", "first_surname", "second_surname", "birth_date", "sex",
	"nationality", "population_group", "alcaldia", "household_size", "phone",
	"email", "curp", "id_document_type", "id_document_number",
	"payment_method", "clabe", "card_number", "needs", "consent",
}

// RequiredColumns must appear in the header. id_document_type is required
// as a column even though its cell may be empty when a CURP is given: a
// file without it is almost certainly the wrong template.
var RequiredColumns = []string{
	"given_names", "first_surname", "birth_date", "sex", "nationality",
	"population_group", "alcaldia", "payment_method", "consent",
	"id_document_type",
}

// Column indices, to avoid map lookups per cell.
const (
	colGivenNames = iota
	colFirstSurname
	colSecondSurname
	colBirthDate
	colSex
	colNationality
	colPopulationGroup
	colAlcaldia
	colHouseholdSize
	colPhone
	colEmail
	colCURP
	colIDDocumentType
	colIDDocumentNumber
	colPaymentMethod
	colCLABE
	colCardNumber
	colNeeds
	colConsent
	numColumns
)

var columnIndex = func() map[string]int {
	m := make(map[string]int, len(Columns))
	for i, c := range Columns {
		m[c] = i
	}
	return m
}()

// Header and file-level failures.
var (
	ErrEmptyFile       = &apoyo.Error{Code: apoyo.EINVALID, Reason: "beneficiary.header.empty", Message: "the file is empty; it needs a header row"}
	ErrUnknownColumn   = &apoyo.Error{Code: apoyo.EINVALID, Reason: "beneficiary.header.unknown_column", Message: "unknown column"}
	ErrNoHeader        = &apoyo.Error{Code: apoyo.EINVALID, Reason: "beneficiary.header.absent", Message: "the first row is not a header"}
	ErrMissingColumn   = &apoyo.Error{Code: apoyo.EINVALID, Reason: "beneficiary.header.missing_column", Message: "a required column is missing"}
	ErrDuplicateColumn = &apoyo.Error{Code: apoyo.EINVALID, Reason: "beneficiary.header.duplicate_column", Message: "a column appears twice"}
	ErrCSVSyntax       = &apoyo.Error{Code: apoyo.EINVALID, Reason: "beneficiary.csv_syntax", Message: "the row is not valid CSV"}
	ErrFieldCount      = &apoyo.Error{Code: apoyo.EINVALID, Reason: "beneficiary.field_count", Message: "the row does not have as many fields as the header"}
	ErrRead            = &apoyo.Error{Code: apoyo.EINTERNAL, Reason: "beneficiary.read", Message: "reading the roster failed"}
)

// Reader streams Records out of a roster CSV. It holds one row at a time,
// so a file of any length can be imported in constant memory.
//
// Row numbers are physical line numbers in the file, counting the header
// as row 1: the row of a record is the line on which it starts (the line
// of its first field, csv.Reader.FieldPos). A quoted field that spans
// lines therefore makes the following record's number jump by the extra
// lines, which is what someone looking at the file in an editor sees.
// Spreadsheet programs show such a record as one row, so for files with
// multi-line cells the numbers can differ from a spreadsheet's.
type Reader struct {
	cr     *csv.Reader
	enc    textcheck.Encoding
	now    func() time.Time
	v      *validator.Validate
	header []string
	// col maps a position in the file to a column index.
	col []int
	// present says which columns the header has; filePos where.
	present [numColumns]bool
	filePos [numColumns]int
}

// NewReader reads and checks the header of a roster CSV. Header names are
// trimmed and lower-cased, and a UTF-8 byte-order mark (Excel's "CSV UTF-8")
// is dropped. A Windows-1252 file (Excel's plain "CSV" on a Spanish
// Windows) is transcoded as it streams and Transcoded says so; UTF-16 is
// refused with textcheck.ErrEncoding saying how to save the file (see
// textcheck.Decode).
//
// An unknown, duplicated or missing required column is an *apoyo.Error at
// row 1; when the header has several problems the first is returned and
// its message lists the rest. Field names the column for a missing or
// duplicated one. An unknown column is named by its position, never
// quoted: a roster exported without its header row has a person's name,
// CURP and CLABE on line 1, and header errors end up in logs and e-mails.
// A first row without a single known column is ErrNoHeader.
// now is the clock birth dates are checked against (nil means time.Now).
func NewReader(r io.Reader, now func() time.Time) (*Reader, error) {
	if now == nil {
		now = time.Now
	}
	text, enc, err := textcheck.Decode(r)
	if err != nil {
		if errors.Is(err, textcheck.ErrRead) {
			return nil, ErrRead.Wrap(err)
		}
		var ae *apoyo.Error
		if errors.As(err, &ae) {
			return nil, ae.At(1, "")
		}
		return nil, err
	}
	cr := csv.NewReader(text)
	cr.FieldsPerRecord = -1 // a wrong count is a row error, checked in Next
	cr.ReuseRecord = true
	rd := &Reader{cr: cr, enc: enc, now: now, v: defaultValidator()}
	for i := range rd.filePos {
		rd.filePos[i] = 1<<20 + i // absent columns sort after present ones
	}

	fields, err := cr.Read()
	if err == io.EOF {
		return nil, ErrEmptyFile.At(1, "")
	}
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return nil, ErrCSVSyntax.With("the header row is not valid CSV: %v", pe.Err).At(pe.StartLine, "")
		}
		return nil, ErrRead.Wrap(err)
	}
	row, _ := cr.FieldPos(0)

	var problems []*apoyo.Error
	seen := make(map[string]bool, len(fields))
	rd.header = make([]string, len(fields))
	rd.col = make([]int, len(fields))
	known, unknown := 0, 0
	for i, f := range fields {
		name := strings.ToLower(strings.TrimSpace(f))
		idx, ok := columnIndex[name]
		rd.col[i] = idx
		if !ok {
			rd.col[i] = -1
		}
		if terr := textcheck.Check(name, textcheck.MaxCode); terr != nil {
			problems = append(problems, terr.With("column %d of the header: %s", i+1, terr.Message).At(row, ""))
			unknown++
			continue
		}
		rd.header[i] = name
		switch {
		case name == "":
			problems = append(problems, ErrUnknownColumn.With("column %d of the header has no name", i+1).At(row, ""))
		case !ok:
			unknown++
			msg := fmt.Sprintf("column %d of the header is not a known column", i+1)
			if s := suggestColumn(name); s != "" {
				msg += fmt.Sprintf(` (did you mean %q?)`, s)
			}
			problems = append(problems, ErrUnknownColumn.With("%s", msg).At(row, ""))
		case seen[name]:
			problems = append(problems, ErrDuplicateColumn.With("column %q appears more than once", name).At(row, name))
		default:
			known++
			rd.present[idx] = true
			rd.filePos[idx] = i
		}
		seen[name] = true
	}
	if known == 0 && unknown > 0 {
		return nil, ErrNoHeader.With("the first row is not a header: none of its %d cells is a column name, so the file seems to start with data (or has no header row); add a header row with the columns %s", len(fields), strings.Join(Columns, ", ")).At(row, "")
	}
	for _, c := range RequiredColumns {
		if !rd.present[columnIndex[c]] {
			problems = append(problems, ErrMissingColumn.With("required column %q is missing", c).At(row, c))
		}
	}
	if len(problems) > 0 {
		first := problems[0]
		more := make([]string, 0, len(problems))
		for _, p := range problems[1:] {
			more = append(more, p.Message)
		}
		msg := first.Message
		if len(more) > 0 {
			msg += "; also: " + strings.Join(more, "; ")
		}
		if unknown > 0 {
			msg += "; the accepted columns are " + strings.Join(Columns, ", ")
		}
		return nil, first.With("%s", msg)
	}
	return rd, nil
}

// suggestColumn returns the known column within two edits of name, for
// typos such as given_name; "" if none is that close.
func suggestColumn(name string) string {
	best, bestD := "", 3
	for _, c := range Columns {
		if d := editDistance(name, c, bestD); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, or limit if
// it is at least limit.
func editDistance(a, b string, limit int) int {
	ra, rb := []rune(a), []rune(b)
	if d := len(ra) - len(rb); d >= limit || -d >= limit {
		return limit
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return min(prev[len(rb)], limit)
}

// Transcoded names the encoding the file was transcoded from
// ("windows-1252"), or "" for a UTF-8 file, which is read as it is.
func (rd *Reader) Transcoded() string {
	if rd.enc == textcheck.Windows1252 {
		return string(rd.enc)
	}
	return ""
}

// Header returns the header's column names as read (trimmed, lower case),
// in file order.
func (rd *Reader) Header() []string { return append([]string(nil), rd.header...) }

// Next returns the next non-blank record and the row it starts on. errs
// lists every problem found in that row, each with Row and Field (the
// column) set; rec is complete and normalised only when errs is empty,
// otherwise it holds what could be parsed. A malformed row (wrong number of
// fields, broken quoting) is reported in errs with Field "" and does not
// stop the reader. err is io.EOF after the last row, or a read failure
// (*apoyo.Error wrapping the cause), after which the reader is done.
// Rows whose cells are all blank are skipped.
func (rd *Reader) Next() (rec Record, rowNum int, errs []FieldError, err error) {
	for {
		fields, err := rd.cr.Read()
		if err == io.EOF {
			return Record{}, 0, nil, io.EOF
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				// encoding/csv has consumed the broken line(s) and can go on.
				e := ErrCSVSyntax.With("the row is not valid CSV (%v); check its quotes", pe.Err)
				return Record{}, pe.StartLine, []FieldError{newFieldError(pe.StartLine, "", "", e)}, nil
			}
			return Record{}, 0, nil, ErrRead.Wrap(err).With("reading the roster failed: %v", err)
		}
		row, _ := rd.cr.FieldPos(0)
		if blank(fields) {
			continue
		}
		if len(fields) != len(rd.col) {
			// Cells cannot be attributed to columns reliably, so none is
			// parsed: a shifted row would otherwise blame the wrong fields.
			e := ErrFieldCount.With("the row has %d fields but the header has %d", len(fields), len(rd.col))
			return Record{}, row, []FieldError{newFieldError(row, "", "", e)}, nil
		}
		if errs := rd.checkText(fields, row); len(errs) > 0 {
			// The rest of the row is still parsed, without the bad cells,
			// so rec holds what could be read (its consent, say), as for
			// any other rejected row; only the text errors are reported.
			for _, fe := range errs {
				fields[rd.filePos[columnIndex[fe.Field]]] = ""
			}
			rec, _ := rd.parse(fields, row)
			return rec, row, errs, nil
		}
		rec, errs := rd.parse(fields, row)
		return rec, row, errs, nil
	}
}

// checkText applies the text rules (textcheck.Check with the column's
// limit in textcheck.RosterLimits) to every cell, trimmed as parse trims
// it. A row with a cell that is not text is reported with only those
// errors: its other cells are not judged, and nothing of it is stored.
// fields is the csv.Reader's reused slice, so Next may blank cells in it.
// Bad values get no hint: a hint would echo the bytes that are wrong.
func (rd *Reader) checkText(fields []string, row int) []FieldError {
	var errs []FieldError
	for i, f := range fields {
		c := rd.col[i]
		if c < 0 {
			continue
		}
		name := Columns[c]
		if e := textcheck.Check(strings.TrimSpace(f), textcheck.RosterLimits[name]); e != nil {
			errs = append(errs, newFieldError(row, name, "", e))
		}
	}
	return errs
}

func blank(fields []string) bool {
	for _, f := range fields {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// parse turns one row's cells into a normalised Record and reports every
// problem: first those found while converting cells (dates, numbers,
// consent), then every rule of the validator on the rest.
func (rd *Reader) parse(fields []string, row int) (Record, []FieldError) {
	var cells [numColumns]string
	for i, f := range fields {
		if c := rd.col[i]; c >= 0 {
			cells[c] = strings.TrimSpace(f)
		}
	}
	var errs []FieldError
	var parsed map[string]bool // fields whose conversion failed
	fail := func(c int, e *apoyo.Error) {
		name := Columns[c]
		errs = append(errs, newFieldError(row, name, hint(name, cells[c]), e))
		if parsed == nil {
			parsed = make(map[string]bool, 4)
		}
		parsed[name] = true
	}

	rec := Record{
		GivenNames:       cells[colGivenNames],
		FirstSurname:     cells[colFirstSurname],
		SecondSurname:    cells[colSecondSurname],
		Sex:              apoyo.Sex(cells[colSex]),
		Nationality:      cells[colNationality],
		PopulationGroup:  apoyo.PopulationGroup(cells[colPopulationGroup]),
		Alcaldia:         cells[colAlcaldia],
		Phone:            cells[colPhone],
		Email:            cells[colEmail],
		CURP:             cells[colCURP],
		IDDocumentType:   apoyo.IDDocumentType(cells[colIDDocumentType]),
		IDDocumentNumber: cells[colIDDocumentNumber],
		PaymentMethod:    apoyo.Rail(cells[colPaymentMethod]),
		CLABE:            cells[colCLABE],
		CardNumber:       cells[colCardNumber],
	}
	if s := cells[colBirthDate]; s != "" {
		if d, ok := parseDate(s); ok {
			rec.BirthDate = d
		} else {
			fail(colBirthDate, ErrBirthDateFormat)
		}
	}
	if s := cells[colHouseholdSize]; s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 1 {
			rec.HouseholdSize = n // > 30 is left to the validator
		} else {
			fail(colHouseholdSize, ErrHouseholdSize)
		}
	}
	if s := cells[colNeeds]; s != "" {
		parts := strings.Split(s, ";")
		rec.Needs = make([]apoyo.Need, 0, len(parts))
		for _, p := range parts {
			rec.Needs = append(rec.Needs, apoyo.Need(p))
		}
	}
	switch strings.ToLower(cells[colConsent]) {
	case "yes", "sí", "si":
		rec.Consent = true
	case "no":
	case "":
		fail(colConsent, ErrRequired.With("consent is required (yes or no)"))
	default:
		fail(colConsent, ErrConsent)
	}

	rec.Normalize()
	for _, fe := range rec.validate(rd.v, rd.now, parsed) {
		fe.Row, fe.Err = row, fe.Err.At(row, fe.Field)
		if c, ok := columnIndex[fe.Field]; ok {
			fe.ValueHint = hint(fe.Field, cells[c]) // the cell as written
		}
		errs = append(errs, fe)
	}
	if len(errs) > 1 {
		// Report in the file's column order, as the person will fix them.
		slices.SortStableFunc(errs, func(a, b FieldError) int {
			return cmp.Compare(rd.filePos[columnIndex[a.Field]], rd.filePos[columnIndex[b.Field]])
		})
	}
	return rec, errs
}

// parseDate accepts ISO dates and the DD/MM/YYYY that Mexican spreadsheets
// produce. A slashed date is always read day first (03/04/1990 is 3 April);
// a US-style MM/DD file would be misread, and there is no way to tell.
func parseDate(s string) (time.Time, bool) {
	for _, layout := range []string{time.DateOnly, "02/01/2006", "2/1/2006"} {
		if d, err := time.Parse(layout, s); err == nil {
			return d, true
		}
	}
	return time.Time{}, false
}

func itoa(n int) string { return strconv.Itoa(n) }
