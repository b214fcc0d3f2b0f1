package report

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/ledger"
	"github.com/apoyo-cdmx/apoyo/mxid"
	"github.com/apoyo-cdmx/apoyo/program"
)

// DefaultMinCell is K: counts from 1 to K−1 are not published.
const DefaultMinCell = 5

// Errors of this package. Compare with errors.Is.
var (
	// ErrCycleNotFound: no cycle with that id.
	ErrCycleNotFound = &apoyo.Error{Code: apoyo.ENOTFOUND, Reason: "report.cycle_not_found", Message: "cycle not found"}
	// ErrInvalid: bad options.
	ErrInvalid = &apoyo.Error{Code: apoyo.EINVALID, Reason: "report.invalid", Message: "invalid report options"}
)

// Dimension names, in report order.
const (
	DimSex               = "sex"
	DimAgeBand           = "age_band"
	DimNationalityRegion = "nationality_region"
	DimPopulationGroup   = "population_group"
	DimAlcaldia          = "alcaldia"
)

// AgeBands are the age bands on the cycle date, in report order.
var AgeBands = []string{"under 18", "18-24", "25-34", "35-44", "45-59", "60+"}

// The SQL below names steps, outcomes and payment states only through
// the domain's typed enums (sqlSet, sqlText): renaming one in package
// apoyo renames it here.
var (
	// paidStates: the money reached the person.
	paidStates = sqlSet(apoyo.PaymentSettled, apoyo.PaymentCollected)
	// returnedStates: the order is over and the money came back to the
	// cycle's returned account (activities.Disburse posts every unpaid
	// final state there).
	returnedStates = sqlSet(apoyo.PaymentReturned, apoyo.PaymentRejected, apoyo.PaymentExpired, apoyo.PaymentCancelled)
	// approvedSQL says whether case k (joined with its payments p) passed
	// approval: it is at payment or after, it ended in a way only an
	// approved case can, it has a payment order, or — a case cancelled
	// while waiting to be paid — its timeline has the quorum's "approved"
	// event.
	approvedSQL = `(k.step IN ` + sqlSet(apoyo.StepPayment, apoyo.StepReferrals) +
		` OR k.outcome IN ` + sqlSet(apoyo.OutcomeCompleted, apoyo.OutcomePaymentFailed) + ` OR p.beneficiary_id IS NOT NULL
	OR (k.outcome = ` + sqlText(apoyo.OutcomeCancelled) + ` AND coalesce(k.state->'timeline' @> '[{"step": "` + string(apoyo.StepApproval) +
		`", "outcome": "approved", "actor": "system"}]', false)))`
	stepDone = sqlText(apoyo.StepDone)
)

// sqlText quotes an enum value as an SQL literal. Enum values are
// constants of the domain made of [a-z_]; anything else is a programming
// error.
func sqlText[T ~string](v T) string {
	for _, r := range v {
		if (r < 'a' || r > 'z') && r != '_' {
			panic(fmt.Sprintf("report: enum value %q is not [a-z_]", string(v)))
		}
	}
	return "'" + string(v) + "'"
}

// sqlSet is an SQL list of enum values: ('a', 'b').
func sqlSet[T ~string](vs ...T) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = sqlText(v)
	}
	return "(" + strings.Join(q, ", ") + ")"
}

