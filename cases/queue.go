package cases

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/mxid"
)

// ErrQueueInvalid: a queue filter the queue cannot take; Field names it.
var ErrQueueInvalid = apoyo.Errorf(apoyo.EINVALID, "queue.invalid", "invalid queue filter")

// Queue returns a page of the stuck-case queue: open tasks matching f,
// oldest (lowest id) first, after the task id f.After, with where their
// cases stand. It is one statement whose filters are on case_tasks' own
// columns, each answered by a partial index of the open tasks ordered by
// id (migration 015), and which joins cases by primary key only for the
// page's rows. It reads ids and categories only: no personal data.
// Errors: ErrQueueInvalid, with Field set to the filter's JSON name.
func (s *Store) Queue(ctx context.Context, f apoyo.QueueFilter) (apoyo.QueuePage, error) {
	f, err := checkQueueFilter(f)
	if err != nil {
		return apoyo.QueuePage{}, err
	}
	sql, args := queueStatement(f)
	rows, err := s.pool.Query(ctx, sql, append([]any{customPlans}, args...)...)
	if err != nil {
		return apoyo.QueuePage{}, err
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (apoyo.QueueItem, error) {
		var it apoyo.QueueItem
		err := r.Scan(&it.TaskID, &it.Kind, &it.Detail, &it.CaseID, &it.ProgramID, &it.CycleID, &it.BeneficiaryID, &it.Step, &it.Status,
			&it.Secretariat, &it.Alcaldia, &it.Since)
		return it, err
	})
	if err != nil {
		return apoyo.QueuePage{}, err
	}
	page := apoyo.QueuePage{Items: items}
	if len(items) > f.Limit {
		page.Items = items[:f.Limit]
		page.Next = page.Items[f.Limit-1].TaskID
	}
	if page.Items == nil {
		page.Items = []apoyo.QueueItem{}
	}
	return page, nil
}

// queueStatement is the statement of a page of the queue for a checked
// filter, and its arguments: only the filters that are set are in it.
//
// With a column filter set, the page must be read from that column's
// index (migration 015), which holds exactly its matches in id order.
// PostgreSQL cannot see that a value's open tasks cluster in a range of
// ids (an old cycle's last notices are among the lowest), so, given a
// plain "col = value ORDER BY id", it may walk the index of every open
// task, or the primary key, in id order, expecting to meet the value
// soon, and read every open task after the cursor instead (measured: the
// last page of an old cycle's 300 tasks read 9,500 index entries). So
// the statement leads with one filtered column, written col = ANY(ARRAY
// [value]) and ordered by (col, id): the same rows in the same order, as
// col is one value, but an order only an index beginning with col gives
// without sorting every match. (Written col = value, the planner would
// drop col from the order as a constant.) The lead is the first set of
// cycle, alcaldía, kind, step, secretariat, the usually most selective
// first; the planner may still read another filtered column's index and
// sort its few matches.
func queueStatement(f apoyo.QueueFilter) (string, []any) {
	var w where
	w.add("t.resolved_at IS NULL")
	w.add("t.id > %s", f.After)
	order := "t.id"
	for _, c := range []struct{ col, val string }{
		{"cycle_id", f.CycleID}, {"alcaldia", f.Alcaldia}, {"kind", string(f.Kind)}, {"step", string(f.Step)},
		{"secretariat", string(f.Secretariat)},
	} {
		switch {
		case c.val == "":
		case order == "t.id":
			w.add("t."+c.col+" = ANY(%s::text[])", []string{c.val})
			order = "t." + c.col + ", t.id"
		default:
			w.add("t."+c.col+" = %s", c.val)
		}
	}
	if f.CaseID != "" {
		// A case has a task or two: the open tasks' (case_id, kind) index
		// finds them whatever the lead column.
		w.add("t.case_id = %s", f.CaseID)
	}
	if !f.OpenBefore.IsZero() {
		w.add("t.created_at < %s", f.OpenBefore)
	}
	// One row more than the page tells whether there is a next page.
	return `SELECT t.id, t.kind, t.detail, t.case_id, c.program_id, t.cycle_id, c.beneficiary_id, t.step, c.status,
			t.secretariat, t.alcaldia, t.created_at
		FROM case_tasks t JOIN cases c ON c.id = t.case_id
		WHERE ` + w.String() + ` ORDER BY ` + order + ` LIMIT ` + w.arg(f.Limit+1), w.args
}

