package program_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/mxid"
	"github.com/apoyo-cdmx/apoyo/program"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func requireField(t *testing.T, err error, field string) *apoyo.Error {
	t.Helper()
	require.Error(t, err)
	var e *apoyo.Error
	require.True(t, errors.As(err, &e), "%T: %v", err, err)
	require.Equal(t, apoyo.EINVALID, e.Code, "%v", err)
	require.ErrorIs(t, err, program.ErrInvalid)
	require.Equal(t, field, e.Field, "%v", err)
	return e
}

func TestBuildDefaults(t *testing.T) {
	t.Parallel()
	p, err := program.Build(apoyo.ProgramSpec{Name: "  Protección al Ingreso  ", Funds: program.DefaultFunds(d("1000000"))}, now)
	require.NoError(t, err)
	require.Regexp(t, `^prg_[a-z2-7]{16}$`, p.ID)
	require.Equal(t, "Protección al Ingreso", p.Name)
	require.Equal(t, "MXN", p.Currency)
	require.True(t, p.BenefitAmount.Equal(d("5600")))
	require.Equal(t, 18, p.Eligibility.MinAge)
	require.Equal(t, mxid.Alcaldias[:], p.Eligibility.Alcaldias)
	require.Equal(t, apoyo.PopulationGroups, p.Eligibility.PopulationGroups)
	require.True(t, p.Eligibility.RequireConsent)
	require.Equal(t, apoyo.Secretariats, p.Approval.Required)
	require.Equal(t, 3, p.Approval.Quorum)
	require.Equal(t, 5*24*time.Hour, p.Approval.SLA)
	require.Equal(t, []apoyo.IDDocumentType{apoyo.DocCURP}, p.Identity.AutoVerify)
	require.Equal(t, 7*24*time.Hour, p.Identity.ReviewDeadline)
	require.Equal(t, program.DefaultCatalogue(), p.Referrals.Catalogue)
	require.Equal(t, 30*24*time.Hour, p.Referrals.FollowUp)
	require.Equal(t, now, p.CreatedAt)

	// Two builds, two ids.
	q, err := program.Build(apoyo.ProgramSpec{Name: "x", Funds: program.DefaultFunds(d("1"))}, now)
	require.NoError(t, err)
	require.NotEqual(t, p.ID, q.ID)

	// Explicit values, canonicalised.
	zero := 0
	p, err = program.Build(apoyo.ProgramSpec{
		Name: "p", Funds: []apoyo.Fund{{Code: "city", Budget: d("0")}},
		BenefitAmount: new(d("1500.50")),
		Eligibility: apoyo.EligibilitySpec{MinAge: &zero, Alcaldias: []string{"cuauhtemoc", "GAM"},
			PopulationGroups: []apoyo.PopulationGroup{"Asylum seeker"}, RequireConsent: new(false)},
		Approval: apoyo.ApprovalSpec{Required: []apoyo.Secretariat{"styfe", "SIBISO"}, Quorum: new(1)},
		Identity: apoyo.IdentitySpec{AutoVerify: []apoyo.IDDocumentType{}},
	}, now)
	require.NoError(t, err)
	require.Equal(t, "city", p.Funds[0].Name, "fund name defaults to its code")
	require.Equal(t, 0, p.Eligibility.MinAge)
	require.Equal(t, []string{"Cuauhtémoc", "Gustavo A. Madero"}, p.Eligibility.Alcaldias)
	require.Equal(t, []apoyo.PopulationGroup{apoyo.PopulationAsylumSeeker}, p.Eligibility.PopulationGroups)
	require.False(t, p.Eligibility.RequireConsent)
	require.Equal(t, []apoyo.Secretariat{apoyo.STyFE, apoyo.SIBISO}, p.Approval.Required)
	require.Equal(t, 1, p.Approval.Quorum)
	require.Empty(t, p.Identity.AutoVerify)
}

