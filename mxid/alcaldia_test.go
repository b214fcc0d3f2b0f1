package mxid_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo/mxid"
)

func TestCanonicalAlcaldia(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string // "" means not recognised
	}{
		{"Álvaro Obregón", "Álvaro Obregón"},
		{"alvaro obregon", "Álvaro Obregón"},
		{"  ALVARO OBREGÓN ", "Álvaro Obregón"},
		{"Cuauhtemoc", "Cuauhtémoc"},
		{"cuauhtémoc", "Cuauhtémoc"},
		{"Cuauhte\u0301moc", "Cuauhtémoc"}, // decomposed accent
		{"Tlahuac", "Tláhuac"},
		{"benito juarez", "Benito Juárez"},
		{"Coyoacan", "Coyoacán"},
		{"GAM", "Gustavo A. Madero"},
		{"gam", "Gustavo A. Madero"},
		{"Gustavo A Madero", "Gustavo A. Madero"},
		{"Gustavo A. Madero", "Gustavo A. Madero"},
		{"gustavo a.madero", "Gustavo A. Madero"},
		{"Magdalena Contreras", "La Magdalena Contreras"},
		{"la magdalena contreras", "La Magdalena Contreras"},
		{"Cuajimalpa", "Cuajimalpa de Morelos"},
		{"Alcaldía Iztapalapa", "Iztapalapa"},
		{"Delegacion Tlalpan", "Tlalpan"},
		{"Milpa  Alta", "Milpa Alta"},
		{"", ""},
		{"Ecatepec", ""}, // Estado de México, not an alcaldía
		{"Tlal", ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, ok := mxid.CanonicalAlcaldia(tc.in)
			require.Equal(t, tc.want != "", ok)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestAlcaldiasCanonicalAreFixedPoints(t *testing.T) {
	t.Parallel()
	require.Len(t, mxid.Alcaldias, 16)
	seen := map[string]bool{}
	for _, a := range mxid.Alcaldias {
		got, ok := mxid.CanonicalAlcaldia(a)
		require.True(t, ok, a)
		require.Equal(t, a, got)
		require.False(t, seen[a])
		seen[a] = true
	}
}
