package payment

import (
	"encoding/csv"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/internal/textcheck"
)

// StatementHeader is the header row of a daily settlement statement CSV, the
// bank's own account of what moved on one operation date. Reconciliation
// compares it with the ledger.
//
// The shape, one row per money movement as a bank report shows it:
//
//   - Order line (return_tracking_key empty): one per order processed on
//     that operation date. state LQ: the money left (SPEI settled, card
//     loaded, cash pickup funded). state D: a SPEI order the receiving bank
//     refused outright; the money left and its return line (same operation
//     date) brings it back. state CN: nothing moved (card load rejected,
//     order cancelled). An order line never changes after the fact: a return
//     that arrives days later is only a new return line.
//   - Return line (return_tracking_key set): one per return, on the
//     operation date the return arrived, state D, with return_cause (0 / ""
//     for an expired cash pickup, which has no SPEI cause) and returned_at.
//     tracking_key and order_id are those of the original order.
//
// All amounts are positive with two decimals; the direction follows from the
// line kind. So the day's net outflow is the sum of order lines in LQ or D
// minus the sum of return lines. Timestamps are RFC 3339 in UTC; empty when
// not applicable.
var StatementHeader = []string{
	"operation_date", "tracking_key", "order_id", "amount", "state",
	"return_tracking_key", "return_cause", "created_at", "settled_at", "returned_at",
}

// StatementLine is one row of a settlement statement; see StatementHeader.
type StatementLine struct {
	OperationDate     string
	TrackingKey       string
	OrderID           string
	Amount            decimal.Decimal
	State             string // LQ, D or CN
	ReturnTrackingKey string
	ReturnCause       int
	CreatedAt         time.Time
	SettledAt         time.Time // zero if the order never settled
	ReturnedAt        time.Time // zero if not returned
}

// IsReturn reports whether the line is a return (money coming back) rather
// than an order.
func (l StatementLine) IsReturn() bool { return l.ReturnTrackingKey != "" }

// StatementNetOutflow is the money that left the account according to
// lines: order lines in LQ or D minus return lines.
func StatementNetOutflow(lines []StatementLine) decimal.Decimal {
	net := decimal.Zero
	for _, l := range lines {
		switch {
		case l.IsReturn():
			net = net.Sub(l.Amount)
		case l.State == SPEISettled || l.State == SPEIReturned:
			net = net.Add(l.Amount)
		}
	}
	return net
}

// ErrBadStatement reports a statement that does not have the documented
// shape.
var ErrBadStatement = apoyo.Errorf(apoyo.EINVALID, "payment.bad_statement", "malformed settlement statement")

// WriteStatement writes lines as CSV with StatementHeader.
func WriteStatement(w io.Writer, lines []StatementLine) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(StatementHeader); err != nil {
		return err
	}
	for i, l := range lines {
		if !l.Amount.Equal(l.Amount.Round(2)) {
			// StringFixed would round it: the file would say another amount.
			return ErrBadStatement.With("line %d: amount has more than two decimals", i+1)
		}
		cause := ""
		if l.ReturnCause != 0 {
			cause = strconv.Itoa(l.ReturnCause)
		}
		if err := cw.Write([]string{
			l.OperationDate, l.TrackingKey, l.OrderID, l.Amount.StringFixed(2), l.State,
			l.ReturnTrackingKey, cause, formatTime(l.CreatedAt), formatTime(l.SettledAt), formatTime(l.ReturnedAt),
		}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// ParseStatement reads a statement written in the StatementHeader shape.
// Errors are EINVALID payment.bad_statement with the CSV row (the line the
// row starts on, header = 1) and column of the first problem. The file
// must be UTF-8 (a byte-order mark is dropped; Windows-1252 or UTF-16 is
// refused, see textcheck.RequireUTF8) and every field must pass
// textcheck.Check with textcheck.MaxStatementCell. Errors never quote a
// cell: a file that is not a statement may hold account numbers anywhere,
// and a headerless one has a movement on line 1.
func ParseStatement(r io.Reader) ([]StatementLine, error) {
	text, err := textcheck.RequireUTF8(r)
	if err != nil {
		msg := err.Error()
		var ae *apoyo.Error
		if errors.As(err, &ae) {
			msg = ae.Message
		}
		return nil, ErrBadStatement.With("%s", msg).At(1, "").Wrap(err)
	}
	cr := csv.NewReader(text)
	cr.FieldsPerRecord = len(StatementHeader)
	header, err := cr.Read()
	if err != nil {
		return nil, ErrBadStatement.With("reading header: %v", err).At(1, "").Wrap(err)
	}
	for i, h := range StatementHeader {
		if header[i] != h {
			if !slices.Contains(header, StatementHeader[0]) && !slices.Contains(header, StatementHeader[1]) {
				return nil, ErrBadStatement.With("the first row is not the statement header (%s)", strings.Join(StatementHeader, ",")).At(1, "")
			}
			return nil, ErrBadStatement.With("column %d of the header must be %q", i+1, h).At(1, h)
		}
	}
	var lines []StatementLine
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return lines, nil
		}
		if err != nil {
			row := 0
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				row = pe.StartLine
			}
			// csv errors name a line and column, never the text.
			return nil, ErrBadStatement.With("%v", err).At(row, "").Wrap(err)
		}
		row, _ := cr.FieldPos(0)
		for i, f := range rec {
			if terr := textcheck.Check(f, textcheck.MaxStatementCell); terr != nil {
				return nil, ErrBadStatement.With("%s", terr.Message).At(row, StatementHeader[i]).Wrap(terr)
			}
		}
		l := StatementLine{
			OperationDate: rec[0], TrackingKey: rec[1], OrderID: rec[2],
			State: rec[4], ReturnTrackingKey: rec[5],
		}
		// The parse errors of time, decimal and strconv quote the value,
		// so they are neither shown nor wrapped.
		fail := func(field, want string) error {
			return ErrBadStatement.With("%s must be %s", field, want).At(row, field)
		}
		if _, err := time.Parse(time.DateOnly, l.OperationDate); err != nil {
			return nil, fail("operation_date", "a date YYYY-MM-DD")
		}
		if l.Amount, err = decimal.NewFromString(rec[3]); err != nil {
			return nil, fail("amount", "an amount such as 5600.00")
		}
		switch l.State {
		case SPEISettled, SPEIReturned, SPEICancelled:
		default:
			return nil, fail("state", "LQ, D or CN")
		}
		if rec[6] != "" {
			if l.ReturnCause, err = strconv.Atoi(rec[6]); err != nil {
				return nil, fail("return_cause", "a whole number (the SPEI return cause)")
			}
		}
		for i, dst := range []*time.Time{&l.CreatedAt, &l.SettledAt, &l.ReturnedAt} {
			if *dst, err = parseTime(rec[7+i]); err != nil {
				return nil, fail(StatementHeader[7+i], "empty or an RFC 3339 time such as 2025-03-10T16:00:00Z")
			}
		}
		lines = append(lines, l)
	}
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}
