package mxid_test

import (
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/mxid"
)

// withCheck appends the correct check digit to 17 characters, so a test can
// build a CURP whose only defect is the one under test.
func withCheck(t *testing.T, first17 string) string {
	t.Helper()
	d, err := mxid.CURPCheckDigit(first17)
	require.NoError(t, err)
	return first17 + strconv.Itoa(d)
}

func TestValidateCURP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		in     string
		reason string // "" means valid
	}{
		// RENAPO's own sample on its CURP guide (Gabriela Hernández
		// Gutiérrez, born 27 April 1956 in Veracruz).
		{"published RENAPO sample", "HEGG560427MVZRRL04", ""},
		// Widely published "Chabelo" example, born in Chicago: state NE. The
		// mexa-py documentation works its check digit out to 8 by hand.
		{"published NE example", "LORX350217HNEPDV08", ""},
		{"published sample Guerrero", "AAMR850214MGRBRN01", ""},
		{"published sample SLP", "MAHJ280603MSPRRV09", ""},
		// "BADD110313HCMLNS09" is the placeholder printed in countless
		// forms. Worked by hand it sums to 1504, so its check digit should
		// be 6, not 9: it is NOT a valid CURP and must be rejected.
		{"widely copied placeholder has wrong check digit", "BADD110313HCMLNS09", "curp.check_digit"},
		// Ñ in position 3 (second surname Ñúñez). By hand: P26·18 + E14·17 +
		// Ñ24·16 + A10·15 + 8·14 + 0 + 0 + 1·11 + 0 + 1·9 + H17·8 + D13·7 +
		// F15·6 + R28·5 + R28·4 + N23·3 + 0·2 = 2010 → check 0. Treating Ñ
		// as N (23) would give 6; walking bytes would count 19 characters.
		{"enye in first 17", "PEÑA800101HDFRRN00", ""},
		{"enye lowercase normalised", "peña800101hdfrrn00", ""},
		// Sex X, born abroad, born 2005 so the homonymy char is a letter.
		// By hand the weighted sum is 2316 → check 4.
		{"sex X, NE, year 2000+ letter", "GAXL050315XNEMRSA4", ""},
		{"lowercase and spaces normalised", "  hegg560427mvzrrl04\t", ""},
		{"wrong check digit", "HEGG560427MVZRRL05", "curp.check_digit"},
		{"too short", "HEGG560427MVZRRL0", "curp.length"},
		{"too long", "HEGG560427MVZRRL044", "curp.length"},
		{"empty", "", "curp.length"},
		{"digit in name letters", "H3GG560427MVZRRL04", "curp.structure"},
		{"letter in date", "HEGG56O427MVZRRL04", "curp.structure"},
		{"bad sex", "HEGG560427FVZRRL04", "curp.sex"},
		{"bad state", "HEGG560427MXXRRL04", "curp.state"},
		{"vowel in consonant block", "HEGG560427MVZARL04", "curp.structure"},
		{"symbol in homonymy", "HEGG560427MVZRRL-4", "curp.structure"},
		{"letter check digit", "HEGG560427MVZRRL0A", "curp.structure"},
		{"month 13", withCheck(t, "HEGG561327MVZRRL0"), "curp.date"},
		{"30 February", withCheck(t, "HEGG560230MVZRRL0"), "curp.date"},
		// 29 Feb: 1900 was not a leap year (digit → 1900s) but 2000 was
		// (letter → 2000s).
		{"29 Feb 1900 does not exist", withCheck(t, "HEGG000229MVZRRL0"), "curp.date"},
		{"29 Feb 2000 exists", withCheck(t, "HEGG000229MVZRRLA"), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := mxid.ValidateCURP(tc.in)
			if tc.reason == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Equal(t, tc.reason, apoyo.ErrorReasonOf(err))
			require.Equal(t, apoyo.EINVALID, apoyo.ErrorCodeOf(err))
			// Messages go to logs: they must not repeat the CURP.
			norm := strings.ToUpper(strings.TrimSpace(tc.in))
			if norm != "" {
				require.NotContains(t, err.Error(), norm)
			}
		})
	}
}

func TestCURPSentinels(t *testing.T) {
	t.Parallel()
	err := mxid.ValidateCURP("HEGG560427MVZRRL05")
	require.ErrorIs(t, err, mxid.ErrCURPCheckDigit)
	require.False(t, errors.Is(err, mxid.ErrCURPLength))
	var ae *apoyo.Error
	require.ErrorAs(t, err, &ae)
	require.Contains(t, ae.Message, "check digit is 5")
}