// Cycle computes cycle cycleID's report. Everything is counted by
// PostgreSQL (GROUP BY over the cycle's cases and payments, in one
// read-only snapshot); Go sees a few hundred aggregate rows, whatever the
// size of the cycle. Errors: ErrCycleNotFound, ErrInvalid.
func Cycle(ctx context.Context, pool *pgxpool.Pool, l *ledger.Ledger, cycleID string, opts apoyo.ReportOptions) (apoyo.CycleReport, error) {
	k := opts.MinCell
	if k == 0 {
		k = DefaultMinCell
	}
	if k < 2 {
		return apoyo.CycleReport{}, ErrInvalid.With("minimum cell %d: use 2 or more (counts below it are hidden)", opts.MinCell).At(0, "min_cell")
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	r := apoyo.CycleReport{GeneratedAt: now.UTC(), MinCell: k}

	tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return apoyo.CycleReport{}, err
	}
	defer func() { _ = tx.Rollback(ctx) }()

	var cycleDate time.Time
	err = tx.QueryRow(ctx, `SELECT c.id, c.program_id, c.name, c.period, c.cycle_date, c.status, p.currency
		FROM cycles c JOIN programs p ON p.id = c.program_id WHERE c.id = $1`, cycleID).
		Scan(&r.Cycle.ID, &r.Cycle.ProgramID, &r.Cycle.Name, &r.Cycle.Period, &cycleDate, &r.Cycle.Status, &r.Currency)
	if errors.Is(err, pgx.ErrNoRows) {
		return apoyo.CycleReport{}, ErrCycleNotFound.With("cycle %q not found", cycleID)
	}
	if err != nil {
		return apoyo.CycleReport{}, err
	}
	r.Cycle.CycleDate = cycleDate.Format(time.DateOnly)

	if err := tx.QueryRow(ctx, `SELECT count(*) FROM beneficiaries WHERE program_id = $1`, r.Cycle.ProgramID).Scan(&r.Totals.Roster); err != nil {
		return apoyo.CycleReport{}, err
	}
	groups, err := queryGroups(ctx, tx, cycleID, cycleDate)
	if err != nil {
		return apoyo.CycleReport{}, err
	}
	if err := fillTotals(ctx, tx, &r, groups); err != nil {
		return apoyo.CycleReport{}, err
	}
	if r.IneligibleByRule, err = ineligibleByRule(ctx, tx, cycleID, int64(k)); err != nil {
		return apoyo.CycleReport{}, err
	}
	if r.ApprovalRejectedBySecretariat, err = rejectedBySecretariat(ctx, tx, cycleID, int64(k)); err != nil {
		return apoyo.CycleReport{}, err
	}
	if r.Funds, err = funds(ctx, tx, l, r.Cycle.ProgramID, cycleID); err != nil {
		return apoyo.CycleReport{}, err
	}
	r.Dimensions = dimensions(groups, int64(k))
	return r, nil
}

// group is one aggregate row: a dimension's value (as stored) and its
// measures.
type group struct {
	dim, value               string
	enrolled, approved, paid int64
	amountPaid               decimal.Decimal
	inProgress               int64
}

// queryGroups counts the cycle's cases per value of each dimension, and
// per outcome, in one scan (GROUPING SETS); the empty set is the total.
// Age is computed on the cycle date, as eligibility does.
func queryGroups(ctx context.Context, tx pgx.Tx, cycleID string, cycleDate time.Time) ([]group, error) {
	rows, err := tx.Query(ctx, `WITH p AS (
			SELECT beneficiary_id, bool_or(state IN `+paidStates+`) AS paid,
			       sum(amount) FILTER (WHERE state IN `+paidStates+`) AS paid_amount
			FROM payments WHERE cycle_id = $1 GROUP BY beneficiary_id
		), c AS (
			SELECT b.sex, b.nationality, b.population_group, b.alcaldia,
			       CASE WHEN a.age < 18 THEN 'under 18' WHEN a.age < 25 THEN '18-24' WHEN a.age < 35 THEN '25-34'
			            WHEN a.age < 45 THEN '35-44' WHEN a.age < 60 THEN '45-59' ELSE '60+' END AS age_band,
			       CASE WHEN k.outcome = '' THEN 'in_progress' ELSE k.outcome END AS outcome,
			       k.step <> `+stepDone+` AS in_progress,
			       `+approvedSQL+` AS approved,
			       coalesce(p.paid, false) AS paid, p.paid_amount
			FROM cases k
			JOIN beneficiaries b ON b.id = k.beneficiary_id
			LEFT JOIN p ON p.beneficiary_id = k.beneficiary_id
			CROSS JOIN LATERAL (SELECT extract(year FROM age($2::date, b.birth_date))::int AS age) a
			WHERE k.cycle_id = $1
		)
		SELECT CASE WHEN GROUPING(sex) = 0 THEN 'sex' WHEN GROUPING(age_band) = 0 THEN 'age_band'
		            WHEN GROUPING(nationality) = 0 THEN 'nationality' WHEN GROUPING(population_group) = 0 THEN 'population_group'
		            WHEN GROUPING(alcaldia) = 0 THEN 'alcaldia' WHEN GROUPING(outcome) = 0 THEN 'outcome' ELSE 'total' END,
		       coalesce(sex, age_band, nationality, population_group, alcaldia, outcome, ''),
		       count(*), count(*) FILTER (WHERE approved), count(*) FILTER (WHERE paid),
		       coalesce(sum(paid_amount), 0), count(*) FILTER (WHERE in_progress)
		FROM c
		GROUP BY GROUPING SETS ((), (sex), (age_band), (nationality), (population_group), (alcaldia), (outcome))`,
		cycleID, cycleDate)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (group, error) {
		var g group
		return g, r.Scan(&g.dim, &g.value, &g.enrolled, &g.approved, &g.paid, &g.amountPaid, &g.inProgress)
	})
}

