package payment_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/internal/textcheck"
	"github.com/apoyo-cdmx/apoyo/payment"
)

// FuzzParseStatement: whatever the bytes, ParseStatement either refuses
// them with payment.bad_statement at a row (the header is row 1) or
// returns lines whose every text field passes textcheck; and the lines it
// returns survive WriteStatement and a second parse unchanged.
func FuzzParseStatement(f *testing.F) {
	f.Add([]byte(stmtHeader + "2025-03-10,APOYOA,p1,5600.00,LQ,,,2025-03-10T16:00:00Z,2025-03-10T16:00:00Z,\n"))
	f.Add([]byte(stmtHeader + "2025-03-10,APOYOB,p2,5600,D,DEV1,1,2025-03-10T16:00:00Z,,2025-03-11T09:30:00.5-06:00\n"))
	f.Add([]byte(stmtHeader + "2025-03-10,APOYOC,p3,1.5,CN,,,,,\n\n"))
	f.Add([]byte("\ufeff" + stmtHeader))
	f.Add([]byte(stmtHeader + "2025-03-10,\"A,\"\"B\",p4,5600.00,LQ,,,,,\n"))
	f.Add([]byte(stmtHeader + "2025-03-10,APO\x00,p5,5600.00,LQ,,,,,\n"))
	f.Add([]byte("2025-03-10,APOYOA,032180000118359719,5600.00,LQ,,,,,\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lines, err := payment.ParseStatement(bytes.NewReader(data))
		if err != nil {
			var ae *apoyo.Error
			if !errors.As(err, &ae) || !errors.Is(err, payment.ErrBadStatement) || ae.Code != apoyo.EINVALID {
				t.Fatalf("error %v is not payment.bad_statement", err)
			}
			if ae.Row < 0 {
				t.Fatalf("error %v has row %d", err, ae.Row)
			}
			return
		}
		for i, l := range lines {
			for _, s := range []string{l.OperationDate, l.TrackingKey, l.OrderID, l.State, l.ReturnTrackingKey} {
				if !textcheck.Valid(s, textcheck.MaxStatementCell) {
					t.Fatalf("line %d holds invalid text %q", i, s)
				}
			}
		}
		var buf bytes.Buffer
		if err := payment.WriteStatement(&buf, lines); err != nil {
			if errors.Is(err, payment.ErrBadStatement) {
				return // more than two decimals: refused, not rounded
			}
			t.Fatalf("writing parsed lines: %v", err)
		}
		again, err := payment.ParseStatement(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatalf("re-parsing written lines: %v\n%s", err, buf.String())
		}
		if len(again) != len(lines) {
			t.Fatalf("%d lines became %d", len(lines), len(again))
		}
		for i := range lines {
			a, b := lines[i], again[i]
			if a.OperationDate != b.OperationDate || a.TrackingKey != b.TrackingKey || a.OrderID != b.OrderID ||
				a.State != b.State || a.ReturnTrackingKey != b.ReturnTrackingKey || a.ReturnCause != b.ReturnCause ||
				!a.Amount.Equal(b.Amount) || !a.CreatedAt.Equal(b.CreatedAt) || !a.SettledAt.Equal(b.SettledAt) || !a.ReturnedAt.Equal(b.ReturnedAt) {
				t.Fatalf("line %d changed in a round trip:\n%+v\n%+v", i, a, b)
			}
		}
	})
}
