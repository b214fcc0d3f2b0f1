package apoyo

import (
	"slices"
	"time"

	"github.com/shopspring/decimal"
)

// Program is a programme's definition as stored: who may receive the
// benefit, how much, from which funds, and how its cases are worked.
// Build one from a ProgramSpec (package program).
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
	// CreatedBy is the user who created it ("" before identities existed).
	CreatedBy string `json:"created_by,omitempty"`
}

// Fund is one source of a programme's money and the budget it brings.
type Fund struct {
	// Code is the programme's own name for the fund ("city"); the ledger
	// knows it as program.LedgerFund(programID, Code).
	Code   string          `json:"code"`
	Name   string          `json:"name"`
	Budget decimal.Decimal `json:"budget"`
}

// EligibilityRules decide who may receive the benefit.
type EligibilityRules struct {
	MinAge int `json:"min_age"`
	// Alcaldias holds canonical names (mxid.Alcaldias).
	Alcaldias        []string          `json:"alcaldias"`
	PopulationGroups []PopulationGroup `json:"population_groups"`
	RequireConsent   bool              `json:"require_consent"`
}

// ApprovalRules say which secretariats vote on a case and how many
// approvals carry it.
type ApprovalRules struct {
	Required []Secretariat `json:"required"`
	Quorum   int           `json:"quorum"`
	// SLA is how long the secretariats have to decide.
	SLA time.Duration `json:"sla"`
}

// IdentityRules say which documents are accepted without a caseworker's
// look and how long that look may take.
type IdentityRules struct {
	// AutoVerify lists document types checked automatically; the rest wait
	// for a caseworker. A CURP can be checked against its structure and
	// check digit; an INM card or a COMAR constancia cannot.
	AutoVerify     []IDDocumentType `json:"auto_verify"`
	ReviewDeadline time.Duration    `json:"review_deadline"`
}

// ReferralRules connect beneficiaries to city services for their needs.
type ReferralRules struct {
	Catalogue []ReferralService `json:"catalogue"`
	// FollowUp is when a referral without an outcome is looked at again.
	FollowUp time.Duration `json:"follow_up"`
}

// NGO is the Secretariat value of a ReferralService run by a partner
// organisation rather than a secretariat.
const NGO = "NGO"

// ReferralService is one service a beneficiary can be referred to.
type ReferralService struct {
	Code string `json:"code"`
	Need Need   `json:"need"`
	// Secretariat is STYFE, SIBISO, SEDESA or NGO.
	Secretariat string `json:"secretariat"`
	Name        string `json:"name"`
}

// For picks one service per need: the first in the catalogue for that
// need. Needs are taken in canonical order (Needs), duplicates and needs
// without a service are skipped, so the same set of needs always gives the
// same referrals.
func (r ReferralRules) For(needs []Need) []ReferralService {
	var out []ReferralService
	for _, n := range Needs {
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

// ProgramSpec is what a programme manager writes to create a programme,
// on the command line, in a YAML file or as the API's JSON (both read by
// program.LoadSpecYAML). Unset fields take the defaults (defaults.go) in
// program.Build; pointers tell "unset" from an explicit zero, which Build
// then judges like any other value.
type ProgramSpec struct {
	Name string
	// Currency defaults to MXN, the only currency programmes pay in.
	Currency string
	// BenefitAmount defaults to DefaultBenefitAmount.
	BenefitAmount *decimal.Decimal
	// Funds: at least one. program.DefaultFunds splits a single budget.
	Funds       []Fund
	Eligibility EligibilitySpec
	Approval    ApprovalSpec
	Identity    IdentitySpec
	Referrals   ReferralSpec
}

// EligibilitySpec is the eligibility part of a ProgramSpec.
type EligibilitySpec struct {
	// MinAge defaults to DefaultMinAge.
	MinAge *int
	// Alcaldias default to all 16; any spelling mxid.CanonicalAlcaldia
	// accepts.
	Alcaldias []string
	// PopulationGroups default to all five.
	PopulationGroups []PopulationGroup
	// RequireConsent defaults to true.
	RequireConsent *bool
}

// ApprovalSpec is the approval part of a ProgramSpec.
type ApprovalSpec struct {
	// Required defaults to all three secretariats.
	Required []Secretariat
	// Quorum defaults to len(Required): every secretariat must approve.
	Quorum *int
	// SLA defaults to DefaultApprovalSLA.
	SLA *time.Duration
}

// IdentitySpec is the identity part of a ProgramSpec.
type IdentitySpec struct {
	// AutoVerify nil defaults to [curp]; an empty, non-nil list means every
	// document goes to a caseworker.
	AutoVerify []IDDocumentType
	// ReviewDeadline defaults to DefaultReviewDeadline.
	ReviewDeadline *time.Duration
}

// ReferralSpec is the referrals part of a ProgramSpec.
type ReferralSpec struct {
	// FollowUp defaults to DefaultFollowUp.
	FollowUp *time.Duration
	// Catalogue nil defaults to program.DefaultCatalogue(); a given one
	// replaces it.
	Catalogue []ReferralService
}
