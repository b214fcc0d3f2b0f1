package program_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/internal/textcheck"
	"github.com/apoyo-cdmx/apoyo/program"
)

// TestLoadSpecYAMLRefusesBadText: YAML escapes can carry NUL, controls
// and bidi overrides into a value; they, over-long values and files in
// another encoding are refused naming the key path.
func TestLoadSpecYAMLRefusesBadText(t *testing.T) {
	t.Parallel()
	funds := "funds: [{code: city, budget: 10}]\n"
	for _, tc := range []struct {
		name, yaml, field, reason string
	}{
		{"NUL escape in the name", `name: "Apoyo\0 2025"` + "\n" + funds, "name", "text.control_character"},
		{"newline escape in a fund name", "name: p\nfunds: [{code: city, name: \"a\\nb\", budget: 10}]\n", "funds[0].name", "text.control_character"},
		{"bidi override in a list item", "name: p\n" + funds + "eligibility: {alcaldias: [\"\\u202eTlalpan\"]}\n", "eligibility.alcaldias[0]", "text.control_character"},
		{"too long a code", "name: p\nfunds: [{code: " + strings.Repeat("c", 65) + ", budget: 10}]\n", "funds[0].code", "text.too_long"},
		{"too long a name", "name: " + strings.Repeat("n", 201) + "\n" + funds, "name", "text.too_long"},
		{"control character in a key", "name: p\n" + funds + "\"appro\\x01val\": {}\n", "", "text.control_character"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := program.LoadSpecYAML(strings.NewReader(tc.yaml))
			require.ErrorIs(t, err, program.ErrInvalid)
			var ae *apoyo.Error
			require.ErrorAs(t, err, &ae)
			require.Equal(t, tc.field, ae.Field)
			require.Equal(t, tc.reason, apoyo.ErrorReasonOf(ae.Err))
			require.Contains(t, err.Error(), "line ")
		})
	}

	_, err := program.LoadSpecYAML(bytes.NewReader([]byte("name: Protecci\xf3n\n" + funds)))
	require.ErrorIs(t, err, program.ErrInvalid)
	require.ErrorIs(t, err, textcheck.ErrEncoding)
	require.Contains(t, err.Error(), "UTF-8")

	s, err := program.LoadSpecYAML(strings.NewReader("\ufeffname: Protección\n" + funds))
	require.NoError(t, err)
	require.Equal(t, "Protección", s.Name)

	_, err = program.LoadSpecYAML(strings.NewReader("name: p\n" + funds + "#" + strings.Repeat("x", program.MaxSpecYAMLSize)))
	require.ErrorIs(t, err, program.ErrInvalid)
}