func fillTotals(ctx context.Context, tx pgx.Tx, r *apoyo.CycleReport, groups []group) error {
	t := &r.Totals
	t.ByOutcome = map[string]int64{}
	t.AmountPaid, t.AmountReturned = decimal.Zero, decimal.Zero
	for _, g := range groups {
		switch g.dim {
		case "total":
			t.Enrolled, t.Approved, t.InProgress = g.enrolled, g.approved, g.inProgress
		case "outcome":
			t.ByOutcome[g.value] = g.enrolled
		}
	}
	t.IdentityRejected = t.ByOutcome[string(apoyo.OutcomeIdentityRejected)]
	t.IdentityReviewExpired = t.ByOutcome[string(apoyo.OutcomeIdentityExpired)]
	t.Ineligible = t.ByOutcome[string(apoyo.OutcomeIneligible)]
	t.ApprovalRejected = t.ByOutcome[string(apoyo.OutcomeApprovalRejected)]
	t.PaymentFailed = t.ByOutcome[string(apoyo.OutcomePaymentFailed)]
	t.Cancelled = t.ByOutcome[string(apoyo.OutcomeCancelled)]
	t.Completed = t.ByOutcome[string(apoyo.OutcomeCompleted)]
	// People, not orders: a person returned twice and then paid counts
	// once in each.
	return tx.QueryRow(ctx, `SELECT count(DISTINCT beneficiary_id) FILTER (WHERE state IN `+paidStates+`),
			count(*) FILTER (WHERE state IN `+returnedStates+`),
			count(DISTINCT beneficiary_id) FILTER (WHERE state IN `+returnedStates+`),
			count(DISTINCT beneficiary_id) FILTER (WHERE state IN `+paidStates+` AND attempt > 1),
			coalesce(sum(amount) FILTER (WHERE state IN `+paidStates+`), 0),
			coalesce(sum(amount) FILTER (WHERE state IN `+returnedStates+`), 0)
		FROM payments WHERE cycle_id = $1`, r.Cycle.ID).
		Scan(&t.Paid, &t.ReturnedPayments, &t.ReturnedPeople, &t.Repaid, &t.AmountPaid, &t.AmountReturned)
}

// ineligibleByRule counts ineligible cases per failed rule. A reason is
// "rule: detail; rule: detail" (workflows' ruleReason); only the part
// before ':' is kept, and only when it looks like a rule name, so no
// detail ("16 on the cycle date", "lives in …") can reach the report.
func ineligibleByRule(ctx context.Context, tx pgx.Tx, cycleID string, k int64) ([]apoyo.Breakdown, error) {
	rows, err := tx.Query(ctx, `SELECT f.rule, count(*)
		FROM cases k CROSS JOIN LATERAL (
			SELECT DISTINCT CASE WHEN r ~ '^[a-z][a-z0-9_]{0,39}$' THEN r ELSE 'other' END AS rule
			FROM unnest(CASE WHEN k.reason = '' THEN ARRAY[''] ELSE string_to_array(k.reason, ';') END) x,
			     LATERAL (SELECT btrim(split_part(x, ':', 1)) AS r) s
		) f
		WHERE k.cycle_id = $1 AND k.outcome = `+sqlText(apoyo.OutcomeIneligible)+`
		GROUP BY f.rule ORDER BY f.rule = 'other', f.rule`, cycleID)
	if err != nil {
		return nil, err
	}
	names, counts, err := collectCounts(rows)
	if err != nil {
		return nil, err
	}
	return breakdown(names, counts, k), nil
}

// rejectedBySecretariat counts approval rejections per secretariat, read
// from the reason the workflow writes ("rejected by SIBISO: …"); the
// approver's words after the colon are never read.
func rejectedBySecretariat(ctx context.Context, tx pgx.Tx, cycleID string, k int64) ([]apoyo.Breakdown, error) {
	rows, err := tx.Query(ctx, `SELECT coalesce(substring(reason FROM '^rejected by ([A-Z]+):'), ''), count(*)
		FROM cases WHERE cycle_id = $1 AND outcome = `+sqlText(apoyo.OutcomeApprovalRejected)+` GROUP BY 1`, cycleID)
	if err != nil {
		return nil, err
	}
	raw, counts, err := collectCounts(rows)
	if err != nil {
		return nil, err
	}
	// Every secretariat is listed, zeros included, so a table of one
	// cycle lines up with the next; unknown values go to "other".
	by := map[string]int64{}
	for i, s := range raw {
		if !apoyo.Secretariat(s).Valid() {
			s = "other"
		}
		by[s] += counts[i]
	}
	var names []string
	var vals []int64
	for _, s := range apoyo.Secretariats {
		names, vals = append(names, string(s)), append(vals, by[string(s)])
	}
	if by["other"] > 0 {
		names, vals = append(names, "other"), append(vals, by["other"])
	}
	return breakdown(names, vals, k), nil
}

