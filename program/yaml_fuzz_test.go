package program_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/internal/textcheck"
	"github.com/apoyo-cdmx/apoyo/program"
)

// FuzzLoadSpecYAML: whatever the bytes, LoadSpecYAML returns a spec or a
// program.invalid error; every text of a returned spec passes textcheck
// (so Build and the store never see NUL or invalid UTF-8); and Build of a
// loaded spec either succeeds or fails with program.invalid, never
// panicking.
func FuzzLoadSpecYAML(f *testing.F) {
	for _, s := range []string{
		"name: p\nfunds: [{code: city, budget: 10}]\n",
		"name: Protección al Ingreso 2025\nbenefit_amount: 5600.10\ncurrency: mxn\nfunds:\n  - {code: city, name: Presupuesto CDMX, budget: 2520000.00}\n  - code: gcf\n    name: Global Cities Fund\n    budget: \"1050000.55\"\neligibility:\n  min_age: 16\n  alcaldias: [Cuauhtemoc, iztapalapa]\n  population_groups: [refugee, asylum_seeker]\n  require_consent: false\napproval: {required: [STYFE, SIBISO], quorum: 1, sla: 3d}\nidentity: {auto_verify: [], review_deadline: 1d12h}\nreferrals:\n  follow_up: 720h\n  catalogue:\n    - {code: ngo.x, need: legal_aid, secretariat: ngo, name: Sin Fronteras IAP}\n",
		"a: &x [1, 2]\nb: *x\n",
		"name: \"a\\0b\"\n",
		"\ufeffname: p\n",
		"name: Protecci\xf3n\n",
		"- a\n- b\n",
		"funds: [{code: c, budget: 1e400}]\n",
	} {
		f.Add([]byte(s))
	}
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := program.LoadSpecYAML(bytes.NewReader(data))
		if err != nil {
			var ae *apoyo.Error
			if !errors.As(err, &ae) || !errors.Is(err, program.ErrInvalid) {
				t.Fatalf("error %v is not program.invalid", err)
			}
			return
		}
		texts := []string{s.Name, s.Currency}
		for _, fd := range s.Funds {
			texts = append(texts, fd.Code, fd.Name)
		}
		texts = append(texts, s.Eligibility.Alcaldias...)
		for _, g := range s.Eligibility.PopulationGroups {
			texts = append(texts, string(g))
		}
		for _, r := range s.Approval.Required {
			texts = append(texts, string(r))
		}
		for _, d := range s.Identity.AutoVerify {
			texts = append(texts, string(d))
		}
		for _, c := range s.Referrals.Catalogue {
			texts = append(texts, c.Code, string(c.Need), string(c.Secretariat), c.Name)
		}
		for _, x := range texts {
			if !textcheck.Valid(x, textcheck.MaxTitle) {
				t.Fatalf("loaded spec holds invalid text %q", x)
			}
		}
		if _, err := program.Build(s, now); err != nil && apoyo.ErrorCodeOf(err) != apoyo.EINVALID {
			t.Fatalf("Build of a loaded spec: %v", err)
		}
	})
}
