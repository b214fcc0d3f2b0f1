package program

import (
	"strings"

	"github.com/shopspring/decimal"

	"github.com/apoyo-cdmx/apoyo"
)

// Errors of this package. Compare with errors.Is.
var (
	// ErrInvalid: a spec or programme breaks a rule; Field names the YAML
	// key path ("funds[1].code").
	ErrInvalid = &apoyo.Error{Code: apoyo.EINVALID, Reason: "program.invalid", Message: "invalid programme definition"}
	// ErrExists: another programme already has that name.
	ErrExists = &apoyo.Error{Code: apoyo.ECONFLICT, Reason: "program.exists", Message: "a programme with that name already exists"}
	// ErrNotFound: no programme with that id or name.
	ErrNotFound = &apoyo.Error{Code: apoyo.ENOTFOUND, Reason: "program.not_found", Message: "programme not found"}
)

// DefaultCatalogue lists the services the programme's documents name, the
// first for each need being the one For picks.
func DefaultCatalogue() []apoyo.ReferralService {
	return []apoyo.ReferralService{
		{Code: "styfe.trabajo_digno", Need: apoyo.NeedEmployment, Secretariat: string(apoyo.STyFE), Name: "Programa de Fomento al Trabajo Digno"},
		{Code: "styfe.seguro_desempleo", Need: apoyo.NeedEmployment, Secretariat: string(apoyo.STyFE), Name: "Seguro de Desempleo"},
		{Code: "styfe.icat", Need: apoyo.NeedEmployment, Secretariat: string(apoyo.STyFE), Name: "Capacitación para el trabajo (Instituto de Capacitación para el Trabajo, ICAT)"},
		{Code: "sibiso.padron_huespedes", Need: apoyo.NeedIDDocuments, Secretariat: string(apoyo.SIBISO), Name: "Registro en el Padrón de Huéspedes y Migrantes en Retorno"},
		{Code: "sibiso.documentos_identidad", Need: apoyo.NeedIDDocuments, Secretariat: string(apoyo.SIBISO), Name: "Orientación para documentos de identidad (Subdirección de Atención a Migrantes)"},
		{Code: "sibiso.asesoria_juridica", Need: apoyo.NeedLegalAid, Secretariat: string(apoyo.SIBISO), Name: "Asesoría jurídica (Subdirección de Atención a Migrantes)"},
		{Code: "ngo.sin_fronteras", Need: apoyo.NeedLegalAid, Secretariat: apoyo.NGO, Name: "Sin Fronteras IAP"},
		{Code: "sibiso.albergue_temporal", Need: apoyo.NeedShelter, Secretariat: string(apoyo.SIBISO), Name: "Albergue temporal"},
		{Code: "sedesa.servicios_salud", Need: apoyo.NeedHealth, Secretariat: string(apoyo.SEDESA), Name: "Servicios de salud y medicamentos gratuitos"},
		{Code: "sedesa.salud_mental", Need: apoyo.NeedMentalHealth, Secretariat: string(apoyo.SEDESA), Name: "Atención de salud mental"},
		{Code: "ngo.casa_refugiados", Need: apoyo.NeedEducation, Secretariat: apoyo.NGO, Name: "Programa Casa Refugiados A.C. (red de organizaciones)"},
	}
}

// DefaultFunds splits a budget the way the programme is financed: the city
// 60%, the Global Cities Fund 25%, the UN joint programme's trust fund 15%.
// Shares are rounded to centavos and the rounding remainder goes to the
// city, so the funds always sum to budget exactly.
func DefaultFunds(budget decimal.Decimal) []apoyo.Fund {
	gcf := budget.Mul(decimal.RequireFromString("0.25")).Round(2)
	un := budget.Mul(decimal.RequireFromString("0.15")).Round(2)
	return []apoyo.Fund{
		{Code: "city", Name: "Presupuesto CDMX", Budget: budget.Sub(gcf).Sub(un)},
		{Code: "gcf", Name: "Global Cities Fund", Budget: gcf},
		{Code: "un", Name: "UN joint programme trust fund", Budget: un},
	}
}

// NewID returns a fresh programme id: "prg_" and 16 base32 characters
// (apoyo.NewID).
func NewID() string { return apoyo.NewID("prg_") }

// validID reports whether id has NewID's form.
func validID(id string) bool {
	rest, ok := strings.CutPrefix(id, "prg_")
	if !ok || len(rest) != 16 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
