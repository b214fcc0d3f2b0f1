package beneficiary

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-playground/validator/v10"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/mxid"
)

// Reasons for problems in a record's fields. Identifier problems (CURP,
// CLABE) carry mxid's reasons instead ("curp.check_digit", ...).
var (
	ErrRequired          = &apoyo.Error{Code: apoyo.EINVALID, Reason: "beneficiary.required", Message: "a value is required"}
	ErrTooLong           = &apoyo.Error{Code: apoyo.EINVALID, Reason: "beneficiary.too_long", Message: "the value is too long"}
	ErrUnknownValue      = &apoyo.Error{Code: apoyo.EINVALID, Reason: "beneficiary.unknown_value", Message: "the value is not one of the accepted ones"}
	ErrBirthDateFormat   = &apoyo.Error{Code: apoyo.EINVALID, Reason: "beneficiary.birth_date.format", Message: "birth date must be written YYYY-MM-DD or DD/MM/YYYY"}
	ErrBirthDateFuture   = &apoyo.Error{Code: apoyo.EINVALID, Reason: "beneficiary.birth_date.future", Message: "birth date is in the future"}
	ErrBirthDateTooOld   = &apoyo.Error{Code: apoyo.EINVALID, Reason: "beneficiary.birth_date.too_old", Message: "birth date is before 1900"}
	ErrNationality       = &apoyo.Error{Code: apoyo.EINVALID, Reason: "beneficiary.nationality", Message: "nationality must be an ISO 3166-1 alpha-3 country code such as VEN, HND or HTI (XXA for a stateless person)"}
	ErrAlcaldia          = &apoyo.Error{Code: apoyo.EINVALID, Reason: "beneficiary.alcaldia", Message: "alcaldía must be one of Mexico City's 16 alcaldías"}
	ErrHouseholdSize     = &apoyo.Error{Code: apoyo.EINVALID, Reason: "beneficiary.household_size", Message: "household size must be a whole number from 1 to 30"}
	ErrPhone             = &apoyo.Error{Code: apoyo.EINVALID, Reason: "beneficiary.phone", Message: "phone must be a 10-digit Mexican number (optionally with +52) or an international number starting with + and country code (at most 15 digits)"}
	ErrEmail             = &apoyo.Error{Code: apoyo.EINVALID, Reason: "beneficiary.email", Message: "email is not a valid e-mail address"}
	ErrDocNumber         = &apoyo.Error{Code: apoyo.EINVALID, Reason: "beneficiary.id_document_number", Message: "the document number does not have the form of its document type"}
	ErrCardNumber        = &apoyo.Error{Code: apoyo.EINVALID, Reason: "beneficiary.card_number", Message: "card number must be 13 to 19 digits with a valid check digit (Luhn)"}
	ErrConsent           = &apoyo.Error{Code: apoyo.EINVALID, Reason: "beneficiary.consent", Message: "consent must be yes or no (sí and si are accepted)"}
	ErrCLABERequired     = &apoyo.Error{Code: apoyo.EINVALID, Reason: "beneficiary.clabe_required", Message: "a CLABE is required when the payment method is spei"}
	ErrCardRequired      = &apoyo.Error{Code: apoyo.EINVALID, Reason: "beneficiary.card_required", Message: "a card number is required when the payment method is card"}
	ErrCURPMismatch      = &apoyo.Error{Code: apoyo.EINVALID, Reason: "beneficiary.curp_mismatch", Message: "when the document type is curp, id_document_number must be the same CURP as the curp column (or one of them left empty)"}
	ErrIdentityRequired  = &apoyo.Error{Code: apoyo.EINVALID, Reason: "beneficiary.identity_required", Message: "a CURP or an identity document (id_document_type and id_document_number) is required"}
	ErrDocTypeRequired   = &apoyo.Error{Code: apoyo.EINVALID, Reason: "beneficiary.id_document_type_required", Message: "id_document_type is required when id_document_number is given"}
	ErrDocNumberRequired = &apoyo.Error{Code: apoyo.EINVALID, Reason: "beneficiary.id_document_number_required", Message: "id_document_number is required when id_document_type is given"}
	ErrInvalid           = &apoyo.Error{Code: apoyo.EINVALID, Reason: "beneficiary.invalid", Message: "the value is not valid"}
)