func TestBuildErrorsNameTheKey(t *testing.T) {
	t.Parallel()
	ok := func() apoyo.ProgramSpec {
		return apoyo.ProgramSpec{Name: "p", Funds: []apoyo.Fund{{Code: "city", Budget: d("100")}, {Code: "gcf", Budget: d("50")}}}
	}
	neg := -time.Hour
	for _, tc := range []struct {
		field string
		edit  func(s *apoyo.ProgramSpec)
	}{
		{"name", func(s *apoyo.ProgramSpec) { s.Name = " " }},
		{"name", func(s *apoyo.ProgramSpec) { s.Name = strings.Repeat("a", 201) }},
		{"currency", func(s *apoyo.ProgramSpec) { s.Currency = "USD" }},
		{"benefit_amount", func(s *apoyo.ProgramSpec) { s.BenefitAmount = new(d("0")) }},
		{"benefit_amount", func(s *apoyo.ProgramSpec) { s.BenefitAmount = new(d("5600.001")) }},
		{"funds", func(s *apoyo.ProgramSpec) { s.Funds = nil }},
		{"funds[1].code", func(s *apoyo.ProgramSpec) { s.Funds[1].Code = "GCF" }},
		{"funds[1].code", func(s *apoyo.ProgramSpec) { s.Funds[1].Code = "city" }},
		{"funds[1].code", func(s *apoyo.ProgramSpec) { s.Funds[1].Code = strings.Repeat("a", 44) }},
		{"funds[0].budget", func(s *apoyo.ProgramSpec) { s.Funds[0].Budget = d("-1") }},
		{"funds[0].budget", func(s *apoyo.ProgramSpec) { s.Funds[0].Budget = d("0.001") }},
		{"eligibility.min_age", func(s *apoyo.ProgramSpec) { s.Eligibility.MinAge = new(-1) }},
		{"eligibility.alcaldias[1]", func(s *apoyo.ProgramSpec) { s.Eligibility.Alcaldias = []string{"Tlalpan", "Ecatepec"} }},
		{"eligibility.alcaldias[1]", func(s *apoyo.ProgramSpec) { s.Eligibility.Alcaldias = []string{"Tlalpan", "tlalpan"} }},
		{"eligibility.population_groups[0]", func(s *apoyo.ProgramSpec) { s.Eligibility.PopulationGroups = []apoyo.PopulationGroup{"tourist"} }},
		{"approval.required[1]", func(s *apoyo.ProgramSpec) { s.Approval.Required = []apoyo.Secretariat{"STYFE", "SEP"} }},
		{"approval.required[1]", func(s *apoyo.ProgramSpec) { s.Approval.Required = []apoyo.Secretariat{"STYFE", "styfe"} }},
		{"approval.quorum", func(s *apoyo.ProgramSpec) { s.Approval.Quorum = new(4) }},
		{"approval.quorum", func(s *apoyo.ProgramSpec) { s.Approval.Quorum = new(0) }},
		{"approval.sla", func(s *apoyo.ProgramSpec) { s.Approval.SLA = &neg }},
		{"identity.auto_verify[0]", func(s *apoyo.ProgramSpec) { s.Identity.AutoVerify = []apoyo.IDDocumentType{"ine"} }},
		{"identity.review_deadline", func(s *apoyo.ProgramSpec) { s.Identity.ReviewDeadline = new(time.Duration(0)) }},
		{"referrals.follow_up", func(s *apoyo.ProgramSpec) { s.Referrals.FollowUp = &neg }},
		{"referrals.catalogue[0].need", func(s *apoyo.ProgramSpec) {
			s.Referrals.Catalogue = []apoyo.ReferralService{{Code: "x", Need: "food", Secretariat: "NGO", Name: "X"}}
		}},
		{"referrals.catalogue[0].secretariat", func(s *apoyo.ProgramSpec) {
			s.Referrals.Catalogue = []apoyo.ReferralService{{Code: "x", Need: "health", Secretariat: "IMSS", Name: "X"}}
		}},
	} {
		s := ok()
		tc.edit(&s)
		_, err := program.Build(s, now)
		requireField(t, err, tc.field)
	}
	e := requireField(t, func() error {
		s := ok()
		s.Eligibility.Alcaldias = []string{"Ecatepec"}
		_, err := program.Build(s, now)
		return err
	}(), "eligibility.alcaldias[0]")
	require.Contains(t, e.Message, "Ecatepec", "the error names the unknown alcaldía")
}

