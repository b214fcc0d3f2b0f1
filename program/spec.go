package program

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/mxid"
)

// invalid is an ErrInvalid at a key path.
func invalid(field, format string, args ...any) *apoyo.Error {
	return ErrInvalid.With(format, args...).At(0, field)
}

// Build fills the defaults, puts values in canonical form (alcaldía names,
// enum case) and validates the result, returning a new Program with a
// fresh id created at now. Errors are ErrInvalid with Field the YAML key
// path of the offending value.
func Build(s apoyo.ProgramSpec, now time.Time) (apoyo.Program, error) {
	p := apoyo.Program{
		ID:            NewID(),
		Name:          strings.TrimSpace(s.Name),
		Currency:      strings.ToUpper(strings.TrimSpace(s.Currency)),
		BenefitAmount: apoyo.DefaultBenefitAmount,
		CreatedAt:     now.UTC().Truncate(time.Microsecond),
	}
	if p.Currency == "" {
		p.Currency = apoyo.DefaultCurrency
	}
	if s.BenefitAmount != nil {
		p.BenefitAmount = *s.BenefitAmount
	}
	for _, f := range s.Funds {
		f.Code = strings.TrimSpace(f.Code)
		f.Name = strings.TrimSpace(f.Name)
		if f.Name == "" {
			f.Name = f.Code
		}
		p.Funds = append(p.Funds, f)
	}

	e := &p.Eligibility
	e.MinAge = apoyo.DefaultMinAge
	if s.Eligibility.MinAge != nil {
		e.MinAge = *s.Eligibility.MinAge
	}
	if len(s.Eligibility.Alcaldias) == 0 {
		e.Alcaldias = slices.Clone(mxid.Alcaldias[:])
	}
	for i, a := range s.Eligibility.Alcaldias {
		c, ok := mxid.CanonicalAlcaldia(a)
		if !ok {
			return apoyo.Program{}, invalid(fmt.Sprintf("eligibility.alcaldias[%d]", i), "%q is not one of Mexico City's 16 alcaldías", a)
		}
		if slices.Contains(e.Alcaldias, c) {
			return apoyo.Program{}, invalid(fmt.Sprintf("eligibility.alcaldias[%d]", i), "%q is listed twice", c)
		}
		e.Alcaldias = append(e.Alcaldias, c)
	}
	if len(s.Eligibility.PopulationGroups) == 0 {
		e.PopulationGroups = slices.Clone(apoyo.PopulationGroups)
	}
	for _, g := range s.Eligibility.PopulationGroups {
		e.PopulationGroups = append(e.PopulationGroups, apoyo.PopulationGroup(normEnum(string(g))))
	}
	e.RequireConsent = true
	if s.Eligibility.RequireConsent != nil {
		e.RequireConsent = *s.Eligibility.RequireConsent
	}

	a := &p.Approval
	if len(s.Approval.Required) == 0 {
		a.Required = slices.Clone(apoyo.Secretariats)
	}
	for _, r := range s.Approval.Required {
		a.Required = append(a.Required, apoyo.Secretariat(strings.ToUpper(strings.TrimSpace(string(r)))))
	}
	a.Quorum = len(a.Required)
	if s.Approval.Quorum != nil {
		a.Quorum = *s.Approval.Quorum
	}
	a.SLA = orDefault(s.Approval.SLA, apoyo.DefaultApprovalSLA)

	id := &p.Identity
	if s.Identity.AutoVerify == nil {
		id.AutoVerify = []apoyo.IDDocumentType{apoyo.DocCURP}
	} else {
		id.AutoVerify = []apoyo.IDDocumentType{}
		for _, t := range s.Identity.AutoVerify {
			id.AutoVerify = append(id.AutoVerify, apoyo.IDDocumentType(normEnum(string(t))))
		}
	}
	id.ReviewDeadline = orDefault(s.Identity.ReviewDeadline, apoyo.DefaultReviewDeadline)

	r := &p.Referrals
	if s.Referrals.Catalogue == nil {
		r.Catalogue = DefaultCatalogue()
	} else {
		r.Catalogue = []apoyo.ReferralService{}
		for _, c := range s.Referrals.Catalogue {
			c.Code = strings.TrimSpace(c.Code)
			c.Need = apoyo.Need(normEnum(string(c.Need)))
			c.Secretariat = strings.ToUpper(strings.TrimSpace(c.Secretariat))
			c.Name = strings.TrimSpace(c.Name)
			r.Catalogue = append(r.Catalogue, c)
		}
	}
	r.FollowUp = orDefault(s.Referrals.FollowUp, apoyo.DefaultFollowUp)

	if err := Validate(p); err != nil {
		return apoyo.Program{}, err
	}
	return p, nil
}

