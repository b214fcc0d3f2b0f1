package beneficiary

import (
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/mxid"
)

// Record is one beneficiary as listed in a roster. The csv tag names the
// roster column (and the Field of any error about it); the validate tag
// holds the single-field rules, and the cross-field rules live in
// validateRecord. Call Normalize before Validate.
type Record struct {
	GivenNames      string                `csv:"given_names" validate:"required,max=100"`
	FirstSurname    string                `csv:"first_surname" validate:"required,max=100"`
	SecondSurname   string                `csv:"second_surname" validate:"max=100"`
	BirthDate       time.Time             `csv:"birth_date" validate:"required,not_future,not_before=1900"`
	Sex             apoyo.Sex             `csv:"sex" validate:"required,enum"`
	Nationality     string                `csv:"nationality" validate:"required,iso3166_alpha3_known"` // ISO 3166-1 alpha-3, upper case
	PopulationGroup apoyo.PopulationGroup `csv:"population_group" validate:"required,enum"`
	Alcaldia        string                `csv:"alcaldia" validate:"required,alcaldia"` // canonical name, see mxid.Alcaldias
	// HouseholdSize is 0 when the roster does not say; a stated size must be
	// 1-30.
	HouseholdSize    int                  `csv:"household_size" validate:"omitempty,min=1,max=30"`
	Phone            string               `csv:"phone" validate:"omitempty,mx_phone"`
	Email            string               `csv:"email" validate:"omitempty,max=254,email"`
	CURP             string               `csv:"curp" validate:"omitempty,curp"`
	IDDocumentType   apoyo.IDDocumentType `csv:"id_document_type" validate:"omitempty,enum"`
	IDDocumentNumber string               `csv:"id_document_number" validate:"omitempty,doc_number=IDDocumentType"`
	PaymentMethod    apoyo.Rail           `csv:"payment_method" validate:"required,enum"`
	CLABE            string               `csv:"clabe" validate:"omitempty,clabe"`
	CardNumber       string               `csv:"card_number" validate:"omitempty,card_number"`
	Needs            []apoyo.Need         `csv:"needs" validate:"dive,enum"`
	// Consent records the person's answer; false is a well-formed answer,
	// not a validation error. Whether a record without consent may be
	// enrolled is for the importer to decide.
	Consent bool `csv:"consent"`
}

// Normalize puts every field in canonical form: names trimmed with inner
// runs of spaces collapsed and accents composed (NFC, so a name typed on a
// Mac compares equal to the same name typed elsewhere); CURP, nationality
// and document number upper case; enums lower case with spaces and hyphens
// as underscores; the alcaldía's canonical name when recognised; phone,
// CLABE and card number without separators; needs lower case, deduplicated.
//
// When the document type is curp and only one of the curp and
// id_document_number fields holds a valid CURP, it is copied into the
// other, so later stages find the CURP in one place. An invalid one is not
// copied, so its error is reported only on the field where it was written.
// Normalize is idempotent.
func (r *Record) Normalize() {
	r.GivenNames = normName(r.GivenNames)
	r.FirstSurname = normName(r.FirstSurname)
	r.SecondSurname = normName(r.SecondSurname)
	r.Sex = apoyo.Sex(strings.ToUpper(strings.TrimSpace(string(r.Sex))))
	r.Nationality = strings.ToUpper(strings.TrimSpace(r.Nationality))
	r.PopulationGroup = apoyo.PopulationGroup(normEnum(string(r.PopulationGroup)))
	r.Alcaldia = strings.TrimSpace(r.Alcaldia)
	if a, ok := mxid.CanonicalAlcaldia(r.Alcaldia); ok {
		r.Alcaldia = a
	}
	r.Phone = stripRunes(strings.TrimSpace(r.Phone), " -().\u00a0")
	r.Email = strings.TrimSpace(r.Email)
	r.CURP = mxid.NormalizeCURP(r.CURP)
	r.IDDocumentType = apoyo.IDDocumentType(normEnum(string(r.IDDocumentType)))
	r.IDDocumentNumber = strings.ToUpper(strings.TrimSpace(r.IDDocumentNumber))
	r.PaymentMethod = apoyo.Rail(normEnum(string(r.PaymentMethod)))
	r.CLABE = stripRunes(strings.TrimSpace(r.CLABE), " -\u00a0")
	r.CardNumber = stripRunes(strings.TrimSpace(r.CardNumber), " -\u00a0")
	r.Needs = normNeeds(r.Needs)

	if r.IDDocumentType == apoyo.DocCURP {
		switch {
		case r.CURP == "" && r.IDDocumentNumber != "" && mxid.ValidateCURP(r.IDDocumentNumber) == nil:
			r.CURP = r.IDDocumentNumber
		case r.IDDocumentNumber == "" && r.CURP != "" && mxid.ValidateCURP(r.CURP) == nil:
			r.IDDocumentNumber = r.CURP
		}
	}
}

// DedupKeys returns the strings later hashed into blind indexes to find the
// same person listed twice: curpKey is the CURP ("" if none) and docKey is
// "<document type>:<number>" ("" without both). Both are upper case with
// spaces and dashes removed, so "G-123 456" and "g123456" collide.
func (r *Record) DedupKeys() (curpKey, docKey string) {
	curpKey = dedupNorm(r.CURP)
	if n := dedupNorm(r.IDDocumentNumber); n != "" && r.IDDocumentType != "" {
		docKey = normEnum(string(r.IDDocumentType)) + ":" + n
	}
	return curpKey, docKey
}

func dedupNorm(s string) string {
	return strings.ToUpper(strings.Map(func(r rune) rune {
		if r == '-' || r == '‐' || r == '–' || unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s))
}

// normName trims, collapses inner whitespace and composes accents.
func normName(s string) string {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "  ") || strings.ContainsAny(s, "\t\n\r\u00a0") {
		s = strings.Join(strings.Fields(s), " ")
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return norm.NFC.String(s)
		}
	}
	return s // ASCII is always NFC
}

// normEnum lower-cases and turns spaces and hyphens into underscores, so
// "Asylum seeker" and "asylum-seeker" both read as asylum_seeker.
func normEnum(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return '_'
		}
		return r
	}, s)
}

// stripRunes removes every rune of cut from s (no allocation if none).
func stripRunes(s, cut string) string {
	if !strings.ContainsAny(s, cut) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if strings.ContainsRune(cut, r) {
			return -1
		}
		return r
	}, s)
}

func normNeeds(in []apoyo.Need) []apoyo.Need {
	if len(in) == 0 {
		return in
	}
	out := make([]apoyo.Need, 0, len(in)) // never write through the caller's slice
	for _, n := range in {
		n = apoyo.Need(normEnum(string(n)))
		if n == "" {
			continue
		}
		dup := false
		for _, o := range out {
			if o == n {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, n)
		}
	}
	return out
}