func TestCURPCheckDigit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		want   int
		reason string
	}{
		{"HEGG560427MVZRRL0", 4, ""},
		{"LORX350217HNEPDV0", 8, ""},
		{"BADD110313HCMLNS0", 6, ""}, // see the placeholder case above
		{"PEÑA800101HDFRRN0", 0, ""},
		{"peña800101hdfrrn0", 0, ""},
		{"GAXL050315XNEMRSA", 4, ""},
		{"HEGG560427MVZRRL", 0, "curp.length"},
		{"HEGG560427MVZRR-0", 0, "curp.structure"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := mxid.CURPCheckDigit(tc.in)
			if tc.reason != "" {
				require.Equal(t, tc.reason, apoyo.ErrorReasonOf(err))
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestParseCURP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in    string
		birth string
		sex   string
		state string
		abr   bool
	}{
		{"HEGG560427MVZRRL04", "1956-04-27", "M", "VZ", false},
		{"LORX350217HNEPDV08", "1935-02-17", "H", "NE", true},
		{"GAXL050315XNEMRSA4", "2005-03-15", "X", "NE", true},
		{"peña800101hdfrrn00", "1980-01-01", "H", "DF", false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			info, err := mxid.ParseCURP(tc.in)
			require.NoError(t, err)
			require.Equal(t, tc.birth, info.BirthDate.Format(time.DateOnly))
			require.Equal(t, tc.sex, info.Sex)
			require.Equal(t, tc.state, info.State)
			require.Equal(t, tc.abr, info.BornAbroad)
		})
	}
	_, err := mxid.ParseCURP("HEGG560427MVZRRL05")
	require.ErrorIs(t, err, mxid.ErrCURPCheckDigit)
}

func TestCURPStateName(t *testing.T) {
	t.Parallel()
	n, ok := mxid.CURPStateName("df")
	require.True(t, ok)
	require.Equal(t, "Ciudad de México", n)
	_, ok = mxid.CURPStateName("NE")
	require.True(t, ok)
	_, ok = mxid.CURPStateName("XX")
	require.False(t, ok)
}

func TestGenerateCURP(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	states := []string{"DF", "NE", "CS", "ZS"}
	for i := 0; i < 2000; i++ {
		birth := time.Date(1900+r.IntN(200), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC)
		sex := []string{"H", "M", "X"}[r.IntN(3)]
		st := states[r.IntN(len(states))]
		c := mxid.GenerateCURP(r, birth, sex, st)
		info, err := mxid.ParseCURP(c)
		require.NoError(t, err, c)
		require.True(t, birth.Equal(info.BirthDate), c)
		require.Equal(t, sex, info.Sex)
		require.Equal(t, st, info.State)
	}
	require.Panics(t, func() { mxid.GenerateCURP(r, time.Now(), "F", "DF") })
	require.Panics(t, func() { mxid.GenerateCURP(r, time.Now(), "H", "ZZ") })
	require.Panics(t, func() { mxid.GenerateCURP(r, time.Date(1899, 1, 1, 0, 0, 0, 0, time.UTC), "H", "DF") })
}

// FuzzValidateCURP lives in fuzz_test.go, with properties checked against
// an independent check-digit computation.

// FuzzGenerateCURP: whatever the date, sex and state, a generated CURP
// validates and parses back to what it was generated from.
func FuzzGenerateCURP(f *testing.F) {
	f.Add(uint64(1), int32(0), uint8(0), uint8(0))
	f.Add(uint64(7), int32(36524), uint8(2), uint8(32)) // 2000-01-01, X, NE
	f.Fuzz(func(t *testing.T, seed uint64, days int32, sexIdx, stateIdx uint8) {
		// Map days onto 1900-01-01 .. 2099-12-31.
		span := int32(73049)
		d := ((days % span) + span) % span
		birth := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(d))
		sex := []string{"H", "M", "X"}[int(sexIdx)%3]
		states := []string{"AS", "BC", "BS", "CC", "CL", "CM", "CS", "CH", "DF", "DG", "GT", "GR", "HG", "JC", "MC", "MN", "MS", "NT", "NL", "OC", "PL", "QT", "QR", "SP", "SL", "SR", "TC", "TS", "TL", "VZ", "YN", "ZS", "NE"}
		st := states[int(stateIdx)%len(states)]
		c := mxid.GenerateCURP(rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), birth, sex, st)
		info, err := mxid.ParseCURP(c)
		require.NoError(t, err, c)
		require.True(t, birth.Equal(info.BirthDate), c)
		require.Equal(t, sex, info.Sex)
		require.Equal(t, st, info.State)
	})
}