func orDefault(d *time.Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return *d
}

// normEnum reads "Asylum seeker" and "asylum-seeker" as asylum_seeker, as
// the roster reader does.
func normEnum(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return '_'
		}
		return r
	}, strings.ToLower(strings.TrimSpace(s)))
}

var codeRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// Validate checks every rule of a built programme; Store.Create calls it
// again, so a Program assembled by hand is held to the same rules. The
// first problem is returned as ErrInvalid with Field its key path.
func Validate(p apoyo.Program) error {
	if !validID(p.ID) {
		return invalid("id", "programme id %q is not of the form prg_<16 lowercase letters or digits>", p.ID)
	}
	if n := utf8.RuneCountInString(p.Name); n == 0 || n > 200 || strings.TrimSpace(p.Name) != p.Name {
		return invalid("name", "name is required: 1 to 200 characters without surrounding spaces")
	}
	if p.Currency != apoyo.DefaultCurrency {
		return invalid("currency", "currency %q: programmes pay in MXN", p.Currency)
	}
	if err := checkMoney("benefit_amount", p.BenefitAmount, false); err != nil {
		return err
	}

	if len(p.Funds) == 0 {
		return invalid("funds", "at least one fund with a budget is required (e.g. city, gcf, un)")
	}
	for i, f := range p.Funds {
		path := fmt.Sprintf("funds[%d]", i)
		if !codeRe.MatchString(f.Code) || len(f.Code) > maxFundCodeLen || !ledgerFundRe.MatchString(LedgerFund(p.ID, f.Code)) {
			return invalid(path+".code", "fund code %q: use 1 to %d of a-z, 0-9, _ . - starting with a letter or digit", f.Code, maxFundCodeLen)
		}
		for _, o := range p.Funds[:i] {
			if o.Code == f.Code {
				return invalid(path+".code", "fund code %q appears twice", f.Code)
			}
		}
		if n := utf8.RuneCountInString(f.Name); n == 0 || n > 200 {
			return invalid(path+".name", "fund name must be 1 to 200 characters")
		}
		if err := checkMoney(path+".budget", f.Budget, true); err != nil {
			return err
		}
	}

	e := p.Eligibility
	if e.MinAge < 0 || e.MinAge > 120 {
		return invalid("eligibility.min_age", "minimum age %d must be 0 to 120", e.MinAge)
	}
	if len(e.Alcaldias) == 0 {
		return invalid("eligibility.alcaldias", "at least one alcaldía is required")
	}
	for i, a := range e.Alcaldias {
		path := fmt.Sprintf("eligibility.alcaldias[%d]", i)
		if c, ok := mxid.CanonicalAlcaldia(a); !ok || c != a {
			return invalid(path, "%q is not the canonical name of one of Mexico City's 16 alcaldías", a)
		}
		if slices.Contains(e.Alcaldias[:i], a) {
			return invalid(path, "%q is listed twice", a)
		}
	}
	if len(e.PopulationGroups) == 0 {
		return invalid("eligibility.population_groups", "at least one population group is required")
	}
	for i, g := range e.PopulationGroups {
		path := fmt.Sprintf("eligibility.population_groups[%d]", i)
		if !g.Valid() {
			return invalid(path, "population group %q is not one of %s", g, joinAny(apoyo.PopulationGroups))
		}
		if slices.Contains(e.PopulationGroups[:i], g) {
			return invalid(path, "population group %q is listed twice", g)
		}
	}

	a := p.Approval
	if len(a.Required) == 0 {
		return invalid("approval.required", "at least one secretariat must approve")
	}
	for i, s := range a.Required {
		path := fmt.Sprintf("approval.required[%d]", i)
		if !s.Valid() {
			return invalid(path, "secretariat %q is not one of %s", s, joinAny(apoyo.Secretariats))
		}
		if slices.Contains(a.Required[:i], s) {
			return invalid(path, "secretariat %s is listed twice", s)
		}
	}
	if a.Quorum < 1 || a.Quorum > len(a.Required) {
		return invalid("approval.quorum", "quorum %d must be 1 to %d (the number of required secretariats)", a.Quorum, len(a.Required))
	}
	if a.SLA <= 0 {
		return invalid("approval.sla", "the approval deadline must be longer than zero")
	}

	for i, t := range p.Identity.AutoVerify {
		path := fmt.Sprintf("identity.auto_verify[%d]", i)
		if !t.Valid() {
			return invalid(path, "document type %q is not one of %s", t, joinAny(apoyo.IDDocumentTypes))
		}
		if slices.Contains(p.Identity.AutoVerify[:i], t) {
			return invalid(path, "document type %q is listed twice", t)
		}
	}
	if p.Identity.ReviewDeadline <= 0 {
		return invalid("identity.review_deadline", "the document review deadline must be longer than zero")
	}

	if p.Referrals.FollowUp <= 0 {
		return invalid("referrals.follow_up", "the referral follow-up must be longer than zero")
	}
	for i, c := range p.Referrals.Catalogue {
		path := fmt.Sprintf("referrals.catalogue[%d]", i)
		if !codeRe.MatchString(c.Code) {
			return invalid(path+".code", "service code %q: use 1 to 64 of a-z, 0-9, _ . -", c.Code)
		}
		for _, o := range p.Referrals.Catalogue[:i] {
			if o.Code == c.Code {
				return invalid(path+".code", "service code %q appears twice", c.Code)
			}
		}
		if !c.Need.Valid() {
			return invalid(path+".need", "need %q is not one of %s", c.Need, joinAny(apoyo.Needs))
		}
		if c.Secretariat != apoyo.NGO && !apoyo.Secretariat(c.Secretariat).Valid() {
			return invalid(path+".secretariat", "%q is not one of STYFE, SIBISO, SEDESA, NGO", c.Secretariat)
		}
		if n := utf8.RuneCountInString(c.Name); n == 0 || n > 200 {
			return invalid(path+".name", "service name must be 1 to 200 characters")
		}
	}
	return nil
}