func collectCounts(rows pgx.Rows) ([]string, []int64, error) {
	var names []string
	var counts []int64
	var name string
	var n int64
	_, err := pgx.ForEachRow(rows, []any{&name, &n}, func() error {
		names, counts = append(names, name), append(counts, n)
		return nil
	})
	return names, counts, err
}

// breakdown protects a one-column table of counts.
func breakdown(names []string, counts []int64, k int64) []apoyo.Breakdown {
	vals := make([][]int64, len(counts))
	for i, c := range counts {
		vals[i] = []int64{c}
	}
	hidden := protect(vals, k)
	out := make([]apoyo.Breakdown, len(names))
	for i, n := range names {
		out[i] = apoyo.Breakdown{Category: n, Count: count(counts[i], hidden[i][0], k)}
	}
	return out
}

// label is what may be said of a hidden value.
func label(v, k int64) string {
	if v < k {
		return "<" + strconv.FormatInt(k, 10)
	}
	return "x"
}

func count(v int64, hidden bool, k int64) apoyo.ReportCount {
	if hidden {
		return apoyo.ReportCount{Suppressed: true, Label: label(v, k)}
	}
	return apoyo.ReportCount{Value: v}
}

// funds sums the cycle's payment orders per fund and reads the cycle's
// ledger accounts. The ledger's balances come from its own query, so while
// a cycle runs they may be a moment newer than the payment counts.
func funds(ctx context.Context, tx pgx.Tx, l *ledger.Ledger, programID, cycleID string) ([]apoyo.FundLine, error) {
	byFund := map[string]*apoyo.FundLine{}
	var order []string
	line := func(ledgerFund string) *apoyo.FundLine {
		if f, ok := byFund[ledgerFund]; ok {
			return f
		}
		f := &apoyo.FundLine{Fund: strings.TrimPrefix(ledgerFund, programID+"."), LedgerFund: ledgerFund,
			AmountPaid: decimal.Zero, AmountReturned: decimal.Zero,
			Ledger: apoyo.CycleBalances{Committed: decimal.Zero, InTransit: decimal.Zero, Paid: decimal.Zero, Returned: decimal.Zero}}
		byFund[ledgerFund] = f
		order = append(order, ledgerFund)
		return f
	}
	// The programme's funds first, in its order, even those with nothing
	// in this cycle.
	rows, err := tx.Query(ctx, `SELECT f->>'code' FROM programs, jsonb_array_elements(config->'funds') WITH ORDINALITY AS t(f, n)
		WHERE id = $1 ORDER BY n`, programID)
	if err != nil {
		return nil, err
	}
	codes, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	for _, c := range codes {
		line(program.LedgerFund(programID, c))
	}
	known := len(order)

	rows, err = tx.Query(ctx, `SELECT fund,
			count(*) FILTER (WHERE state IN `+paidStates+`), coalesce(sum(amount) FILTER (WHERE state IN `+paidStates+`), 0),
			count(*) FILTER (WHERE state IN `+returnedStates+`), coalesce(sum(amount) FILTER (WHERE state IN `+returnedStates+`), 0)
		FROM payments WHERE cycle_id = $1 GROUP BY fund`, cycleID)
	if err != nil {
		return nil, err
	}
	var (
		fund                  string
		paidN, retN           int64
		paidAmount, retAmount decimal.Decimal
	)
	if _, err := pgx.ForEachRow(rows, []any{&fund, &paidN, &paidAmount, &retN, &retAmount}, func() error {
		f := line(fund)
		f.PaidPayments, f.AmountPaid, f.ReturnedPayments, f.AmountReturned = paidN, paidAmount, retN, retAmount
		return nil
	}); err != nil {
		return nil, err
	}

	prefix := program.CycleAccount(programID, cycleID, "")
	bals, err := l.Balances(ctx, apoyo.BalanceFilter{AccountPrefix: prefix})
	if err != nil {
		return nil, err
	}
	for _, b := range bals {
		f := line(b.Fund)
		switch strings.TrimPrefix(b.Account, prefix) {
		case program.CycleCommitted:
			f.Ledger.Committed = f.Ledger.Committed.Add(b.Balance)
		case program.CycleInTransit:
			f.Ledger.InTransit = f.Ledger.InTransit.Add(b.Balance)
		case program.CyclePaid:
			f.Ledger.Paid = f.Ledger.Paid.Add(b.Balance)
		case program.CycleReturned:
			f.Ledger.Returned = f.Ledger.Returned.Add(b.Balance)
		}
	}
	// Funds found only in the data (none, unless the programme's
	// definition lost one) follow in code order.
	sort.Strings(order[known:])
	out := make([]apoyo.FundLine, len(order))
	for i, f := range order {
		out[i] = *byFund[f]
	}
	return out, nil
}

