package reconcile

import (
	"bytes"
	"encoding/csv"
	"errors"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/payment"
)

// line is a statement line with its CSV row (header = 1).
type line struct {
	payment.StatementLine
	row int
}

// amountScale is the number of decimals statement amounts have.
const amountScale = 2

// parse reads and checks a whole statement. payment.ParseStatement checks
// the shape (header, field count, dates, amounts, states, times); parse adds
// what reconciliation relies on: keys present, amounts positive with two
// decimals, return lines in state D. The first problem is returned as
// payment.ErrBadStatement located at its row and field.
func parse(data []byte) ([]line, error) {
	sl, err := payment.ParseStatement(bytes.NewReader(data))
	if err != nil {
		return nil, locate(err, data)
	}
	out := make([]line, len(sl))
	for i, l := range sl {
		// ParseStatement numbers rows the same way: the header is row 1
		// and statement fields never span lines.
		row := i + 2
		switch {
		case l.TrackingKey == "":
			return nil, bad(row, "tracking_key", "tracking key is empty")
		case len(l.TrackingKey) > 30:
			return nil, bad(row, "tracking_key", "tracking key has %d characters; SPEI allows 30", len(l.TrackingKey))
		case l.OrderID == "":
			return nil, bad(row, "order_id", "order id is empty")
		case !l.Amount.IsPositive():
			return nil, bad(row, "amount", "amount %s must be greater than zero", l.Amount)
		case !l.Amount.Equal(l.Amount.Truncate(amountScale)):
			return nil, bad(row, "amount", "amount %s has more than %d decimals", l.Amount, amountScale)
		case l.IsReturn() && l.State != payment.SPEIReturned:
			return nil, bad(row, "state", "a return line (return_tracking_key set) must be in state D, not %s", l.State)
		case l.ReturnCause < 0:
			return nil, bad(row, "return_cause", "return cause %d is negative", l.ReturnCause)
		}
		out[i] = line{StatementLine: l, row: row}
	}
	return out, nil
}

func bad(row int, field, format string, args ...any) error {
	return payment.ErrBadStatement.With(format, args...).At(row, field)
}

// locate improves ParseStatement's errors where it cannot name a field: a
// row with too few fields, the usual sign of a truncated file, names the
// first missing column; an empty file says so.
func locate(err error, data []byte) error {
	var e *apoyo.Error
	if !errors.As(err, &e) {
		return err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return payment.ErrBadStatement.With("the statement is empty: no header row").At(1, "").Wrap(err)
	}
	if !errors.Is(err, csv.ErrFieldCount) || e.Row <= 0 {
		return err
	}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1
	var rec []string
	for i := 0; i < e.Row; i++ {
		if rec, err = cr.Read(); err != nil {
			return e
		}
	}
	want := len(payment.StatementHeader)
	if len(rec) < want {
		return payment.ErrBadStatement.With("row has %d of %d fields, from %s on missing: the file looks truncated",
			len(rec), want, payment.StatementHeader[len(rec)]).At(e.Row, payment.StatementHeader[len(rec)]).Wrap(e)
	}
	return payment.ErrBadStatement.With("row has %d fields, want %d", len(rec), want).At(e.Row, "").Wrap(e)
}