// checkQueueFilter refuses a filter naming a step, kind, secretariat or
// alcaldía apoyo does not know, or a page out of range, and returns it
// with its alcaldía in canonical form ("GAM" finds Gustavo A. Madero) and
// its limit defaulted.
func checkQueueFilter(f apoyo.QueueFilter) (apoyo.QueueFilter, error) {
	bad := func(field, format string, args ...any) error {
		return ErrQueueInvalid.With(format, args...).At(0, field)
	}
	if f.CaseID != "" {
		if _, _, err := apoyo.ParseCaseID(f.CaseID); err != nil {
			return f, bad("case_id", "case id %q: expected case/<cycle>/<beneficiary>", f.CaseID)
		}
	}
	if f.Step != "" && !f.Step.Valid() {
		return f, bad("step", "step %q: use one of %s", f.Step, join(apoyo.Steps))
	}
	if f.Kind != "" && !f.Kind.Valid() {
		return f, bad("kind", "task kind %q: use one of %s", f.Kind, join(apoyo.TaskKinds))
	}
	if f.Secretariat != "" && !f.Secretariat.Valid() {
		return f, bad("secretariat", "secretariat %q: use one of %s", f.Secretariat, join(apoyo.Secretariats))
	}
	if f.Alcaldia != "" {
		a, ok := mxid.CanonicalAlcaldia(f.Alcaldia)
		if !ok {
			return f, bad("alcaldia", "alcaldía %q is not one of Mexico City's 16 (e.g. %q)", f.Alcaldia, mxid.Alcaldias[0])
		}
		f.Alcaldia = a
	}
	if f.After < 0 {
		return f, bad("after", "after %d: a task id from a page's next, or 0 for the first page", f.After)
	}
	switch {
	case f.Limit == 0:
		f.Limit = apoyo.DefaultQueueLimit
	case f.Limit < 0 || f.Limit > apoyo.MaxQueueLimit:
		return f, bad("limit", "limit %d: from 1 to %d (0: %d)", f.Limit, apoyo.MaxQueueLimit, apoyo.DefaultQueueLimit)
	}
	return f, nil
}

func join[T ~string](vs []T) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

// customPlans runs a statement unnamed, with its description cached:
// PostgreSQL then plans every execution for its values. A prepared
// statement, pgx's default, is planned generically after five runs, and a
// generic plan cannot tell a filter's rare value (a cycle with a handful
// of open tasks) from a common one: it would walk every open task in id
// order to fill a page of the rare one.
const customPlans = pgx.QueryExecModeCacheDescribe

// where builds a WHERE clause of the filters that are set, with their
// values as parameters. A statement holds only the predicates it needs,
// so PostgreSQL plans each combination of filters for itself: with an
// "unset or equal" test in one fixed statement, the generic plan pgx's
// cached statements come to use cannot pick the filter's index.
type where struct {
	conds []string
	args  []any
}

// add appends a condition; each %s in it is replaced by a parameter
// holding the next of vals.
func (w *where) add(cond string, vals ...any) {
	params := make([]any, len(vals))
	for i, v := range vals {
		params[i] = w.arg(v)
	}
	w.conds = append(w.conds, fmt.Sprintf(cond, params...))
}

// arg adds a parameter and returns its placeholder.
func (w *where) arg(v any) string {
	w.args = append(w.args, v)
	return "$" + strconv.Itoa(len(w.args))
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return "true"
	}
	return strings.Join(w.conds, " AND ")
}
