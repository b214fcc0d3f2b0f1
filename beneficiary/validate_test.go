package beneficiary_test

import (
	"strings"
	"testing"
	"time"

	"github.com/go-playground/validator/v10"
	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/beneficiary"
	"github.com/apoyo-cdmx/apoyo/pii"
)

func goodRecord() beneficiary.Record {
	return beneficiary.Record{
		GivenNames:       "Gabriela",
		FirstSurname:     "Hernández",
		BirthDate:        time.Date(1956, 4, 27, 0, 0, 0, 0, time.UTC),
		Sex:              apoyo.SexFemale,
		Nationality:      "HTI",
		PopulationGroup:  apoyo.PopulationMigrant,
		Alcaldia:         "Iztapalapa",
		CURP:             goodCURP,
		IDDocumentType:   apoyo.DocTVRH,
		IDDocumentNumber: "TV12345678",
		PaymentMethod:    apoyo.RailCashPickup,
		Consent:          true,
	}
}

func TestRecordValidate(t *testing.T) {
	t.Parallel()
	v := beneficiary.NewValidator()
	tests := []struct {
		name   string
		mut    func(r *beneficiary.Record)
		field  string // "" = valid
		reason string
	}{
		{"valid", func(r *beneficiary.Record) {}, "", ""},
		{"born today", func(r *beneficiary.Record) { r.BirthDate = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC) }, "", ""},
		{"born tomorrow", func(r *beneficiary.Record) { r.BirthDate = time.Date(2025, 6, 2, 0, 0, 0, 0, time.UTC) }, "birth_date", "beneficiary.birth_date.future"},
		{"born 1899", func(r *beneficiary.Record) { r.BirthDate = time.Date(1899, 12, 31, 0, 0, 0, 0, time.UTC) }, "birth_date", "beneficiary.birth_date.too_old"},
		{"born 1900", func(r *beneficiary.Record) { r.BirthDate = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC) }, "", ""},
		{"no birth date", func(r *beneficiary.Record) { r.BirthDate = time.Time{} }, "birth_date", "beneficiary.required"},
		{"household 30", func(r *beneficiary.Record) { r.HouseholdSize = 30 }, "", ""},
		{"household 31", func(r *beneficiary.Record) { r.HouseholdSize = 31 }, "household_size", "beneficiary.household_size"},
		{"household negative", func(r *beneficiary.Record) { r.HouseholdSize = -1 }, "household_size", "beneficiary.household_size"},
		{"unknown nationality", func(r *beneficiary.Record) { r.Nationality = "XKX" }, "nationality", "beneficiary.nationality"},
		{"alpha-2 nationality", func(r *beneficiary.Record) { r.Nationality = "HT" }, "nationality", "beneficiary.nationality"},
		{"stateless", func(r *beneficiary.Record) { r.Nationality = "XXA" }, "", ""},
		{"alcaldía not canonical but known", func(r *beneficiary.Record) { r.Alcaldia = "GAM" }, "", ""},
		{"not an alcaldía", func(r *beneficiary.Record) { r.Alcaldia = "Nezahualcóyotl" }, "alcaldia", "beneficiary.alcaldia"},
		{"bad sex", func(r *beneficiary.Record) { r.Sex = "F" }, "sex", "beneficiary.unknown_value"},
		{"bad need", func(r *beneficiary.Record) { r.Needs = []apoyo.Need{"health", "food"} }, "needs", "beneficiary.unknown_value"},
		{"long name", func(r *beneficiary.Record) { r.GivenNames = strings.Repeat("a", 101) }, "given_names", "beneficiary.too_long"},
		{"bad email", func(r *beneficiary.Record) { r.Email = "a@" }, "email", "beneficiary.email"},
		{"bad CURP reports mxid reason", func(r *beneficiary.Record) { r.CURP = "HEGG560230MVZRRL04" }, "curp", "curp.date"},
		{"card, no number", func(r *beneficiary.Record) { r.PaymentMethod = apoyo.RailCard }, "card_number", "beneficiary.card_required"},
		{"spei, no CLABE", func(r *beneficiary.Record) { r.PaymentMethod = apoyo.RailSPEI }, "clabe", "beneficiary.clabe_required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := goodRecord()
			tc.mut(&r)
			errs := r.Validate(v, fixedNow)
			if tc.field == "" {
				require.Empty(t, errs)
				return
			}
			require.Len(t, errs, 1, "%v", errs)
			require.Equal(t, tc.field, errs[0].Field)
			require.Equal(t, tc.reason, errs[0].Err.Reason)
			require.Equal(t, apoyo.EINVALID, errs[0].Err.Code)
			require.Equal(t, 0, errs[0].Row)
		})
	}
}

