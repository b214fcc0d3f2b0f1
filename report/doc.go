// Package report computes the evidence the city publishes about a payment
// cycle: how many people were enrolled, rejected (and at which step, for
// which rule or by which secretariat), approved, paid and returned, the
// money paid and returned per fund next to the cycle's ledger balances, and
// the same people disaggregated by sex, age band, nationality region,
// population group and alcaldía.
//
// Everything is counted by PostgreSQL with GROUP BY over the cycle's cases,
// payments and the beneficiaries' plain columns (birth date, sex,
// nationality, population group, alcaldía), in one read-only snapshot; no
// encrypted column is read and no row about a person reaches Go, so a
// cycle of millions costs a few scans. A report holds no person's id, and
// of the free-text reasons it keeps only rule names and secretariats.
//
// # Small cells
//
// A published table of a few hundred people can single someone out ("the
// one person from Oceania in Milpa Alta was refused"), so every count that
// describes a group of people — a category of a dimension, a failed rule,
// a rejecting secretariat — is protected with a threshold K (Options.MinCell,
// default 5):
//
//   - Primary suppression: a count from 1 to K−1 is hidden. 0 is shown: it
//     says nothing about anyone.
//   - Within a row, a hidden count hides the measures after it (approved,
//     paid, amount paid), because each counts a subset of the one before and,
//     shown, would bound it from below.
//   - Complementary suppression: each measure of a dimension adds up to a
//     published total, so one hidden cell equals the total minus the others.
//     Whenever a hidden small count of a column could be worked out that
//     way — always when it is the only hidden cell, but also when, say, two
//     hidden cells labelled "<5" add up to 8, or when the shown enrolled
//     count of a row pins its hidden approved count — the smallest cell
//     still shown in the column (a 0 if there is one; ties go to the first
//     category) is hidden too, and so on until none can.
//   - An amount is hidden when the count of people paid beside it is (it is
//     that count times the benefit).
//   - Totals (the whole cycle, each fund's money, the ledger balances) are
//     never hidden; the totals row of every table is exact.
//
// A hidden cell carries a label that is always true: "<K" when its value is
// below K (a hidden 0 included), "x" when it is K or more (a complementary
// cell) and for every hidden amount. In JSON a hidden cell is
// {"value": null, "suppressed": true, "label": "<5"}; its true value never
// leaves this package. This is the usual primary-plus-complementary scheme,
// checked column by column against each column's total and each row's
// shown counts; it does not search every linear combination across tables
// the way dedicated disclosure-control software does.
//
// # JSON
//
// CycleReport's JSON is the stable form:
//
//	{
//	  "cycle": {"id", "program_id", "name", "period", "cycle_date", "status"},
//	  "generated_at": "…", "currency": "MXN", "min_cell": 5,
//	  "totals": {"roster", "enrolled", "in_progress", "identity_rejected",
//	             "identity_review_expired", "ineligible", "approval_rejected",
//	             "approved", "paid", "returned_payments", "returned_people",
//	             "repaid", "payment_failed", "cancelled", "completed",
//	             "by_outcome": {outcome: n}, "amount_paid", "amount_returned"},
//	  "ineligible_by_rule": [{"category": "age", "count": CELL}],
//	  "approval_rejected_by_secretariat": [{"category": "SIBISO", "count": CELL}],
//	  "funds": [{"fund", "ledger_fund", "paid_payments", "amount_paid",
//	             "returned_payments", "amount_returned",
//	             "ledger": {"committed", "in_transit", "paid", "returned"}}],
//	  "dimensions": [{"dimension": "sex", "categories": [
//	      {"category": "M", "enrolled": CELL, "approved": CELL, "paid": CELL, "amount_paid": CELL}]}]
//	}
//
// where CELL is {"value": 12} or the hidden form above, and amounts are
// decimal strings. Dimensions come in the order sex, age_band,
// nationality_region, population_group, alcaldia, each with all its
// categories (zeros included) in a fixed order; a stored value a dimension
// does not know is counted under "Other/unknown", never under its own name.
package report
