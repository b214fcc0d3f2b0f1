package report_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/internal/pgtest"
	"github.com/apoyo-cdmx/apoyo/internal/testfactory"
	"github.com/apoyo-cdmx/apoyo/ledger"
	"github.com/apoyo-cdmx/apoyo/program"
	"github.com/apoyo-cdmx/apoyo/report"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var (
	cycleDate = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	benefit   = decimal.RequireFromString("5600.00")
	// sealed stands for every encrypted column: the report must never
	// carry it in any encoding.
	sealed = []byte("SEALED-PII-CIPHERTEXT")
)

const cycleID = "cyc_report0001"

// person is one beneficiary and their case in the cycle.
type person struct {
	sex, nationality, group, alcaldia string
	birth                             time.Time
	step, status, outcome, reason     string
	state                             any // the case's state jsonb, or nil
	payments                          []pay
}

type pay struct {
	fund, state string
}

func born(years int) time.Time { return cycleDate.AddDate(-years, 0, -10) }

type fixture struct {
	w      *testfactory.World
	pool   *pgxpool.Pool
	ledger *ledger.Ledger
	prog   string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	w := testfactory.New(t, pgtest.New(t))
	p := w.Program(t, nil)
	w.Cycle(t, p.ID, &testfactory.CycleOpts{ID: cycleID, Name: "2025-06", CycleDate: cycleDate})
	return &fixture{w: w, pool: w.Pool, ledger: w.Ledger, prog: p.ID}
}

// enrol inserts a beneficiary (plain columns as given, every encrypted
// column the same dummy ciphertext) and returns its id.
func (f *fixture) enrol(t *testing.T, p person) string {
	t.Helper()
	return f.w.Beneficiary(t, f.prog, &testfactory.BeneficiaryOpts{Birth: p.birth, Sex: p.sex, Nationality: p.nationality,
		PopulationGroup: p.group, Alcaldia: p.alcaldia, Rail: apoyo.RailSPEI, Sealed: sealed})
}