func TestRecordValidateNilValidatorAndHints(t *testing.T) {
	t.Parallel()
	r := goodRecord()
	r.CURP = "HEGG560427MVZRRL05"
	r.Sex = "Q"
	errs := r.Validate(nil, fixedNow)
	require.Equal(t, []string{"sex", "curp"}, fields(errs))
	require.Equal(t, "Q", errs[0].ValueHint)
	require.Equal(t, "HE••••••••••••••05", errs[1].ValueHint)
	require.ErrorIs(t, errs[1], &apoyo.Error{Reason: "curp.check_digit"})
}

// The validator works as a plain validator too, with errors named by
// column; without a clock in the context "now" is the wall clock.
func TestNewValidatorPlainUse(t *testing.T) {
	t.Parallel()
	v := beneficiary.NewValidator()
	r := goodRecord()
	r.BirthDate = time.Now().AddDate(0, 0, 2)
	r.Phone = "123"
	err := v.Struct(r)
	var ves validator.ValidationErrors
	require.ErrorAs(t, err, &ves)
	var got []string
	for _, fe := range ves {
		got = append(got, fe.Field()+":"+fe.Tag())
	}
	require.ElementsMatch(t, []string{"birth_date:not_future", "phone:mx_phone"}, got)
}

func TestValidPhone(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		"5512345678":         true,
		"55 1234 5678":       true,
		"(55) 1234-5678":     true,
		"+525512345678":      true,
		"+52 1 55 1234 5678": true, // old mobile prefix
		"+58 412 555 1234":   true, // Venezuela
		"+1 202 555 0143":    true,
		"+50937000000":       true, // Haiti
		"551234567":          false,
		"55123456789":        false,
		"+52551234567":       false,
		"+0123456789":        false,
		"+123456":            false,
		"+1234567890123456":  false,
		"55-1234-567a":       false,
		"":                   false,
	} {
		require.Equal(t, want, beneficiary.ValidPhone(in), in)
	}
}

func TestValidCardNumber(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		"4111111111111111":     true, // Visa test number
		"4111 1111 1111 1111":  true,
		"5555555555554444":     true, // Mastercard test number
		"378282246310005":      true, // Amex test number (15)
		"4222222222222":        true, // 13-digit Visa test number
		"4111111111111112":     false,
		"411111111111":         false, // 12 digits
		"41111111111111111113": false, // 20 digits
		"4111a11111111111":     false,
	} {
		require.Equal(t, want, beneficiary.ValidCardNumber(in), in)
	}
}

// TestNationalityList cross-checks the ISO list against validator's own
// iso3166_1_alpha3 table: every code of ours passes it, and there are the
// 249 codes ISO assigns.
func TestNationalityList(t *testing.T) {
	t.Parallel()
	v := validator.New()
	n := 0
	for a := 'A'; a <= 'Z'; a++ {
		for b := 'A'; b <= 'Z'; b++ {
			for c := 'A'; c <= 'Z'; c++ {
				code := string([]rune{a, b, c})
				ours := beneficiary.KnownNationality(code)
				theirs := v.Var(code, "iso3166_1_alpha3") == nil
				if code == "XXA" {
					require.True(t, ours)
					continue
				}
				if code == "UNK" { // validator's non-ISO extra
					require.False(t, ours)
					continue
				}
				require.Equal(t, theirs, ours, code)
				if ours {
					n++
				}
			}
		}
	}
	require.Equal(t, 249, n)
	require.True(t, beneficiary.KnownNationality("MEX"))
	require.False(t, beneficiary.KnownNationality("mex")) // Normalize upper-cases first
}