// FieldError is one problem with one field of one record. ValueHint shows
// enough of the offending value to find it in the file without revealing
// it (see Mask); Message is plain English and never contains the value.
// Err is the same problem as an *apoyo.Error (code EINVALID, a stable
// Reason, Row and Field set).
type FieldError struct {
	Row       int    // as numbered in the file, header = 1; 0 outside a file
	Field     string // the CSV column name; "" for a problem with the whole row
	ValueHint string
	Message   string
	Err       *apoyo.Error
}

// Error implements error.
func (e FieldError) Error() string {
	loc := ""
	if e.Row > 0 {
		loc = fmt.Sprintf("row %d: ", e.Row)
	}
	if e.Field != "" {
		loc += e.Field + ": "
	}
	if e.ValueHint != "" {
		return loc + e.Message + " (value " + e.ValueHint + ")"
	}
	return loc + e.Message
}

// Unwrap lets errors.Is match the sentinels above.
func (e FieldError) Unwrap() error { return e.Err }

func newFieldError(row int, field, hint string, err *apoyo.Error) FieldError {
	err = err.At(row, field)
	return FieldError{Row: row, Field: field, ValueHint: hint, Message: err.Message, Err: err}
}

type nowKey struct{}

// clock returns the "now" carried by ctx, so one shared validator can judge
// "not in the future" against the reader's clock rather than the wall's.
func clock(ctx context.Context) time.Time {
	if f, ok := ctx.Value(nowKey{}).(func() time.Time); ok && f != nil {
		return f()
	}
	return time.Now()
}

// NewValidator returns a validator with the programme's custom tags
// registered: curp, clabe, alcaldia, mx_phone, iso3166_alpha3_known,
// not_future, not_before=<year>, doc_number=<sibling type field>,
// card_number and enum (any type with a Valid() bool method), plus the
// cross-field rules of Record. Field names in its errors are the csv tag
// names. A *validator.Validate is safe for concurrent use; make one and
// share it.
func NewValidator() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		if n, _, _ := strings.Cut(f.Tag.Get("csv"), ","); n != "" && n != "-" {
			return n
		}
		return f.Name
	})
	must := func(err error) {
		if err != nil {
			panic(err) // only on a programming error in the tag names
		}
	}
	str := func(f func(string) bool) validator.Func {
		return func(fl validator.FieldLevel) bool { return f(fl.Field().String()) }
	}
	must(v.RegisterValidation("curp", str(func(s string) bool { return mxid.ValidateCURP(s) == nil })))
	must(v.RegisterValidation("clabe", str(func(s string) bool { return mxid.ValidateCLABE(s) == nil })))
	must(v.RegisterValidation("alcaldia", str(func(s string) bool {
		_, ok := mxid.CanonicalAlcaldia(s)
		return ok
	})))
	must(v.RegisterValidation("mx_phone", str(ValidPhone)))
	must(v.RegisterValidation("iso3166_alpha3_known", str(func(s string) bool { return KnownNationality(strings.ToUpper(s)) })))
	must(v.RegisterValidation("card_number", str(ValidCardNumber)))
	must(v.RegisterValidation("enum", func(fl validator.FieldLevel) bool {
		f := fl.Field()
		// Switch on the type rather than box the value into an interface:
		// this runs five times per row.
		switch f.Type() {
		case sexType:
			return apoyo.Sex(f.String()).Valid()
		case populationGroupType:
			return apoyo.PopulationGroup(f.String()).Valid()
		case idDocumentTypeType:
			return apoyo.IDDocumentType(f.String()).Valid()
		case paymentMethodType:
			return apoyo.Rail(f.String()).Valid()
		case needType:
			return apoyo.Need(f.String()).Valid()
		}
		e, ok := f.Interface().(interface{ Valid() bool })
		return ok && e.Valid()
	}))
	must(v.RegisterValidationCtx("not_future", func(ctx context.Context, fl validator.FieldLevel) bool {
		t, ok := fl.Field().Interface().(time.Time)
		return ok && !dateAfterToday(t, clock(ctx))
	}))
	must(v.RegisterValidation("not_before", func(fl validator.FieldLevel) bool {
		t, ok := fl.Field().Interface().(time.Time)
		year, err := strconv.Atoi(fl.Param())
		if err != nil {
			panic(fmt.Sprintf("not_before needs a year, got %q", fl.Param()))
		}
		return ok && t.Year() >= year
	}))
	must(v.RegisterValidation("doc_number", func(fl validator.FieldLevel) bool {
		typ, _, _, found := fl.GetStructFieldOKAdvanced2(fl.Parent(), fl.Param())
		if !found {
			panic(fmt.Sprintf("doc_number: no field %q next to the number", fl.Param()))
		}
		return docNumberProblem(apoyo.IDDocumentType(typ.String()), fl.Field().String()) == ""
	}))
	v.RegisterStructValidationCtx(validateRecord, Record{})
	return v
}

