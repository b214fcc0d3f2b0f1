package pii_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/pii"
	"github.com/stretchr/testify/require"
)

const fakeCURP = "GOXX800101HDFRRN09"

// testKey returns a fixed, distinct key per seed, so failures reproduce.
func testKey(seed byte) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{seed}, pii.KeySize))
}

func mustKeyring(t *testing.T, spec, active string) *pii.Keyring {
	t.Helper()
	kr, err := pii.ParseKeyring(spec, active)
	require.NoError(t, err)
	return kr
}

func TestSealOpenRoundTrip(t *testing.T) {
	t.Parallel()
	kr := mustKeyring(t, "k1:"+testKey(1), "k1")
	aad := pii.AAD("beneficiary", "42", "curp")
	require.Equal(t, "beneficiary:42:curp", aad)

	sealed, err := kr.SealString(fakeCURP, aad)
	require.NoError(t, err)
	require.NotContains(t, string(sealed), fakeCURP)
	id, err := pii.KeyIDOf(sealed)
	require.NoError(t, err)
	require.Equal(t, "k1", id)
	// version + id length + "k1" + nonce + plaintext + tag
	require.Len(t, sealed, 1+1+2+12+len(fakeCURP)+16)

	got, err := kr.OpenString(sealed, aad)
	require.NoError(t, err)
	require.Equal(t, fakeCURP, got)

	// Random nonces: sealing twice gives different ciphertexts.
	again, err := kr.SealString(fakeCURP, aad)
	require.NoError(t, err)
	require.NotEqual(t, sealed, again)

	// Empty plaintext and unicode survive too.
	for _, s := range []string{"", "Ñandú Muñoz"} {
		sealed, err := kr.SealString(s, aad)
		require.NoError(t, err)
		got, err := kr.OpenString(sealed, aad)
		require.NoError(t, err)
		require.Equal(t, s, got)
	}
}

func TestOpenTamperedFails(t *testing.T) {
	t.Parallel()
	kr := mustKeyring(t, "k1:"+testKey(1), "k1")
	aad := []byte("beneficiary:42:curp")
	sealed, err := kr.Seal([]byte(fakeCURP), aad)
	require.NoError(t, err)

	// Flip one bit in each byte past the header in turn: nonce, ciphertext
	// and tag are all authenticated.
	for i := 4; i < len(sealed); i++ {
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x01
		_, err := kr.Open(bad, aad)
		require.ErrorIs(t, err, pii.ErrDecrypt, "byte %d", i)
	}
	_, err = kr.Open(sealed[:len(sealed)-1], aad)
	require.ErrorIs(t, err, pii.ErrDecrypt)

	_, err = kr.Open(sealed[:10], aad)
	require.ErrorIs(t, err, pii.ErrMalformed)
	bad := bytes.Clone(sealed)
	bad[0] = 9
	_, err = kr.Open(bad, aad)
	require.ErrorIs(t, err, pii.ErrMalformed)
	_, err = kr.Open(nil, aad)
	require.ErrorIs(t, err, pii.ErrMalformed)
}

func TestOpenHeaderIsAuthenticated(t *testing.T) {
	t.Parallel()
	// Both keys equal: only the header's authentication stops a relabelled
	// ciphertext from opening.
	kr := mustKeyring(t, "k1:"+testKey(1)+",k2:"+testKey(1), "k1")
	sealed, err := kr.SealString(fakeCURP, "a")
	require.NoError(t, err)
	bad := bytes.Clone(sealed)
	copy(bad[2:4], "k2")
	_, err = kr.OpenString(bad, "a")
	require.ErrorIs(t, err, pii.ErrDecrypt)
}