func TestMask(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                   "",
		"abc":                "•••",
		"abcdef":             "•••",
		"abcdefg":            "ab•••fg",
		"GODE561231HDFABC09": "GO••••••••••••••09",
		"Peña Ñúñez":         "Pe••••••ez",
	} {
		require.Equal(t, want, pii.Mask(in), in)
	}
}

func TestEnumsValid(t *testing.T) {
	t.Parallel()
	for _, g := range apoyo.PopulationGroups {
		require.True(t, g.Valid())
	}
	for _, d := range apoyo.IDDocumentTypes {
		require.True(t, d.Valid())
	}
	for _, m := range apoyo.Rails {
		require.True(t, m.Valid())
	}
	for _, n := range apoyo.Needs {
		require.True(t, n.Valid())
	}
	for _, s := range []apoyo.Sex{apoyo.SexMale, apoyo.SexFemale, apoyo.SexNonBinary} {
		require.True(t, s.Valid())
	}
	require.False(t, apoyo.PopulationGroup("Refugee").Valid())
	require.False(t, apoyo.Sex("h").Valid())
	require.False(t, apoyo.IDDocumentType("").Valid())
	require.False(t, apoyo.Rail("cash").Valid())
	require.False(t, apoyo.Need("food").Valid())
	require.Len(t, apoyo.IDDocumentTypes, 8)
}

func TestNormalizeAndDedupKeys(t *testing.T) {
	t.Parallel()
	r := beneficiary.Record{
		GivenNames:       "  Jose\u0301   Luis ", // decomposed accent
		Sex:              " x ",
		Nationality:      "col",
		PopulationGroup:  "Asylum-Seeker",
		Alcaldia:         "alcaldia cuajimalpa",
		Phone:            "+52 (55) 1234-5678",
		CURP:             " hegg560427mvzrrl04",
		IDDocumentType:   "Residente Temporal",
		IDDocumentNumber: " rt-123 456 ",
		PaymentMethod:    "Cash-Pickup",
		CLABE:            "032 180 000118359719",
		CardNumber:       "4111-1111-1111-1111",
		Needs:            []apoyo.Need{" Health", "health", "", "LEGAL_AID"},
	}
	r.Normalize()
	require.Equal(t, "José Luis", r.GivenNames)
	require.Equal(t, apoyo.SexNonBinary, r.Sex)
	require.Equal(t, "COL", r.Nationality)
	require.Equal(t, apoyo.PopulationAsylumSeeker, r.PopulationGroup)
	require.Equal(t, "Cuajimalpa de Morelos", r.Alcaldia)
	require.Equal(t, "+525512345678", r.Phone)
	require.Equal(t, goodCURP, r.CURP)
	require.Equal(t, apoyo.DocResidenteTemporal, r.IDDocumentType)
	require.Equal(t, "RT-123 456", r.IDDocumentNumber)
	require.Equal(t, apoyo.RailCashPickup, r.PaymentMethod)
	require.Equal(t, goodCLABE, r.CLABE)
	require.Equal(t, goodCard, r.CardNumber)
	require.Equal(t, []apoyo.Need{apoyo.NeedHealth, apoyo.NeedLegalAid}, r.Needs)

	c, d := r.DedupKeys()
	require.Equal(t, goodCURP, c)
	require.Equal(t, "residente_temporal:RT123456", d)

	again := r
	again.Normalize()
	require.Equal(t, r, again, "Normalize is idempotent")

	var empty beneficiary.Record
	c, d = empty.DedupKeys()
	require.Empty(t, c)
	require.Empty(t, d)
	onlyNumber := beneficiary.Record{IDDocumentNumber: "X1"}
	_, d = onlyNumber.DedupKeys()
	require.Empty(t, d, "no type, no document key")
}