var defaultValidator = sync.OnceValue(NewValidator)

var (
	sexType             = reflect.TypeFor[apoyo.Sex]()
	populationGroupType = reflect.TypeFor[apoyo.PopulationGroup]()
	idDocumentTypeType  = reflect.TypeFor[apoyo.IDDocumentType]()
	paymentMethodType   = reflect.TypeFor[apoyo.Rail]()
	needType            = reflect.TypeFor[apoyo.Need]()
)

// dateAfterToday compares calendar dates, not instants: someone born today
// is not born "in the future" because the clock reads 09:00.
func dateAfterToday(d, now time.Time) bool {
	y, m, day := now.Date()
	today := time.Date(y, m, day, 0, 0, 0, 0, time.UTC)
	dy, dm, dd := d.Date()
	return time.Date(dy, dm, dd, 0, 0, 0, 0, time.UTC).After(today)
}

// validateRecord holds the rules that involve more than one field.
func validateRecord(_ context.Context, sl validator.StructLevel) {
	var r *Record
	if cur := sl.Current(); cur.CanAddr() {
		r = cur.Addr().Interface().(*Record) // no copy of the whole record
	} else {
		rec := cur.Interface().(Record)
		r = &rec
	}
	// The rail table says which instrument each rail pays to.
	switch r.PaymentMethod.Rules().Instrument {
	case apoyo.InstrumentCLABE:
		if r.CLABE == "" {
			sl.ReportError(r.CLABE, "clabe", "CLABE", "required_for_"+string(r.PaymentMethod), "")
		}
	case apoyo.InstrumentCard:
		if r.CardNumber == "" {
			sl.ReportError(r.CardNumber, "card_number", "CardNumber", "required_for_"+string(r.PaymentMethod), "")
		}
	}
	switch {
	case r.CURP == "" && r.IDDocumentType == "" && r.IDDocumentNumber == "":
		sl.ReportError(r.IDDocumentType, "id_document_type", "IDDocumentType", "identity_required", "")
	case r.IDDocumentType == "" && r.IDDocumentNumber != "":
		sl.ReportError(r.IDDocumentType, "id_document_type", "IDDocumentType", "required_with_number", "")
	case r.IDDocumentType == apoyo.DocCURP:
		if r.CURP == "" && r.IDDocumentNumber == "" {
			sl.ReportError(r.IDDocumentNumber, "id_document_number", "IDDocumentNumber", "required_with_type", "")
		} else if r.CURP != "" && r.IDDocumentNumber != "" && mxid.NormalizeCURP(r.CURP) != mxid.NormalizeCURP(r.IDDocumentNumber) {
			sl.ReportError(r.IDDocumentNumber, "id_document_number", "IDDocumentNumber", "curp_mismatch", "")
		}
	case r.IDDocumentType != "" && r.IDDocumentNumber == "":
		sl.ReportError(r.IDDocumentNumber, "id_document_number", "IDDocumentNumber", "required_with_type", "")
	}
}

