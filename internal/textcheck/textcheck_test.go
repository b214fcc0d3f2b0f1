package textcheck_test

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo/internal/textcheck"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		in     string
		max    int
		reason string
	}{
		{"plain", "Álvaro Obregón", 100, ""},
		{"ñ precomposed and decomposed", "Peña Pen\u0303a", 100, ""},
		{"non-breaking space is text", "María\u00a0José", 100, ""},
		{"empty", "", 0, ""},
		{"exactly at the limit in runes", "ñññ", 3, ""},
		{"over the limit", "ñññ", 2, "text.too_long"},
		{"NUL", "Ana\x00", 100, "text.control_character"},
		{"tab", "Ana\tMaría", 100, "text.control_character"},
		{"newline", "Ana\nMaría", 100, "text.control_character"},
		{"carriage return", "Ana\r", 100, "text.control_character"},
		{"DEL", "Ana\x7f", 100, "text.control_character"},
		{"C1 control", "Ana\u0085", 100, "text.control_character"},
		{"right-to-left override", "Ana\u202eairaM", 100, "text.control_character"},
		{"isolate", "\u2066Ana", 100, "text.control_character"},
		{"BOM inside", "Ana\ufeff", 100, "text.control_character"},
		{"replacement character", "Pe\ufffda", 100, "text.control_character"},
		{"Windows-1252 byte", "Pe\xf1a", 100, "text.invalid_utf8"},
		{"truncated sequence", "Pe\xc3", 100, "text.invalid_utf8"},
		{"overlong encoding", "\xc0\xaf", 100, "text.invalid_utf8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := textcheck.Check(tc.in, tc.max)
			if tc.reason == "" {
				require.Nil(t, err)
				return
			}
			require.NotNil(t, err)
			require.Equal(t, tc.reason, err.Reason)
			if len(tc.in) > 2 {
				require.NotContains(t, err.Error(), tc.in, "the value is never quoted")
			}
		})
	}
}

func TestDecode(t *testing.T) {
	t.Parallel()
	asciiPad := strings.Repeat("given_names,first_surname\n", textcheck.PeekSize/20)
	tests := []struct {
		name    string
		in      []byte
		enc     textcheck.Encoding
		want    string // "" = refused
		refused bool
	}{
		{"ascii", []byte("a,b\n"), textcheck.UTF8, "a,b\n", false},
		{"utf-8", []byte("Peña,Álvaro Obregón\n"), textcheck.UTF8, "Peña,Álvaro Obregón\n", false},
		{"utf-8 BOM stripped", []byte("\xef\xbb\xbfPeña\n"), textcheck.UTF8, "Peña\n", false},
		{"windows-1252 transcoded", []byte("Pe\xf1a,\xc1lvaro Obreg\xf3n\n"), textcheck.Windows1252, "Peña,Álvaro Obregón\n", false},
		{"windows-1252 euro and quotes", []byte("\x80 \x93x\x94\n"), textcheck.Windows1252, "€ “x”\n", false},
		{"mixed is not transcoded", []byte("Peña,Pe\xf1a\n"), textcheck.UTF8, "Peña,Pe\xf1a\n", false},
		{"windows-1252 after the peek window is left alone", append([]byte(asciiPad), []byte("Pe\xf1a\n")...), textcheck.UTF8, asciiPad + "Pe\xf1a\n", false},
		{"utf-8 sequence cut by the peek window", append([]byte(strings.Repeat("a", textcheck.PeekSize-1)), []byte("ñ\n")...), textcheck.UTF8, strings.Repeat("a", textcheck.PeekSize-1) + "ñ\n", false},
		{"utf-16 LE with BOM", []byte("\xff\xfea\x00,\x00b\x00"), textcheck.UTF16, "", true},
		{"utf-16 LE without BOM", []byte("g\x00i\x00v\x00e\x00n\x00_\x00n\x00"), textcheck.UTF16, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, enc, err := textcheck.Decode(bytes.NewReader(tc.in))
			require.Equal(t, tc.enc, enc)
			if tc.refused {
				require.ErrorIs(t, err, textcheck.ErrEncoding)
				require.Contains(t, err.Error(), "CSV UTF-8")
				return
			}
			require.NoError(t, err)
			got, err := io.ReadAll(r)
			require.NoError(t, err)
			require.Equal(t, tc.want, string(got))
		})
	}
}

func TestRequireUTF8(t *testing.T) {
	t.Parallel()
	r, err := textcheck.RequireUTF8(strings.NewReader("\ufeffname: Peña\n"))
	require.NoError(t, err)
	got, _ := io.ReadAll(r)
	require.Equal(t, "name: Peña\n", string(got))

	_, err = textcheck.RequireUTF8(bytes.NewReader([]byte("name: Pe\xf1a\n")))
	require.ErrorIs(t, err, textcheck.ErrEncoding)
	require.Contains(t, err.Error(), "Windows-1252")
	require.Contains(t, err.Error(), "UTF-8")

	_, err = textcheck.RequireUTF8(iotest.ErrReader(io.ErrUnexpectedEOF))
	require.ErrorIs(t, err, textcheck.ErrRead)
}