func TestDefaultFundsSumExactly(t *testing.T) {
	t.Parallel()
	for _, b := range []string{"1000000", "2520000.00", "0.01", "0.03", "100.01", "3333333.33", "0"} {
		fs := program.DefaultFunds(d(b))
		require.Len(t, fs, 3)
		require.Equal(t, []string{"city", "gcf", "un"}, []string{fs[0].Code, fs[1].Code, fs[2].Code})
		sum := decimal.Zero
		for _, f := range fs {
			require.True(t, f.Budget.Equal(f.Budget.Round(2)), "%s: %s has centavo fractions", b, f.Budget)
			require.False(t, f.Budget.IsNegative())
			sum = sum.Add(f.Budget)
		}
		require.True(t, sum.Equal(d(b)), "%s: funds sum to %s", b, sum)
	}
	fs := program.DefaultFunds(d("1000000"))
	require.True(t, fs[0].Budget.Equal(d("600000")))
	require.True(t, fs[1].Budget.Equal(d("250000")))
	require.True(t, fs[2].Budget.Equal(d("150000")))
	require.Equal(t, "Global Cities Fund", fs[1].Name)
}

func TestReferralFor(t *testing.T) {
	t.Parallel()
	r := apoyo.ReferralRules{Catalogue: program.DefaultCatalogue()}
	got := r.For([]apoyo.Need{"education", "employment", "legal_aid", "employment", "health"})
	var codes []string
	for _, s := range got {
		codes = append(codes, s.Code)
	}
	// Canonical need order, one service each, the first listed.
	require.Equal(t, []string{"styfe.trabajo_digno", "sedesa.servicios_salud", "sibiso.asesoria_juridica", "ngo.casa_refugiados"}, codes)
	require.Equal(t, "Programa de Fomento al Trabajo Digno", got[0].Name)
	require.Empty(t, r.For(nil))

	// Every need has a service in the default catalogue.
	for _, n := range apoyo.Needs {
		require.Len(t, r.For([]apoyo.Need{n}), 1, "need %s", n)
	}
}

func TestLoadSpecYAML(t *testing.T) {
	t.Parallel()
	s, err := program.LoadSpecYAML(strings.NewReader(`
name: Protección al Ingreso 2025
benefit_amount: 5600.10
currency: mxn
funds:
  - {code: city, name: Presupuesto CDMX, budget: 2520000.00}
  - code: gcf
    name: Global Cities Fund
    budget: "1050000.55"
eligibility:
  min_age: 16
  alcaldias: [Cuauhtemoc, iztapalapa]
  population_groups: [refugee, asylum_seeker]
  require_consent: false
approval: {required: [STYFE, SIBISO], quorum: 1, sla: 3d}
identity: {auto_verify: [], review_deadline: 1d12h}
referrals:
  follow_up: 720h
  catalogue:
    - {code: ngo.x, need: legal_aid, secretariat: ngo, name: Sin Fronteras IAP}
`))
	require.NoError(t, err)
	p, err := program.Build(s, now)
	require.NoError(t, err)
	require.Equal(t, "5600.1", p.BenefitAmount.String())
	require.Equal(t, "MXN", p.Currency)
	require.Len(t, p.Funds, 2)
	require.True(t, p.Funds[1].Budget.Equal(d("1050000.55")))
	require.Equal(t, 16, p.Eligibility.MinAge)
	require.Equal(t, []string{"Cuauhtémoc", "Iztapalapa"}, p.Eligibility.Alcaldias)
	require.False(t, p.Eligibility.RequireConsent)
	require.Equal(t, 1, p.Approval.Quorum)
	require.Equal(t, 3*24*time.Hour, p.Approval.SLA)
	require.Empty(t, p.Identity.AutoVerify)
	require.Equal(t, 36*time.Hour, p.Identity.ReviewDeadline)
	require.Equal(t, 30*24*time.Hour, p.Referrals.FollowUp)
	require.Equal(t, []apoyo.ReferralService{{Code: "ngo.x", Need: "legal_aid", Secretariat: "NGO", Name: "Sin Fronteras IAP"}}, p.Referrals.Catalogue)

	// Absent sections take defaults.
	s, err = program.LoadSpecYAML(strings.NewReader("name: p\nfunds: [{code: city, budget: 10}]\n"))
	require.NoError(t, err)
	p, err = program.Build(s, now)
	require.NoError(t, err)
	require.Equal(t, []apoyo.IDDocumentType{apoyo.DocCURP}, p.Identity.AutoVerify)
	require.Equal(t, 3, p.Approval.Quorum)
}