// ValidPhone accepts a 10-digit Mexican number, the same with +52 (or the
// old +521 mobile prefix), or any international number in E.164 form
// (+, country code, 7-15 digits in all) for people still using a foreign
// line. Spaces, hyphens, dots and parentheses are ignored.
func ValidPhone(p string) bool {
	p = stripRunes(strings.TrimSpace(p), " -().\u00a0")
	switch {
	case len(p) == 10 && allDigits(p):
		return true
	case strings.HasPrefix(p, "+52"):
		rest := p[3:]
		if len(rest) == 11 && rest[0] == '1' {
			rest = rest[1:]
		}
		return len(rest) == 10 && allDigits(rest)
	case strings.HasPrefix(p, "+"):
		d := p[1:]
		return len(d) >= 7 && len(d) <= 15 && d[0] != '0' && allDigits(d)
	}
	return false
}

// ValidCardNumber checks 13-19 digits and the Luhn check digit, which
// catches nearly every single mistyped digit before a card load fails.
func ValidCardNumber(s string) bool {
	s = stripRunes(strings.TrimSpace(s), " -")
	if len(s) < 13 || len(s) > 19 || !allDigits(s) {
		return false
	}
	sum := 0
	for i := 0; i < len(s); i++ {
		d := int(s[len(s)-1-i] - '0')
		if i%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// docNumberProblem returns "" if number has the form expected for typ, or a
// plain-English description of that form. The forms are deliberately
// loose (length and alphabet): INM, COMAR and consulates change their
// numbering, and a caseworker checks the document itself anyway.
func docNumberProblem(typ apoyo.IDDocumentType, number string) string {
	n := strings.ToUpper(strings.TrimSpace(number))
	switch typ {
	case apoyo.DocCURP:
		if err := mxid.ValidateCURP(n); err != nil {
			return err.(*apoyo.Error).Message
		}
	case apoyo.DocPasaporte:
		if !alnumLen(n, 6, 12, "") {
			return "a passport number must be 6 to 12 letters and digits"
		}
	case apoyo.DocTVRH, apoyo.DocResidenteTemporal, apoyo.DocResidentePermanente:
		if !alnumLen(n, 8, 13, "") {
			return "an INM card number must be 8 to 13 letters and digits"
		}
	case apoyo.DocCOMARConstancia, apoyo.DocPadronHuespedes:
		if !alnumLen(n, 4, 20, "-/") {
			return "this document's number must be 4 to 20 letters, digits, '-' or '/'"
		}
	case apoyo.DocMatriculaConsular:
		if !alnumLen(n, 6, 16, "") {
			return "a matrícula consular number must be 6 to 16 letters and digits"
		}
	}
	// An empty or unknown type is reported on id_document_type instead.
	return ""
}

func alnumLen(s string, lo, hi int, extra string) bool {
	if len(s) < lo || len(s) > hi {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strings.IndexByte(extra, c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// Validate checks r (normalised with Normalize first) against every rule
// and returns one FieldError per problem, in column order, with Row 0 and
// hints built from r's values. A nil v uses a shared NewValidator(). now
// is the moment "not in the future" is judged against.
func (r *Record) Validate(v *validator.Validate, now time.Time) []FieldError {
	return r.validate(v, func() time.Time { return now }, nil)
}

// validate is Validate with a clock and the fields already reported by the
// parser, whose rule-level duplicates (e.g. "required" after an unparsable
// date) are dropped.
func (r *Record) validate(v *validator.Validate, now func() time.Time, skip map[string]bool) []FieldError {
	if v == nil {
		v = defaultValidator()
	}
	ctx := context.WithValue(context.Background(), nowKey{}, now)
	err := v.StructCtx(ctx, r)
	if err == nil {
		return nil
	}
	var ves validator.ValidationErrors
	if !errors.As(err, &ves) {
		// InvalidValidationError: only on a programming error.
		return []FieldError{newFieldError(0, "", "", ErrInvalid.Wrap(err).With("record could not be validated: %v", err))}
	}
	out := make([]FieldError, 0, len(ves))
	for _, fe := range ves {
		field := fe.Field()
		if i := strings.IndexByte(field, '['); i >= 0 { // needs[2] → needs
			field = field[:i]
		}
		if skip[field] {
			continue
		}
		e := r.describe(field, fe.Tag())
		dup := false
		for _, o := range out {
			if o.Field == field && o.Err.Reason == e.Reason {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, newFieldError(0, field, hint(field, r.value(field)), e))
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return columnIndex[out[i].Field] < columnIndex[out[j].Field] })
	return out
}

// label is a column's name as written in messages.
func label(field string) string { return strings.ReplaceAll(field, "_", " ") }

func joinEnum[T ~string](vs []T) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

// describe turns a failed rule into a plain-English *apoyo.Error. For the
// identifiers it asks mxid again, to say exactly what is wrong (length,
// check digit, date...) rather than just "invalid CURP".
func (r *Record) describe(field, tag string) *apoyo.Error {
	switch tag {
	case "required":
		return ErrRequired.With("%s is required", label(field))
	case "max":
		if field == "household_size" {
			return ErrHouseholdSize
		}
		return ErrTooLong.With("%s is too long", label(field))
	case "min":
		return ErrHouseholdSize
	case "not_future":
		return ErrBirthDateFuture
	case "not_before":
		return ErrBirthDateTooOld
	case "iso3166_alpha3_known":
		return ErrNationality
	case "alcaldia":
		return ErrAlcaldia
	case "mx_phone":
		return ErrPhone
	case "email":
		return ErrEmail
	case "card_number":
		return ErrCardNumber
	case "curp":
		return asError(mxid.ValidateCURP(r.CURP))
	case "clabe":
		return asError(mxid.ValidateCLABE(r.CLABE))
	case "doc_number":
		if r.IDDocumentType == apoyo.DocCURP {
			return asError(mxid.ValidateCURP(r.IDDocumentNumber))
		}
		return ErrDocNumber.With("%s", docNumberProblem(r.IDDocumentType, r.IDDocumentNumber))
	case "enum":
		switch field {
		case "sex":
			return ErrUnknownValue.With("sex must be H, M or X")
		case "population_group":
			return ErrUnknownValue.With("population group must be one of %s", joinEnum(apoyo.PopulationGroups))
		case "id_document_type":
			return ErrUnknownValue.With("id document type must be one of %s", joinEnum(apoyo.IDDocumentTypes))
		case "payment_method":
			return ErrUnknownValue.With("payment method must be one of %s", joinEnum(apoyo.Rails))
		case "needs":
			return ErrUnknownValue.With("needs must be a ';'-separated list of %s", joinEnum(apoyo.Needs))
		}
		return ErrUnknownValue.With("%s is not one of the accepted values", label(field))
	case "required_for_spei":
		return ErrCLABERequired
	case "required_for_card":
		return ErrCardRequired
	case "curp_mismatch":
		return ErrCURPMismatch
	case "identity_required":
		return ErrIdentityRequired
	case "required_with_number":
		return ErrDocTypeRequired
	case "required_with_type":
		return ErrDocNumberRequired
	}
	return ErrInvalid.With("%s is not valid", label(field))
}

func asError(err error) *apoyo.Error {
	var e *apoyo.Error
	if errors.As(err, &e) {
		return e
	}
	return ErrInvalid
}
