package beneficiary

import (
	"time"
	"unicode/utf8"

	"github.com/apoyo-cdmx/apoyo/pii"
)

// unmaskedColumns hold values that do not identify anyone on their own
// (dates, enums, places), so their hints show the value: "sex: must be H,
// M or X (value F)" is far more useful than "(value •••)".
var unmaskedColumns = map[string]bool{
	"birth_date": true, "sex": true, "nationality": true, "population_group": true,
	"alcaldia": true, "household_size": true, "id_document_type": true,
	"payment_method": true, "needs": true, "consent": true,
}

// hint is the ValueHint for a value of a column. Even in unmasked columns a
// value that looks like an identifier (many digits, or long) is masked: a
// CURP or phone pasted into the wrong column is still personal data.
func hint(field, v string) string {
	if v == "" {
		return ""
	}
	if unmaskedColumns[field] {
		digits := 0
		for i := 0; i < len(v); i++ {
			if v[i] >= '0' && v[i] <= '9' {
				digits++
			}
		}
		maxDigits, maxLen := 4, 40
		if field == "birth_date" {
			maxDigits, maxLen = 8, 12
		}
		if digits <= maxDigits && utf8.RuneCountInString(v) <= maxLen {
			return v
		}
	}
	return pii.Mask(v)
}

// value renders a field of r as it would appear in the roster, for hints
// when a record did not come from a file.
func (r *Record) value(field string) string {
	switch field {
	case "given_names":
		return r.GivenNames
	case "first_surname":
		return r.FirstSurname
	case "second_surname":
		return r.SecondSurname
	case "birth_date":
		if r.BirthDate.IsZero() {
			return ""
		}
		return r.BirthDate.Format(time.DateOnly)
	case "sex":
		return string(r.Sex)
	case "nationality":
		return r.Nationality
	case "population_group":
		return string(r.PopulationGroup)
	case "alcaldia":
		return r.Alcaldia
	case "household_size":
		if r.HouseholdSize == 0 {
			return ""
		}
		return itoa(r.HouseholdSize)
	case "phone":
		return r.Phone
	case "email":
		return r.Email
	case "curp":
		return r.CURP
	case "id_document_type":
		return string(r.IDDocumentType)
	case "id_document_number":
		return r.IDDocumentNumber
	case "payment_method":
		return string(r.PaymentMethod)
	case "clabe":
		return r.CLABE
	case "card_number":
		return r.CardNumber
	case "needs":
		return joinEnum(r.Needs)
	}
	return ""
}
