package program

import (
	"crypto/rand"
	"encoding/base32"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/beneficiary"
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

// Defaults of a programme, from the city's 2021 emergency support and the
// way the three secretariats work a case.
var (
	DefaultBenefitAmount = decimal.RequireFromString("5600.00")
)

const (
	DefaultCurrency       = "MXN"
	DefaultMinAge         = 18
	DefaultApprovalSLA    = 5 * 24 * time.Hour
	DefaultReviewDeadline = 7 * 24 * time.Hour
	DefaultFollowUp       = 30 * 24 * time.Hour
)

// Program is a programme's definition as stored. Build one from a Spec.
type Program struct {
	// ID is opaque: "prg_" and 16 lowercase base32 characters. Lowercase
	// because it is part of ledger fund codes.
	ID            string           `json:"id"`
	Name          string           `json:"name"`
	Currency      string           `json:"currency"`
	BenefitAmount decimal.Decimal  `json:"benefit_amount"`
	Funds         []Fund           `json:"funds"`
	Eligibility   EligibilityRules `json:"eligibility"`
	Approval      ApprovalRules    `json:"approval"`
	Identity      IdentityRules    `json:"identity"`
	Referrals     ReferralRules    `json:"referrals"`
	CreatedAt     time.Time        `json:"created_at"`
}

// Fund is one source of a programme's money and the budget it brings.
type Fund struct {
	// Code is the programme's own name for the fund ("city"); the ledger
	// knows it as LedgerFund(programID, Code).
	Code   string          `json:"code"`
	Name   string          `json:"name"`
	Budget decimal.Decimal `json:"budget"`
}

// EligibilityRules decide who may receive the benefit.
type EligibilityRules struct {
	MinAge int `json:"min_age"`
	// Alcaldias holds canonical names (mxid.Alcaldias).
	Alcaldias        []string                      `json:"alcaldias"`
	PopulationGroups []beneficiary.PopulationGroup `json:"population_groups"`
	RequireConsent   bool                          `json:"require_consent"`
}

// ApprovalRules say which secretariats vote on a case and how many
// approvals carry it.
type ApprovalRules struct {
	Required []apoyo.Secretariat `json:"required"`
	Quorum   int                 `json:"quorum"`
	// SLA is how long the secretariats have to decide.
	SLA time.Duration `json:"sla"`
}

// IdentityRules say which documents are accepted without a caseworker's
// look and how long that look may take.
type IdentityRules struct {
	// AutoVerify lists document types checked automatically; the rest wait
	// for a caseworker. A CURP can be checked against its structure and
	// check digit; an INM card or a COMAR constancia cannot.
	AutoVerify     []beneficiary.IDDocumentType `json:"auto_verify"`
	ReviewDeadline time.Duration                `json:"review_deadline"`
}

// ReferralRules connect beneficiaries to city services for their needs.
type ReferralRules struct {
	Catalogue []ReferralService `json:"catalogue"`
	// FollowUp is when a referral without an outcome is looked at again.
	FollowUp time.Duration `json:"follow_up"`
}

// Secretariat values of a ReferralService: the three secretariats, or a
// partner NGO.
const NGO = "NGO"

// ReferralService is one service a beneficiary can be referred to.
type ReferralService struct {
	Code string           `json:"code"`
	Need beneficiary.Need `json:"need"`
	// Secretariat is STYFE, SIBISO, SEDESA or NGO.
	Secretariat string `json:"secretariat"`
	Name        string `json:"name"`
}

// DefaultCatalogue lists the services the programme's documents name, the
// first for each need being the one For picks.
func DefaultCatalogue() []ReferralService {
	return []ReferralService{
		{Code: "styfe.trabajo_digno", Need: beneficiary.NeedEmployment, Secretariat: string(apoyo.STyFE), Name: "Programa de Fomento al Trabajo Digno"},
		{Code: "styfe.seguro_desempleo", Need: beneficiary.NeedEmployment, Secretariat: string(apoyo.STyFE), Name: "Seguro de Desempleo"},
		{Code: "styfe.icat", Need: beneficiary.NeedEmployment, Secretariat: string(apoyo.STyFE), Name: "Capacitación para el trabajo (Instituto de Capacitación para el Trabajo, ICAT)"},
		{Code: "sibiso.padron_huespedes", Need: beneficiary.NeedIDDocuments, Secretariat: string(apoyo.SIBISO), Name: "Registro en el Padrón de Huéspedes y Migrantes en Retorno"},
		{Code: "sibiso.documentos_identidad", Need: beneficiary.NeedIDDocuments, Secretariat: string(apoyo.SIBISO), Name: "Orientación para documentos de identidad (Subdirección de Atención a Migrantes)"},
		{Code: "sibiso.asesoria_juridica", Need: beneficiary.NeedLegalAid, Secretariat: string(apoyo.SIBISO), Name: "Asesoría jurídica (Subdirección de Atención a Migrantes)"},
		{Code: "ngo.sin_fronteras", Need: beneficiary.NeedLegalAid, Secretariat: NGO, Name: "Sin Fronteras IAP"},
		{Code: "sibiso.albergue_temporal", Need: beneficiary.NeedShelter, Secretariat: string(apoyo.SIBISO), Name: "Albergue temporal"},
		{Code: "sedesa.servicios_salud", Need: beneficiary.NeedHealth, Secretariat: string(apoyo.SEDESA), Name: "Servicios de salud y medicamentos gratuitos"},
		{Code: "sedesa.salud_mental", Need: beneficiary.NeedMentalHealth, Secretariat: string(apoyo.SEDESA), Name: "Atención de salud mental"},
		{Code: "ngo.casa_refugiados", Need: beneficiary.NeedEducation, Secretariat: NGO, Name: "Programa Casa Refugiados A.C. (red de organizaciones)"},
	}
}

// For picks one service per need: the first in the catalogue for that
// need. Needs are taken in canonical order (beneficiary.Needs), duplicates
// and needs without a service are skipped, so the same set of needs always
// gives the same referrals.
func (r ReferralRules) For(needs []beneficiary.Need) []ReferralService {
	var out []ReferralService
	for _, n := range beneficiary.Needs {
		if !slices.Contains(needs, n) {
			continue
		}
		for _, s := range r.Catalogue {
			if s.Need == n {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

// DefaultFunds splits a budget the way the programme is financed: the city
// 60%, the Global Cities Fund 25%, the UN joint programme's trust fund 15%.
// Shares are rounded to centavos and the rounding remainder goes to the
// city, so the funds always sum to budget exactly.
func DefaultFunds(budget decimal.Decimal) []Fund {
	gcf := budget.Mul(decimal.RequireFromString("0.25")).Round(2)
	un := budget.Mul(decimal.RequireFromString("0.15")).Round(2)
	return []Fund{
		{Code: "city", Name: "Presupuesto CDMX", Budget: budget.Sub(gcf).Sub(un)},
		{Code: "gcf", Name: "Global Cities Fund", Budget: gcf},
		{Code: "un", Name: "UN joint programme trust fund", Budget: un},
	}
}

// TotalBudget sums the funds' budgets.
func (p Program) TotalBudget() decimal.Decimal {
	t := decimal.Zero
	for _, f := range p.Funds {
		t = t.Add(f.Budget)
	}
	return t
}

// Fund returns the fund with code.
func (p Program) Fund(code string) (Fund, bool) {
	for _, f := range p.Funds {
		if f.Code == code {
			return f, true
		}
	}
	return Fund{}, false
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns a fresh programme id: "prg_" and 16 base32 characters
// (80 random bits).
func NewID() string {
	var b [10]byte
	_, _ = rand.Read(b[:]) // never fails, see crypto/rand
	return "prg_" + idEncoding.EncodeToString(b[:])
}

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
