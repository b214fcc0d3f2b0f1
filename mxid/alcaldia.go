package mxid

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Alcaldias lists Mexico City's 16 alcaldías (boroughs) by their canonical
// names, accents included, in alphabetical order. Reports disaggregate by
// these exact strings.
var Alcaldias = [16]string{
	"Álvaro Obregón",
	"Azcapotzalco",
	"Benito Juárez",
	"Coyoacán",
	"Cuajimalpa de Morelos",
	"Cuauhtémoc",
	"Gustavo A. Madero",
	"Iztacalco",
	"Iztapalapa",
	"La Magdalena Contreras",
	"Miguel Hidalgo",
	"Milpa Alta",
	"Tláhuac",
	"Tlalpan",
	"Venustiano Carranza",
	"Xochimilco",
}

// alcaldiaByKey maps the folded form of every accepted spelling to the
// canonical name. Built once from Alcaldias plus the short forms people
// actually write on forms.
var alcaldiaByKey = func() map[string]string {
	m := make(map[string]string, 32)
	for _, a := range Alcaldias {
		m[foldName(a)] = a
	}
	aliases := map[string]string{
		"GAM":                   "Gustavo A. Madero",
		"Gustavo Adolfo Madero": "Gustavo A. Madero",
		"Magdalena Contreras":   "La Magdalena Contreras",
		"Cuajimalpa":            "Cuajimalpa de Morelos",
	}
	for alias, canon := range aliases {
		m[foldName(alias)] = canon
	}
	return m
}()

// foldName reduces a place name to a comparison key: accents removed (NFD,
// then combining marks dropped), upper case, punctuation treated as space,
// runs of spaces collapsed, and a leading "Alcaldía"/"Delegación" (the
// pre-2018 name for the boroughs) dropped.
func foldName(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := true // suppress leading spaces
	for _, r := range norm.NFD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
			continue
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(unicode.ToUpper(r))
			space = false
		default: // spaces, dots, commas, hyphens
			if !space {
				b.WriteByte(' ')
				space = true
			}
		}
	}
	k := strings.TrimSuffix(b.String(), " ")
	for _, p := range []string{"ALCALDIA ", "DELEGACION "} {
		k = strings.TrimPrefix(k, p)
	}
	return k
}

// CanonicalAlcaldia returns the canonical name for s, accepting any case,
// missing accents, surrounding whitespace and common short forms ("GAM",
// "Gustavo A Madero", "Magdalena Contreras", "Cuajimalpa").
func CanonicalAlcaldia(s string) (string, bool) {
	a, ok := alcaldiaByKey[foldName(s)]
	return a, ok
}
