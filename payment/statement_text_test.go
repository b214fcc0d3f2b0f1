package payment_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/internal/textcheck"
	"github.com/apoyo-cdmx/apoyo/payment"
)

const stmtHeader = "operation_date,tracking_key,order_id,amount,state,return_tracking_key,return_cause,created_at,settled_at,returned_at\n"

// TestParseStatementRefusesBadText: a field with NUL, invalid UTF-8 or a
// control character, a field longer than any statement field, and a file
// in another encoding are refused with the row and column named, before
// anything reaches reconciliation's bookings.
func TestParseStatementRefusesBadText(t *testing.T) {
	t.Parallel()
	good := "2025-03-10,APOYOA,p1,5600.00,LQ,,,2025-03-10T16:00:00Z,2025-03-10T16:00:00Z,\n"
	tests := []struct {
		name  string
		src   string
		row   int
		field string
		want  string
	}{
		{"NUL in tracking key", stmtHeader + good + "2025-03-10,APO\x00YOB,p2,5600.00,LQ,,,,,\n", 3, "tracking_key", "text.control_character"},
		{"invalid UTF-8 in order id", stmtHeader + "2025-03-10,APOYOÑ,p\xff2,5600.00,LQ,,,,,\n", 2, "order_id", "text.invalid_utf8"},
		{"line break in a quoted field", stmtHeader + "2025-03-10,\"APO\nYOB\",p2,5600.00,LQ,,,,,\n", 2, "tracking_key", "text.control_character"},
		{"too long", stmtHeader + "2025-03-10," + strings.Repeat("A", 65) + ",p2,5600.00,LQ,,,,,\n", 2, "tracking_key", "text.too_long"},
		{"row after a blank line keeps its line number", stmtHeader + good + "\n2025-03-10,B,p2,5600.00,XX,,,,,\n", 4, "state", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := payment.ParseStatement(strings.NewReader(tc.src))
			require.ErrorIs(t, err, payment.ErrBadStatement)
			var ae *apoyo.Error
			require.ErrorAs(t, err, &ae)
			require.Equal(t, tc.row, ae.Row)
			require.Equal(t, tc.field, ae.Field)
			if tc.want != "" {
				require.Equal(t, tc.want, apoyo.ErrorReasonOf(ae.Err))
			}
		})
	}

	_, err := payment.ParseStatement(bytes.NewReader([]byte(stmtHeader + "2025-03-10,PE\xd1A,p2,5600.00,LQ,,,,,\n")))
	require.ErrorIs(t, err, payment.ErrBadStatement)
	require.ErrorIs(t, err, textcheck.ErrEncoding)
	require.Contains(t, err.Error(), "Windows-1252")

	_, err = payment.ParseStatement(strings.NewReader("\ufeff" + stmtHeader + good))
	require.NoError(t, err, "a UTF-8 byte-order mark is dropped")
}

// TestParseStatementEchoesNoValues: a statement without its header, or
// with an account number where a date or amount belongs, is refused
// without quoting the cell.
func TestParseStatementEchoesNoValues(t *testing.T) {
	t.Parallel()
	const clabe = "032180000118359719"
	for _, src := range []string{
		"2025-03-10,APOYOA," + clabe + ",5600.00,LQ,,,,,\n",              // no header
		stmtHeader + clabe + ",APOYOA,p1,5600.00,LQ,,,,,\n",              // operation_date
		stmtHeader + "2025-03-10,APOYOA,p1," + clabe + "x,LQ,,,,,\n",     // amount
		stmtHeader + "2025-03-10,APOYOA,p1,5600.00," + clabe + ",,,,,\n", // state
		stmtHeader + "2025-03-10,APOYOA,p1,5600.00,D,,x" + clabe + ",,,\n",
		stmtHeader + "2025-03-10,APOYOA,p1,5600.00,LQ,,," + clabe + ",,\n",
	} {
		_, err := payment.ParseStatement(strings.NewReader(src))
		require.ErrorIs(t, err, payment.ErrBadStatement, src)
		require.NotContains(t, err.Error(), clabe)
		require.NotContains(t, err.Error(), clabe[:10])
	}
}

// TestWriteStatementRefusesAmountsItWouldRound: the file says two
// decimals, so an amount with more is refused instead of being rounded
// into another amount.
func TestWriteStatementRefusesAmountsItWouldRound(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	err := payment.WriteStatement(&buf, []payment.StatementLine{{OperationDate: "2025-03-10", TrackingKey: "A", OrderID: "p1",
		Amount: decimal.RequireFromString("5600.005"), State: payment.SPEISettled, CreatedAt: time.Now()}})
	require.ErrorIs(t, err, payment.ErrBadStatement)
}
