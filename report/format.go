package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/apoyo-cdmx/apoyo"
)

// CSVHeader is the header of WriteCSV's output.
var CSVHeader = []string{"dimension", "category", "enrolled", "approved", "paid", "amount_paid"}

// WriteCSV writes the disaggregation tables, one row per (dimension,
// category), after a first row "total,all" with the cycle's totals (never
// suppressed). A hidden cell is written as its label ("<5" or "x");
// amounts have two decimals.
func WriteCSV(w io.Writer, r apoyo.CycleReport) error {
	cw := csv.NewWriter(w)
	t := r.Totals
	rows := [][]string{CSVHeader, {"total", "all", itoa(t.Enrolled), itoa(t.Approved), itoa(t.Paid), t.AmountPaid.StringFixed(2)}}
	for _, d := range r.Dimensions {
		for _, c := range d.Categories {
			rows = append(rows, []string{d.Name, c.Name, c.Enrolled.String(), c.Approved.String(), c.Paid.String(), c.AmountPaid.String()})
		}
	}
	for _, row := range rows {
		for i, cell := range row {
			row[i] = NeutraliseFormula(cell)
		}
	}
	if err := cw.WriteAll(rows); err != nil {
		return err
	}
	return cw.Error()
}

// NeutraliseFormula makes a cell that a spreadsheet would run as a
// formula (it starts with =, +, -, @, a tab or a carriage return: a
// category named by a roster, say) plain text, by a leading apostrophe, as
// OWASP's CSV-injection advice says. Numbers are never negative here, so
// no number loses its sign.
func NeutraliseFormula(cell string) string {
	if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
		return "'" + cell
	}
	return cell
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// WriteText writes the report for people to read.
func WriteText(w io.Writer, r apoyo.CycleReport) error {
	c := r.Cycle
	fmt.Fprintf(w, "Cycle %s (%s) of programme %s, cycle date %s, status %s\n", c.ID, c.Name, c.ProgramID, c.CycleDate, c.Status)
	fmt.Fprintf(w, "Generated %s. Counts of 1-%d people are shown as <%d; x hides a larger cell (or an amount) so that\n",
		r.GeneratedAt.Format("2006-01-02 15:04 MST"), r.MinCell-1, r.MinCell)
	fmt.Fprintln(w, "a small one cannot be worked out from the totals. Totals are exact.")

	t := r.Totals
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nTOTALS\t")
	line := func(name string, v any) { fmt.Fprintf(tw, "  %s\t%v\n", name, v) }
	line("roster (programme)", t.Roster)
	line("enrolled (cases in cycle)", t.Enrolled)
	line("in progress", t.InProgress)
	line("identity rejected", t.IdentityRejected)
	line("identity review expired", t.IdentityReviewExpired)
	line("ineligible", t.Ineligible)
	for _, b := range r.IneligibleByRule {
		line("  rule "+b.Category, b.Count)
	}
	line("approval rejected", t.ApprovalRejected)
	for _, b := range r.ApprovalRejectedBySecretariat {
		line("  by "+b.Category, b.Count)
	}
	line("approved", t.Approved)
	line("paid (people)", t.Paid)
	line("returned (payments / people)", fmt.Sprintf("%d / %d", t.ReturnedPayments, t.ReturnedPeople))
	line("re-paid (paid on a later attempt)", t.Repaid)
	line("payment failed", t.PaymentFailed)
	line("cancelled", t.Cancelled)
	line("completed", t.Completed)
	line("amount paid", t.AmountPaid.StringFixed(2)+" "+r.Currency)
	line("amount returned", t.AmountReturned.StringFixed(2)+" "+r.Currency)
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintf(w, "\nFUNDS (%s)\n", r.Currency)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fw := 4
	for _, f := range r.Funds {
		fw = max(fw, utf8.RuneCountInString(f.Fund))
	}
	fmt.Fprintf(tw, "%-*s\tPAID\tAMOUNT PAID\tRETURNED\tAMOUNT RETURNED\tLEDGER: COMMITTED\tIN TRANSIT\tPAID\tRETURNED\t\n", fw, "FUND")
	for _, f := range r.Funds {
		fmt.Fprintf(tw, "%-*s\t%d\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t\n", fw, f.Fund, f.PaidPayments, f.AmountPaid.StringFixed(2),
			f.ReturnedPayments, f.AmountReturned.StringFixed(2), f.Ledger.Committed.StringFixed(2),
			f.Ledger.InTransit.StringFixed(2), f.Ledger.Paid.StringFixed(2), f.Ledger.Returned.StringFixed(2))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	for _, d := range r.Dimensions {
		fmt.Fprintf(w, "\nBY %s\n", d.Name)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
		// Names read left-aligned, numbers right-aligned: pad the names
		// ourselves, as tabwriter aligns every column the same way.
		nw := len("CATEGORY")
		for _, c := range d.Categories {
			nw = max(nw, utf8.RuneCountInString(c.Name))
		}
		fmt.Fprintf(tw, "%-*s\tENROLLED\tAPPROVED\tPAID\tAMOUNT PAID\t\n", nw, "CATEGORY")
		for _, c := range d.Categories {
			fmt.Fprintf(tw, "%-*s\t%s\t%s\t%s\t%s\t\n", nw, c.Name, c.Enrolled, c.Approved, c.Paid, c.AmountPaid)
		}
		fmt.Fprintf(tw, "%-*s\t%d\t%d\t%d\t%s\t\n", nw, "total", t.Enrolled, t.Approved, t.Paid, t.AmountPaid.StringFixed(2))
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}
