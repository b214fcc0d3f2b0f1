package mxid_test

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/mxid"
)

func TestValidateCLABE(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		in     string
		reason string
	}{
		// Published in Banxico's CLABE explanation and many SDK docs. By
		// hand: products mod 10 of 03218000011835971 with weights 3,7,1 sum
		// to 61 → check 9.
		{"published 032 example", "032180000118359719", ""},
		// Another widely used documentation CLABE: sum 69 → check 1.
		{"published 002 example", "002010077777777771", ""},
		{"surrounding whitespace", " 002010077777777771 ", ""},
		{"wrong check digit", "032180000118359718", "clabe.check_digit"},
		{"letters", "03218000011835971A", "clabe.digits"},
		{"inner space", "0321 80000118359719", "clabe.digits"},
		{"17 digits", "03218000011835971", "clabe.length"},
		{"19 digits", "0321800001183597190", "clabe.length"},
		{"empty", "", "clabe.length"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := mxid.ValidateCLABE(tc.in)
			if tc.reason == "" {
				require.NoError(t, err)
				return
			}
			require.Equal(t, tc.reason, apoyo.ErrorReasonOf(err))
			require.Equal(t, apoyo.EINVALID, apoyo.ErrorCodeOf(err))
			if len(tc.in) >= 10 {
				require.NotContains(t, err.Error(), tc.in)
			}
		})
	}
}

func TestCLABECheckDigitAndParse(t *testing.T) {
	t.Parallel()
	d, err := mxid.CLABECheckDigit("03218000011835971")
	require.NoError(t, err)
	require.Equal(t, 9, d)
	d, err = mxid.CLABECheckDigit("00201007777777777")
	require.NoError(t, err)
	require.Equal(t, 1, d)
	_, err = mxid.CLABECheckDigit("0321800001183597")
	require.ErrorIs(t, err, mxid.ErrCLABELength)
	_, err = mxid.CLABECheckDigit("0321800001183597x")
	require.ErrorIs(t, err, mxid.ErrCLABEDigits)

	info, err := mxid.ParseCLABE("032180000118359719")
	require.NoError(t, err)
	require.Equal(t, mxid.CLABEInfo{BankCode: "032", Plaza: "180", Account: "00011835971"}, info)
	_, err = mxid.ParseCLABE("032180000118359710")
	require.ErrorIs(t, err, mxid.ErrCLABECheckDigit)
}

func TestBankName(t *testing.T) {
	t.Parallel()
	for code, want := range map[string]string{"002": "BANAMEX", "012": "BBVA MEXICO", "072": "BANORTE", "166": "BANCO DEL BIENESTAR", "646": "STP"} {
		got, ok := mxid.BankName(code)
		require.True(t, ok, code)
		require.Equal(t, want, got)
	}
	_, ok := mxid.BankName("999")
	require.False(t, ok)
	// An unknown bank is still a valid CLABE.
	c := mxid.GenerateCLABE(rand.New(rand.NewPCG(3, 4)), "999")
	require.NoError(t, mxid.ValidateCLABE(c))
}

func TestGenerateCLABE(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 1000; i++ {
		c := mxid.GenerateCLABE(r, "646")
		info, err := mxid.ParseCLABE(c)
		require.NoError(t, err, c)
		require.Equal(t, "646", info.BankCode)
	}
	c := mxid.GenerateCLABEWithAccountSuffix(r, "012", "0001")
	info, err := mxid.ParseCLABE(c)
	require.NoError(t, err)
	require.Equal(t, "0001", info.Account[7:])
	full := mxid.GenerateCLABEWithAccountSuffix(r, "012", "12345678901")
	require.Equal(t, "012", full[:3])
	require.Equal(t, "12345678901", full[6:17])
	require.NoError(t, mxid.ValidateCLABE(full))
	require.Panics(t, func() { mxid.GenerateCLABE(r, "12") })
	require.Panics(t, func() { mxid.GenerateCLABEWithAccountSuffix(r, "012", "123456789012") })
	require.Panics(t, func() { mxid.GenerateCLABEWithAccountSuffix(r, "012", "12a") })
}