func TestOpenWrongAADFails(t *testing.T) {
	t.Parallel()
	kr := mustKeyring(t, "k1:"+testKey(1), "k1")
	sealed, err := kr.SealString(fakeCURP, pii.AAD("beneficiary", "42", "curp"))
	require.NoError(t, err)

	for _, aad := range []string{
		pii.AAD("beneficiary", "43", "curp"), // another row
		pii.AAD("beneficiary", "42", "doc"),  // another column
		"",
	} {
		_, err := kr.OpenString(sealed, aad)
		require.ErrorIs(t, err, pii.ErrDecrypt, aad)
		require.Equal(t, apoyo.EINTERNAL, apoyo.ErrorCodeOf(err))
		require.NotContains(t, err.Error(), fakeCURP)
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	aad := "beneficiary:7:phone"
	old := mustKeyring(t, "k1:"+testKey(1), "k1")
	sealed, err := old.SealString("5512345678", aad)
	require.NoError(t, err)

	// Deploy k2 as active, keeping k1 for decryption.
	rotated := mustKeyring(t, "k1:"+testKey(1)+", k2:"+testKey(2), "k2")
	require.Equal(t, "k2", rotated.ActiveKeyID())
	require.Equal(t, []string{"k1", "k2"}, rotated.KeyIDs())
	got, err := rotated.OpenString(sealed, aad)
	require.NoError(t, err)
	require.Equal(t, "5512345678", got)

	fresh, err := rotated.SealString("x", aad)
	require.NoError(t, err)
	id, err := pii.KeyIDOf(fresh)
	require.NoError(t, err)
	require.Equal(t, "k2", id)

	rewrapped, err := rotated.Rewrap(sealed, []byte(aad))
	require.NoError(t, err)
	id, err = pii.KeyIDOf(rewrapped)
	require.NoError(t, err)
	require.Equal(t, "k2", id)

	// Rewrapping again is a no-op.
	again, err := rotated.Rewrap(rewrapped, []byte(aad))
	require.NoError(t, err)
	require.Equal(t, rewrapped, again)

	// Once k1 is dropped, the rewrapped value still opens; the old one not.
	final := mustKeyring(t, "k2:"+testKey(2), "k2")
	got, err = final.OpenString(rewrapped, aad)
	require.NoError(t, err)
	require.Equal(t, "5512345678", got)
	_, err = final.OpenString(sealed, aad)
	require.ErrorIs(t, err, pii.ErrUnknownKey)

	// Rewrap checks the AAD too.
	_, err = rotated.Rewrap(sealed, []byte("beneficiary:8:phone"))
	require.ErrorIs(t, err, pii.ErrDecrypt)
}

func TestOpenUnknownKey(t *testing.T) {
	t.Parallel()
	a := mustKeyring(t, "a:"+testKey(1), "a")
	b := mustKeyring(t, "b:"+testKey(1), "b")
	sealed, err := a.SealString(fakeCURP, "x")
	require.NoError(t, err)
	_, err = b.OpenString(sealed, "x")
	require.ErrorIs(t, err, pii.ErrUnknownKey)
	require.Equal(t, "pii.unknown_key", apoyo.ErrorReasonOf(err))
	require.Contains(t, err.Error(), `"a"`)
	require.False(t, b.HasKey("a"))
	require.True(t, a.HasKey("a"))
}

func TestParseKeyringErrors(t *testing.T) {
	t.Parallel()
	short := base64.StdEncoding.EncodeToString(make([]byte, 16))
	secret := testKey(3)
	tests := []struct {
		name, spec, active string
		want               *apoyo.Error
	}{
		{"empty", "", "k1", pii.ErrKeySpec},
		{"only commas", " , ,", "k1", pii.ErrKeySpec},
		{"no colon", "k1" + testKey(1), "k1", pii.ErrKeySpec},
		{"bad base64", "k1:not*base64!", "k1", pii.ErrKeyEncoding},
		{"url base64", "k1:" + strings.ReplaceAll(testKey(0xff), "/", "_"), "k1", pii.ErrKeyEncoding},
		{"short key", "k1:" + short, "k1", pii.ErrKeyLength},
		{"duplicate", "k1:" + testKey(1) + ",k1:" + testKey(2), "k1", pii.ErrDuplicateKey},
		{"empty id", ":" + testKey(1), "k1", pii.ErrKeyID},
		{"id with space", "k 1:" + testKey(1), "k 1", pii.ErrKeyID},
		{"long id", strings.Repeat("k", 65) + ":" + testKey(1), "k", pii.ErrKeyID},
		{"active missing", "k1:" + testKey(1), "k2", pii.ErrActiveKey},
		{"active empty", "k1:" + testKey(1), "", pii.ErrActiveKey},
		{"secret not echoed", "k1:" + secret[:40], "k1", pii.ErrKeyLength},
		{"secret not echoed, bad base64", "k1:" + secret[:41], "k1", pii.ErrKeyEncoding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			kr, err := pii.ParseKeyring(tt.spec, tt.active)
			require.Nil(t, kr)
			require.ErrorIs(t, err, tt.want)
			var e *apoyo.Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, apoyo.EINVALID, e.Code)
			require.Equal(t, "pii.keys", e.Field)
			require.True(t, strings.HasPrefix(err.Error(), "pii.keys: "), err.Error())
			require.NotContains(t, err.Error(), secret[:40])
		})
	}
}

func TestParseKeyringAccepts(t *testing.T) {
	t.Parallel()
	kr, err := pii.ParseKeyring(" 2026-01:"+testKey(1)+" , 2025_q4.b:"+testKey(2)+",", "2026-01")
	require.NoError(t, err)
	require.Equal(t, []string{"2025_q4.b", "2026-01"}, kr.KeyIDs())

	k1, err := base64.StdEncoding.DecodeString(pii.GenerateKey())
	require.NoError(t, err)
	require.Len(t, k1, pii.KeySize)
	g1, g2 := pii.GenerateKey(), pii.GenerateKey()
	require.NotEqual(t, g1, g2)
	_, err = pii.ParseKeyring("dev:"+g1, "dev")
	require.NoError(t, err)
}

func TestKeyringDoesNotPrintKeys(t *testing.T) {
	t.Parallel()
	raw := bytes.Repeat([]byte{0xAB}, pii.KeySize)
	kr, err := pii.NewKeyring(map[string][]byte{"k1": raw}, "k1")
	require.NoError(t, err)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(verb, kr)
		require.Contains(t, out, "k1")
		require.NotContains(t, out, testKey(0xAB))
		require.NotContains(t, out, "171") // 0xAB in decimal, as %v of a byte slice would show
		require.NotContains(t, strings.ToLower(out), "abab")
	}
	// NewKeyring copied the key: clearing the caller's copy changes nothing.
	sealed, err := kr.SealString("x", "")
	require.NoError(t, err)
	clear(raw)
	got, err := kr.OpenString(sealed, "")
	require.NoError(t, err)
	require.Equal(t, "x", got)

	_, err = pii.NewKeyring(nil, "k1")
	require.True(t, errors.Is(err, pii.ErrKeySpec))
}