func TestLoadSpecYAMLErrorsNameTheKey(t *testing.T) {
	t.Parallel()
	base := "name: p\nfunds: [{code: city, budget: 10}]\n"
	for _, tc := range []struct{ yaml, field string }{
		{base + "quorom: 2\n", "quorom"},
		{base + "approval: {quorom: 2}\n", "approval.quorom"},
		{"name: p\nfunds: [{code: city, budget: 10}, {code: gcf, budget: 1o}]\n", "funds[1].budget"},
		{"name: p\nfunds: [{code: city, budget: 10}, {code: gcf}]\n", "funds[1].budget"},
		{"name: p\nfunds: [{code: city, budget: 10, colour: red}]\n", "funds[0].colour"},
		{"name: p\nfunds: {code: city}\n", "funds"},
		{base + "eligibility: {min_age: eighteen}\n", "eligibility.min_age"},
		{base + "eligibility: {min_age: 18.5}\n", "eligibility.min_age"},
		{base + "eligibility: {require_consent: maybe}\n", "eligibility.require_consent"},
		{base + "eligibility: {alcaldias: Tlalpan}\n", "eligibility.alcaldias"},
		{base + "approval: {sla: 5 days}\n", "approval.sla"},
		{base + "referrals: {catalogue: [{code: x, need: health, secretariat: NGO, name: X, url: y}]}\n", "referrals.catalogue[0].url"},
		{base + "name: q\n", "name"},
		{"- a\n- b\n", ""},
	} {
		_, err := program.LoadSpecYAML(strings.NewReader(tc.yaml))
		requireField(t, err, tc.field)
	}
	// Errors found by Build name YAML keys too.
	s, err := program.LoadSpecYAML(strings.NewReader("name: p\nfunds: [{code: city, budget: 10}, {code: City, budget: 1}]\n"))
	require.NoError(t, err)
	_, err = program.Build(s, now)
	requireField(t, err, "funds[1].code")
	s, err = program.LoadSpecYAML(strings.NewReader(base + "eligibility: {alcaldias: [Tlalpan, Neza]}\n"))
	require.NoError(t, err)
	_, err = program.Build(s, now)
	e := requireField(t, err, "eligibility.alcaldias[1]")
	require.Contains(t, e.Message, "Neza")

	_, err = program.LoadSpecYAML(strings.NewReader(""))
	require.ErrorIs(t, err, program.ErrInvalid)
	_, err = program.LoadSpecYAML(strings.NewReader("name: [unclosed\n"))
	require.ErrorIs(t, err, program.ErrInvalid)
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{
		"5d": 5 * 24 * time.Hour, "36h": 36 * time.Hour, "1d12h": 36 * time.Hour, "90m": 90 * time.Minute, " 0d ": 0,
	} {
		got, err := program.ParseDuration(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "d", "5 days", "1.5d", "-1d", "1d-2h", "5"} {
		_, err := program.ParseDuration(in)
		require.Error(t, err, in)
	}
	require.Equal(t, "5d", program.FormatDuration(5*24*time.Hour))
	require.Equal(t, "36h0m0s", program.FormatDuration(36*time.Hour))
}
