package sandbox

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestOperationDate(t *testing.T) {
	t.Parallel()
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04:05", s, mexicoCity)
		require.NoError(t, err)
		return v.UTC()
	}
	cases := []struct{ at, want string }{
		{"2025-03-10 10:00:00", "2025-03-10"}, // Monday
		{"2025-03-10 17:30:00", "2025-03-10"}, // at the cutoff: same day
		{"2025-03-10 17:30:01", "2025-03-11"}, // after it: next day
		{"2025-03-10 23:59:59", "2025-03-11"},
		{"2025-03-14 17:45:00", "2025-03-17"}, // Friday evening: Monday
		{"2025-03-15 10:00:00", "2025-03-17"}, // Saturday
		{"2025-03-16 20:00:00", "2025-03-17"}, // Sunday evening
		{"2025-03-11 00:30:00", "2025-03-11"}, // 06:30 UTC, still the same Mexico City day
	}
	for _, c := range cases {
		require.Equal(t, c.want, operationDate(at(c.at)), c.at)
	}
}

func TestInstrumentHelpers(t *testing.T) {
	t.Parallel()
	// A published example CLABE.
	require.True(t, validCLABE("032180000118359719"))
	require.False(t, validCLABE("032180000118359718"))
	for _, acct := range []string{"1", "2", "13", "504", "12345678901"} {
		c := CLABE(acct)
		require.Len(t, c, 18)
		require.True(t, validCLABE(c), c)
		require.True(t, strings.HasSuffix(c[:17], acct), c)
	}
	require.Equal(t, AccountNotFound, accountEnding(CLABE("1")))
	require.Equal(t, AccountGatewayTimeout, accountEnding(CLABE("504")))

	require.True(t, luhnValid("4111111111111111"))
	require.False(t, luhnValid("4111111111111112"))
	for _, s := range []string{"0000", "1234", "9", "00000000"} {
		n := CardNumber(s)
		require.Len(t, n, 16)
		require.True(t, luhnValid(n), n)
		require.True(t, strings.HasSuffix(n, s), n)
	}
}