// dimension describes how a dimension's stored values become categories.
type dimension struct {
	name   string
	query  string // the dimension's name in queryGroups
	fixed  []string
	lookup func(stored string) string // "" for OtherUnknown
}

var dimensionDefs = []dimension{
	{name: DimSex, query: "sex", fixed: []string{string(apoyo.SexMale), string(apoyo.SexFemale), string(apoyo.SexNonBinary)},
		lookup: func(s string) string { return ifValid(apoyo.Sex(s).Valid(), s) }},
	{name: DimAgeBand, query: "age_band", fixed: AgeBands,
		lookup: func(s string) string { return ifValid(slices.Contains(AgeBands, s), s) }},
	{name: DimNationalityRegion, query: "nationality", fixed: Regions, lookup: Region},
	{name: DimPopulationGroup, query: "population_group", fixed: populationGroups(),
		lookup: func(s string) string { return ifValid(apoyo.PopulationGroup(s).Valid(), s) }},
	{name: DimAlcaldia, query: "alcaldia", fixed: append(mxid.Alcaldias[:], OtherUnknown),
		lookup: func(s string) string { c, _ := mxid.CanonicalAlcaldia(s); return c }},
}

func ifValid(ok bool, s string) string {
	if ok {
		return s
	}
	return ""
}

func populationGroups() []string {
	out := make([]string, len(apoyo.PopulationGroups))
	for i, g := range apoyo.PopulationGroups {
		out[i] = string(g)
	}
	return out
}

// dimensions folds the aggregate rows into each dimension's categories (a
// stored value the dimension does not know counts as OtherUnknown, never
// under its own name) and protects each dimension's table.
func dimensions(groups []group, k int64) []apoyo.Dimension {
	out := make([]apoyo.Dimension, 0, len(dimensionDefs))
	for _, d := range dimensionDefs {
		cats := slices.Clone(d.fixed)
		idx := map[string]int{}
		for i, c := range cats {
			idx[c] = i
		}
		vals := make([][]int64, len(cats))
		amounts := make([]decimal.Decimal, len(cats))
		for _, g := range groups {
			if g.dim != d.query {
				continue
			}
			c := d.lookup(g.value)
			if c == "" {
				c = OtherUnknown
			}
			i, ok := idx[c]
			if !ok {
				i = len(cats)
				idx[c] = i
				cats = append(cats, c)
				vals = append(vals, nil)
				amounts = append(amounts, decimal.Zero)
			}
			if vals[i] == nil {
				vals[i] = make([]int64, 3)
			}
			vals[i][0] += g.enrolled
			vals[i][1] += g.approved
			vals[i][2] += g.paid
			amounts[i] = amounts[i].Add(g.amountPaid)
		}
		for i := range vals {
			if vals[i] == nil {
				vals[i] = make([]int64, 3)
			}
		}
		hidden := protect(vals, k)
		dim := apoyo.Dimension{Name: d.name, Categories: make([]apoyo.Category, len(cats))}
		for i, c := range cats {
			cat := apoyo.Category{Name: c,
				Enrolled:   count(vals[i][0], hidden[i][0], k),
				Approved:   count(vals[i][1], hidden[i][1], k),
				Paid:       count(vals[i][2], hidden[i][2], k),
				AmountPaid: apoyo.ReportAmount{Value: amounts[i]},
			}
			// The amount goes with the people paid: hidden with them. Its
			// label is "x", never "<K", which would read as pesos.
			if hidden[i][2] {
				cat.AmountPaid = apoyo.ReportAmount{Suppressed: true, Label: "x"}
			}
			dim.Categories[i] = cat
		}
		out = append(out, dim)
	}
	return out
}
