// Package apoyo holds the domain vocabulary shared by every part of the
// disbursement engine: the error type with its codes, and the small value
// types (secretariats, identifiers) that adapters in sub-packages build on.
//
// Nothing here depends on PostgreSQL, Temporal or HTTP; those adapters depend
// on this package, never the other way round.
package apoyo

// Secretariat is one of the three city secretariats that work a case.
type Secretariat string

const (
	// STyFE, Secretaría de Trabajo y Fomento al Empleo, leads the programme.
	STyFE Secretariat = "STYFE"
	// SIBISO, Secretaría de Inclusión y Bienestar Social: identity papers,
	// Padrón de Huéspedes, shelter, legal aid.
	SIBISO Secretariat = "SIBISO"
	// SEDESA, Secretaría de Salud: health services.
	SEDESA Secretariat = "SEDESA"
)

// Secretariats lists the three secretariats in their canonical order.
var Secretariats = []Secretariat{STyFE, SIBISO, SEDESA}

// Valid reports whether s is one of the three secretariats.
func (s Secretariat) Valid() bool {
	switch s {
	case STyFE, SIBISO, SEDESA:
		return true
	}
	return false
}