// checkMoney: positive (or, with zeroOK, not negative) and in whole
// centavos.
func checkMoney(field string, d decimal.Decimal, zeroOK bool) error {
	switch {
	case d.IsNegative(), d.IsZero() && !zeroOK:
		if zeroOK {
			return invalid(field, "amount %s must not be negative", d)
		}
		return invalid(field, "amount %s must be greater than zero", d)
	case !d.Equal(d.Round(2)):
		return invalid(field, "amount %s has more than 2 decimals (centavos)", d)
	}
	return nil
}

func joinAny[T ~string](vs []T) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

// ParseDuration reads a duration as programme managers write it: Go's
// forms ("36h", "90m") with an optional leading number of days ("5d",
// "1d12h"), since deadlines are counted in days.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	bad := fmt.Errorf("%q is not a duration; write e.g. 5d, 36h or 1d12h", s)
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil || n < 0 || n > 100_000 {
			return 0, bad
		}
		days = time.Duration(n) * 24 * time.Hour
		if s = s[i+1:]; s == "" {
			return days, nil
		}
		if s[0] == '-' || s[0] == '+' {
			return 0, bad
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, bad
	}
	return days + d, nil
}

// FormatDuration writes d as ParseDuration reads it, in days when whole.
func FormatDuration(d time.Duration) string {
	const day = 24 * time.Hour
	if d > 0 && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	return d.String()
}