// add enrols n copies of p and gives each a case (and payments) in the cycle.
func (f *fixture) add(t *testing.T, n int, p person) {
	t.Helper()
	ctx := context.Background()
	for range n {
		b := f.enrol(t, p)
		caseID := apoyo.CaseID(cycleID, b)
		var state []byte
		if p.state != nil {
			var err error
			state, err = json.Marshal(p.state)
			require.NoError(t, err)
		}
		_, err := f.pool.Exec(ctx, `INSERT INTO cases (id, program_id, cycle_id, beneficiary_id, step, status, outcome, reason, state)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, caseID, f.prog, cycleID, b, p.step, p.status, p.outcome, p.reason, state)
		require.NoError(t, err)
		for i, py := range p.payments {
			order := fmt.Sprintf("ord-%s-%d", b, i+1)
			_, err := f.pool.Exec(ctx, `INSERT INTO payments (order_id, case_id, program_id, cycle_id, beneficiary_id, attempt, rail,
					amount, fund, tracking_key, state) VALUES ($1, $2, $3, $4, $5, $6, 'spei', $7, $8, $9, $10)`,
				order, caseID, f.prog, cycleID, b, i+1, benefit, program.LedgerFund(f.prog, py.fund), "TK"+order, py.state)
			require.NoError(t, err)
		}
	}
}

func (f *fixture) post(t *testing.T, key, to, from, fund string, amount string) {
	t.Helper()
	acct := func(s string) string { return program.CycleAccount(f.prog, cycleID, s) }
	if from == "available" {
		from = program.AvailableAccount(f.prog)
	} else {
		from = acct(from)
	}
	_, err := f.ledger.Post(context.Background(), ledger.Transfer(key, acct(to), from, program.LedgerFund(f.prog, fund),
		decimal.RequireFromString(amount), key))
	require.NoError(t, err)
}

// seed builds the cycle the tests read: 39 cases of 39 people (and two
// more people on the roster without a case).
//
//	group  n   sex age  nat  population     alcaldía     case
//	A1    10   H   30   VEN  refugee        Cuauhtémoc   paid (city), completed
//	A2     4   M   40   HND  asylum_seeker  Iztapalapa   paid (city), completed
//	A3     2   X   22   CUB  migrant        Cuauhtémoc   paid (city), completed
//	B      2   M   50   HTI  asylum_seeker  Iztapalapa   returned, then paid (gcf)
//	C      1   M   65   XXA  migrant        Ecatepec     returned, expired: payment failed (city)
//	D      1   H   30   COL  refugee        Cuauhtémoc   identity rejected
//	E      5   H   16   GTM  migrant        Tlalpan      ineligible: age
//	F      4   M   18*  MEX  returnee       Tlalpan      ineligible: consent (*18 on the cycle date)
//	G      1   H   33   NGA  migrant        Ecatepec     ineligible: consent and alcaldía
//	H      3   H   28   VEN  refugee        Coyoacán     approval rejected (2 SIBISO, 1 SEDESA)
//	I      3   H   28   VEN  refugee        Coyoacán     waiting for approval
//	J      1   H   28   VEN  refugee        Coyoacán     at payment, order pending (city)
//	K      1   H   28   VEN  refugee        Coyoacán     cancelled after approval (timeline)
//	L      1   H   28   VEN  refugee        Coyoacán     cancelled before approval
func seed(t *testing.T) *fixture {
	f := newFixture(t)
	paid := func(sex string, age int, nat, group, alc string) person {
		return person{sex: sex, birth: born(age), nationality: nat, group: group, alcaldia: alc,
			step: "done", status: "done", outcome: "completed", reason: "paid; no referrals", payments: []pay{{"city", "settled"}}}
	}
	done := func(p person, outcome, reason string) person {
		p.step, p.status, p.outcome, p.reason, p.payments = "done", "done", outcome, reason, nil
		return p
	}
	f.add(t, 10, paid("H", 30, "VEN", "refugee", "Cuauhtémoc"))
	f.add(t, 4, paid("M", 40, "HND", "asylum_seeker", "Iztapalapa"))
	a3 := paid("X", 22, "CUB", "migrant", "Cuauhtémoc")
	a3.payments = []pay{{"city", "collected"}}
	f.add(t, 2, a3)
	b := paid("M", 50, "HTI", "asylum_seeker", "Iztapalapa")
	b.payments = []pay{{"gcf", "returned"}, {"gcf", "settled"}}
	f.add(t, 2, b)
	c := done(paid("M", 65, "XXA", "migrant", "Ecatepec"), "payment_failed", "2 payment attempts failed")
	c.payments = []pay{{"city", "returned"}, {"city", "expired"}}
	f.add(t, 1, c)
	coyo := paid("H", 28, "VEN", "refugee", "Coyoacán")
	f.add(t, 1, done(paid("H", 30, "COL", "refugee", "Cuauhtémoc"), "identity_rejected", "document belongs to someone else"))
	f.add(t, 3, done(paid("H", 16, "GTM", "migrant", "Tlalpan"), "ineligible", "age: 16 on the cycle date, minimum 18"))
	f.add(t, 2, done(paid("H", 17, "GTM", "migrant", "Tlalpan"), "ineligible", "age: 17 on the cycle date, minimum 18"))
	turns18 := done(paid("M", 0, "MEX", "returnee", "Tlalpan"), "ineligible", "consent: not given")
	turns18.birth = cycleDate.AddDate(-18, 0, 0)
	f.add(t, 4, turns18)
	f.add(t, 1, done(paid("H", 33, "NGA", "migrant", "Ecatepec"), "ineligible", "consent: not given; alcaldia: lives in Ecatepec"))
	f.add(t, 2, done(coyo, "approval_rejected", "rejected by SIBISO: Señora Rosalinda lied about her address"))
	f.add(t, 1, done(coyo, "approval_rejected", "rejected by SEDESA: duplicate"))
	waiting := coyo
	waiting.step, waiting.status, waiting.outcome, waiting.reason, waiting.payments = "approval", "waiting", "", "", nil
	f.add(t, 3, waiting)
	pending := coyo
	pending.step, pending.status, pending.outcome, pending.reason, pending.payments = "payment", "running", "", "", []pay{{"city", "pending"}}
	f.add(t, 1, pending)
	timeline := func(approved bool) apoyo.CaseState {
		st := apoyo.CaseState{Step: apoyo.StepDone, Outcome: apoyo.OutcomeCancelled, Timeline: []apoyo.Event{
			{At: cycleDate, Step: apoyo.StepApproval, Outcome: "requested", Actor: "system"},
			{At: cycleDate, Step: apoyo.StepApproval, Outcome: "approved", Actor: "STYFE"},
		}}
		if approved {
			st.Timeline = append(st.Timeline, apoyo.Event{At: cycleDate, Step: apoyo.StepApproval, Outcome: "approved", Reason: "1 of 3 approvals", Actor: "system"})
		}
		return st
	}
	k := done(coyo, "cancelled", "programme paused")
	k.state = timeline(true)
	f.add(t, 1, k)
	lc := done(coyo, "cancelled", "programme paused")
	lc.state = timeline(false)
	f.add(t, 1, lc)
	// On the roster, not in this cycle.
	f.enrol(t, paid("H", 30, "VEN", "refugee", "Cuauhtémoc"))
	f.enrol(t, paid("H", 30, "VEN", "refugee", "Cuauhtémoc"))

	require.NoError(t, program.EnsureCycleAccounts(context.Background(), f.ledger, f.prog, cycleID))
	f.post(t, "commit-city", "committed", "available", "city", "100800")
	f.post(t, "transit-city", "in_transit", "committed", "city", "100800")
	f.post(t, "settle-city", "paid", "in_transit", "city", "89600")
	f.post(t, "return-city", "returned", "in_transit", "city", "5600")
	f.post(t, "commit-gcf", "committed", "available", "gcf", "16800")
	f.post(t, "transit-gcf", "in_transit", "committed", "gcf", "11200")
	f.post(t, "settle-gcf", "paid", "in_transit", "gcf", "11200")
	return f
}

func cycleReport(t *testing.T, f *fixture, opts apoyo.ReportOptions) apoyo.CycleReport {
	t.Helper()
	r, err := report.Cycle(context.Background(), f.pool, f.ledger, cycleID, opts)
	require.NoError(t, err)
	return r
}

var now = time.Date(2025, 7, 1, 9, 0, 0, 0, time.UTC)

func TestCycleTotalsRejectionsAndFunds(t *testing.T) {
	f := seed(t)
	r := cycleReport(t, f, apoyo.ReportOptions{Now: now})

	require.Equal(t, apoyo.ReportCycle{ID: cycleID, ProgramID: f.prog, Name: "2025-06", Period: "2025-06", CycleDate: "2025-06-01", Status: "running"}, r.Cycle)
	require.Equal(t, now, r.GeneratedAt)
	require.Equal(t, "MXN", r.Currency)
	require.Equal(t, 5, r.MinCell)

	tot := r.Totals
	require.Equal(t, int64(41), tot.Roster)
	require.Equal(t, int64(39), tot.Enrolled)
	require.Equal(t, int64(4), tot.InProgress)
	require.Equal(t, int64(1), tot.IdentityRejected)
	require.Equal(t, int64(0), tot.IdentityReviewExpired)
	require.Equal(t, int64(10), tot.Ineligible)
	require.Equal(t, int64(3), tot.ApprovalRejected)
	require.Equal(t, int64(21), tot.Approved, "A, B, C, the pending payment and the case cancelled after approval")
	require.Equal(t, int64(18), tot.Paid)
	require.Equal(t, int64(4), tot.ReturnedPayments)
	require.Equal(t, int64(3), tot.ReturnedPeople)
	require.Equal(t, int64(2), tot.Repaid)
	require.Equal(t, int64(1), tot.PaymentFailed)
	require.Equal(t, int64(2), tot.Cancelled)
	require.Equal(t, int64(18), tot.Completed)
	require.Equal(t, map[string]int64{"completed": 18, "payment_failed": 1, "identity_rejected": 1, "ineligible": 10,
		"approval_rejected": 3, "cancelled": 2, "in_progress": 4}, tot.ByOutcome)
	require.Equal(t, "100800.00", tot.AmountPaid.StringFixed(2))
	require.Equal(t, "22400.00", tot.AmountReturned.StringFixed(2))

	// Rules: age 5, consent 5, alcaldia 1. The 1 is hidden, and so its
	// complement, the first of the smallest (age), labelled x as it is 5.
	require.Equal(t, []apoyo.Breakdown{
		{Category: "age", Count: apoyo.ReportCount{Suppressed: true, Label: "x"}},
		{Category: "alcaldia", Count: apoyo.ReportCount{Suppressed: true, Label: "<5"}},
		{Category: "consent", Count: apoyo.ReportCount{Value: 5}},
	}, r.IneligibleByRule)
	// With K = 2 nothing is below it but the 1, and the 5s protect it.
	r2 := cycleReport(t, f, apoyo.ReportOptions{MinCell: 2, Now: now})
	require.Equal(t, apoyo.ReportCount{Suppressed: true, Label: "<2"}, r2.IneligibleByRule[1].Count)
	require.Equal(t, apoyo.ReportCount{Suppressed: true, Label: "x"}, r2.IneligibleByRule[0].Count)
	require.Equal(t, apoyo.ReportCount{Value: 5}, r2.IneligibleByRule[2].Count)

	// Secretariats: 2 SIBISO and 1 SEDESA are both small; STYFE's 0 shows.
	require.Equal(t, []apoyo.Breakdown{
		{Category: "STYFE", Count: apoyo.ReportCount{Value: 0}},
		{Category: "SIBISO", Count: apoyo.ReportCount{Suppressed: true, Label: "<5"}},
		{Category: "SEDESA", Count: apoyo.ReportCount{Suppressed: true, Label: "<5"}},
	}, r.ApprovalRejectedBySecretariat)
	r2 = cycleReport(t, f, apoyo.ReportOptions{MinCell: 2, Now: now})
	require.Equal(t, apoyo.ReportCount{Value: 2}, r2.ApprovalRejectedBySecretariat[1].Count)

	d := func(s string) decimal.Decimal { return decimal.RequireFromString(s) }
	require.Len(t, r.Funds, 3)
	fundsByCode := map[string]apoyo.FundLine{}
	for _, fl := range r.Funds {
		fundsByCode[fl.Fund] = fl
	}
	require.Equal(t, []string{"city", "gcf", "un"}, []string{r.Funds[0].Fund, r.Funds[1].Fund, r.Funds[2].Fund}, "the programme's order")
	city, gcf, un := fundsByCode["city"], fundsByCode["gcf"], fundsByCode["un"]
	require.Equal(t, program.LedgerFund(f.prog, "city"), city.LedgerFund)
	require.Equal(t, int64(16), city.PaidPayments)
	require.True(t, d("89600").Equal(city.AmountPaid), city.AmountPaid.String())
	require.Equal(t, int64(2), city.ReturnedPayments)
	require.True(t, d("11200").Equal(city.AmountReturned))
	require.Equal(t, int64(2), gcf.PaidPayments)
	require.True(t, d("11200").Equal(gcf.AmountPaid))
	require.Equal(t, int64(2), gcf.ReturnedPayments)
	require.True(t, d("11200").Equal(gcf.AmountReturned))
	require.Equal(t, int64(0), un.PaidPayments)
	require.True(t, un.AmountPaid.IsZero())

	require.True(t, d("0").Equal(city.Ledger.Committed))
	require.True(t, d("5600").Equal(city.Ledger.InTransit))
	require.True(t, d("89600").Equal(city.Ledger.Paid))
	require.True(t, d("5600").Equal(city.Ledger.Returned))
	require.True(t, d("5600").Equal(gcf.Ledger.Committed))
	require.True(t, d("0").Equal(gcf.Ledger.InTransit))
	require.True(t, d("11200").Equal(gcf.Ledger.Paid))
	require.True(t, un.Ledger.Paid.IsZero())
}

// row is a category's cells as a table prints them.
func row(c apoyo.Category) []string {
	return []string{c.Enrolled.String(), c.Approved.String(), c.Paid.String(), c.AmountPaid.String()}
}

func table(t *testing.T, r apoyo.CycleReport, dim string) map[string][]string {
	t.Helper()
	for _, d := range r.Dimensions {
		if d.Name == dim {
			out := map[string][]string{}
			for _, c := range d.Categories {
				out[c.Name] = row(c)
			}
			return out
		}
	}
	t.Fatalf("no dimension %s", dim)
	return nil
}

func TestCycleDimensionsAndSuppression(t *testing.T) {
	f := seed(t)
	r := cycleReport(t, f, apoyo.ReportOptions{Now: now})

	var names []string
	for _, d := range r.Dimensions {
		names = append(names, d.Name)
	}
	require.Equal(t, []string{"sex", "age_band", "nationality_region", "population_group", "alcaldia"}, names)

	hidden := []string{"<5", "<5", "<5", "x"}
	// X has 2 people: hidden, and M (11, the next smallest) with it, so X
	// cannot be read as 39 − 26. Each hidden count hides the rest of its row.
	require.Equal(t, map[string][]string{
		"H": {"26", "12", "10", "56000.00"},
		"M": {"x", "x", "x", "x"},
		"X": hidden,
	}, table(t, r, "sex"))

	// Age on the cycle date: F turn 18 that day and count as 18-24.
	require.Equal(t, map[string][]string{
		"under 18": {"5", "0", "0", "0.00"},
		"18-24":    {"6", "<5", "<5", "x"},
		"25-34":    {"21", "12", "10", "56000.00"},
		"35-44":    hidden,
		"45-59":    hidden,
		"60+":      hidden,
	}, table(t, r, "age_band"))

	require.Equal(t, map[string][]string{
		"Central America": {"9", "<5", "<5", "x"},
		"Caribbean":       hidden,
		"South America":   {"20", "12", "10", "56000.00"},
		"North America":   hidden,
		"Africa":          hidden,
		"Asia":            {"0", "0", "0", "0.00"},
		"Europe":          {"0", "0", "0", "0.00"},
		"Oceania":         {"0", "0", "0", "0.00"},
		"Other/unknown":   hidden, // XXA (stateless)
	}, table(t, r, "nationality_region"))

	// returnee (4) is alone below 5: its complement is the smallest other
	// cell, idp's 0 ("<5" is true of 0).
	require.Equal(t, map[string][]string{
		"migrant":       {"9", "<5", "<5", "x"},
		"refugee":       {"20", "12", "10", "56000.00"},
		"asylum_seeker": {"6", "6", "6", "33600.00"},
		"idp":           hidden,
		"returnee":      hidden,
	}, table(t, r, "population_group"))

	alc := table(t, r, "alcaldia")
	require.Len(t, alc, 17, "the 16 alcaldías and Other/unknown")
	require.Equal(t, []string{"13", "12", "12", "67200.00"}, alc["Cuauhtémoc"])
	require.Equal(t, []string{"6", "6", "6", "33600.00"}, alc["Iztapalapa"])
	require.Equal(t, []string{"9", "0", "0", "0.00"}, alc["Tlalpan"])
	require.Equal(t, []string{"9", "<5", "<5", "x"}, alc["Coyoacán"])
	require.Equal(t, hidden, alc["Other/unknown"], "Ecatepec is not one of the 16")
	require.Equal(t, hidden, alc["Álvaro Obregón"], "the complement of Other/unknown: the first 0")
	require.Equal(t, []string{"0", "0", "0", "0.00"}, alc["Xochimilco"])

	// Every dimension covers everyone once; no column has exactly one
	// hidden cell; shown cells never exceed the totals.
	for _, d := range r.Dimensions {
		cols := []func(apoyo.Category) apoyo.ReportCount{
			func(c apoyo.Category) apoyo.ReportCount { return c.Enrolled },
			func(c apoyo.Category) apoyo.ReportCount { return c.Approved },
			func(c apoyo.Category) apoyo.ReportCount { return c.Paid },
		}
		totals := []int64{r.Totals.Enrolled, r.Totals.Approved, r.Totals.Paid}
		for m, get := range cols {
			var shown, nHidden int64
			for _, c := range d.Categories {
				if v := get(c); v.Suppressed {
					nHidden++
				} else {
					shown += v.Value
				}
			}
			require.NotEqual(t, int64(1), nHidden, "%s column %d", d.Name, m)
			if nHidden == 0 {
				require.Equal(t, totals[m], shown, "%s column %d", d.Name, m)
			} else {
				// Less, unless every hidden cell is a 0.
				require.LessOrEqual(t, shown, totals[m], "%s column %d", d.Name, m)
			}
		}
	}

	// With K = 2 nothing in the sex table is below it: all exact, and
	// the columns add up to the totals.
	r2 := cycleReport(t, f, apoyo.ReportOptions{MinCell: 2, Now: now})
	require.Equal(t, map[string][]string{
		"H": {"26", "12", "10", "56000.00"},
		"M": {"11", "7", "6", "33600.00"},
		"X": {"2", "2", "2", "11200.00"},
	}, table(t, r2, "sex"))
}

func TestCycleReportCarriesNoPersonalData(t *testing.T) {
	f := seed(t)
	r := cycleReport(t, f, apoyo.ReportOptions{Now: now})
	var out bytes.Buffer
	require.NoError(t, json.NewEncoder(&out).Encode(r))
	require.NoError(t, report.WriteCSV(&out, r))
	require.NoError(t, report.WriteText(&out, r))
	s := out.String()
	for _, leak := range []string{
		"ben_", "case/", "ord-", "TK", // ids of people, cases and orders
		string(sealed), hex.EncodeToString(sealed), base64.StdEncoding.EncodeToString(sealed),
		"Rosalinda", "lied", "duplicate", "lives in", "Ecatepec", "on the cycle date", "not given", "someone else", "XXA",
	} {
		require.NotContains(t, s, leak)
	}
	// The hidden values are gone from the value itself, not only from
	// its printing.
	for _, d := range r.Dimensions {
		for _, c := range d.Categories {
			for _, v := range []apoyo.ReportCount{c.Enrolled, c.Approved, c.Paid} {
				if v.Suppressed {
					require.Zero(t, v.Value)
				}
			}
			if c.AmountPaid.Suppressed {
				require.True(t, c.AmountPaid.Value.IsZero())
			}
		}
	}
}

func TestCycleJSONAndCSV(t *testing.T) {
	f := seed(t)
	r := cycleReport(t, f, apoyo.ReportOptions{Now: now})

	b, err := json.Marshal(r)
	require.NoError(t, err)
	var raw struct {
		Totals     map[string]any `json:"totals"`
		Dimensions []struct {
			Dimension  string                       `json:"dimension"`
			Categories []map[string]json.RawMessage `json:"categories"`
		} `json:"dimensions"`
	}
	require.NoError(t, json.Unmarshal(b, &raw))
	require.Equal(t, float64(39), raw.Totals["enrolled"])
	require.Equal(t, "sex", raw.Dimensions[0].Dimension)
	x := raw.Dimensions[0].Categories[2]
	require.JSONEq(t, `"X"`, string(x["category"]))
	require.JSONEq(t, `{"value": null, "suppressed": true, "label": "<5"}`, string(x["enrolled"]))
	require.JSONEq(t, `{"value": null, "suppressed": true, "label": "x"}`, string(x["amount_paid"]))
	h := raw.Dimensions[0].Categories[0]
	require.JSONEq(t, `{"value": 26}`, string(h["enrolled"]))
	require.JSONEq(t, `{"value": "56000"}`, string(h["amount_paid"]))

	// And it reads back into the same report.
	var back apoyo.CycleReport
	require.NoError(t, json.Unmarshal(b, &back))
	for i, d := range r.Dimensions {
		require.Equal(t, d.Name, back.Dimensions[i].Name)
		for j, c := range d.Categories {
			require.Equal(t, row(c), row(back.Dimensions[i].Categories[j]))
		}
	}
	require.Equal(t, r.IneligibleByRule, back.IneligibleByRule)

	var buf bytes.Buffer
	require.NoError(t, report.WriteCSV(&buf, r))
	recs, err := csv.NewReader(&buf).ReadAll()
	require.NoError(t, err)
	require.Equal(t, []string{"dimension", "category", "enrolled", "approved", "paid", "amount_paid"}, recs[0])
	require.Equal(t, []string{"total", "all", "39", "21", "18", "100800.00"}, recs[1])
	n := 0
	for _, d := range r.Dimensions {
		n += len(d.Categories)
	}
	require.Len(t, recs, 2+n)
	require.Contains(t, recs, []string{"sex", "X", "<5", "<5", "<5", "x"})
	require.Contains(t, recs, []string{"sex", "H", "26", "12", "10", "56000.00"})
	require.Contains(t, recs, []string{"alcaldia", "Cuauhtémoc", "13", "12", "12", "67200.00"})

	var text bytes.Buffer
	require.NoError(t, report.WriteText(&text, r))
	require.Contains(t, text.String(), "BY sex")
	require.Contains(t, text.String(), "100800.00 MXN")
}

func TestCycleErrors(t *testing.T) {
	f := newFixture(t)
	_, err := report.Cycle(context.Background(), f.pool, f.ledger, "cyc_nosuchcycle", apoyo.ReportOptions{})
	require.ErrorIs(t, err, report.ErrCycleNotFound)
	require.Equal(t, apoyo.ENOTFOUND, apoyo.ErrorCodeOf(err))

	_, err = report.Cycle(context.Background(), f.pool, f.ledger, cycleID, apoyo.ReportOptions{MinCell: 1})
	require.Equal(t, apoyo.EINVALID, apoyo.ErrorCodeOf(err))

	// A cycle with no cases yet: zeros everywhere, nothing hidden.
	r, err := report.Cycle(context.Background(), f.pool, f.ledger, cycleID, apoyo.ReportOptions{})
	require.NoError(t, err)
	require.Zero(t, r.Totals.Enrolled)
	require.Len(t, r.Funds, 3)
	for _, d := range r.Dimensions {
		for _, c := range d.Categories {
			require.False(t, c.Enrolled.Suppressed)
		}
	}
	require.Empty(t, r.IneligibleByRule)
}

// TestCSVNeutralisesFormulas: a category a spreadsheet would run as a
// formula is written as text.
func TestCSVNeutralisesFormulas(t *testing.T) {
	t.Parallel()
	r := apoyo.CycleReport{Dimensions: []apoyo.Dimension{{Name: "nationality_region", Categories: []apoyo.Category{
		{Name: "=HYPERLINK(\"http://x\")"}, {Name: "+1"}, {Name: "@SUM(A1)"}, {Name: "-2"}, {Name: "\tx"}, {Name: "Caribe"},
	}}}}
	var b strings.Builder
	require.NoError(t, report.WriteCSV(&b, r))
	out := b.String()
	for _, want := range []string{`"'=HYPERLINK(""http://x"")"`, "'+1", "'@SUM(A1)", "'-2", "'\tx", ",Caribe,"} {
		require.Contains(t, out, want)
	}
}
