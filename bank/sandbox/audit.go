package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/apoyo-cdmx/apoyo"
)

// The bank's audit answers "who got money, and how often?" from the bank's
// own movements alone. apoyo's payments table cannot answer that: its
// unique index refuses a second paid row for one person in one cycle, so a
// count taken from it is 0 by construction even when the money left twice.
// Tests, the demo and the chaos run count double payments here instead.

// Payee is the bank's record of the money sent to one beneficiary in one
// cycle, over every order (attempt) of that pair.
type Payee struct {
	Cycle       string `json:"cycle"`
	Beneficiary string `json:"beneficiary"`
	// Orders is how many orders the bank accepted for the pair.
	Orders int `json:"orders"`
	// Paid counts the times money left: an SPEI transfer settled, a card
	// was loaded, a cash pickup was funded (the money is out of the
	// programme's account from then on, collected or not).
	Paid int `json:"paid"`
	// Returned counts the times money that had left came back: a return
	// after settlement, or an uncollected cash pickup that expired. An
	// order refused before it settled never left and counts in neither.
	Returned int `json:"returned"`
	// Net is Paid − Returned: 1 for a person paid once, more for a person
	// paid twice.
	Net int `json:"net"`
	// NetAmount is the money that left net of returns.
	NetAmount decimal.Decimal `json:"net_amount"`
}

// Audit is the bank's record per (cycle, beneficiary), net of returns.
type Audit struct {
	// Cycle is the cycle the audit was restricted to, "" for all.
	Cycle string `json:"cycle,omitempty"`
	// Orders is how many orders the audit covers.
	Orders int `json:"orders"`
	// Payees is one entry per (cycle, beneficiary) with at least one
	// order, sorted by cycle then beneficiary.
	Payees []Payee `json:"payees"`
	// PaidOnce and DoublePaid count payees whose Net is exactly 1 and more
	// than 1.
	PaidOnce   int `json:"paid_once"`
	DoublePaid int `json:"double_paid"`
	// NetAmount is the money that left, net of returns, over all payees.
	NetAmount decimal.Decimal `json:"net_amount"`
	// Unattributed lists orders (in the audited cycle, if any) whose id is
	// not an apoyo attempt's order id, "pay_<cycle>_<beneficiary>_<n>"
	// (program.Attempt.OrderID): money the audit cannot put on a person.
	Unattributed []string `json:"unattributed,omitempty"`
}

// Payee returns the record of one (cycle, beneficiary); the zero Payee
// (no order at all) if the bank never saw one.
func (a Audit) Payee(cycle, beneficiary string) Payee {
	for _, p := range a.Payees {
		if p.Cycle == cycle && p.Beneficiary == beneficiary {
			return p
		}
	}
	return Payee{Cycle: cycle, Beneficiary: beneficiary, NetAmount: decimal.Zero}
}

// MarshalJSON writes amounts with two decimals, like every amount on the
// wire.
func (p Payee) MarshalJSON() ([]byte, error) {
	type plain Payee
	return json.Marshal(struct {
		plain
		NetAmount string `json:"net_amount"`
	}{plain(p), p.NetAmount.StringFixed(2)})
}

// MarshalJSON writes amounts with two decimals.
func (a Audit) MarshalJSON() ([]byte, error) {
	type plain Audit
	return json.Marshal(struct {
		plain
		NetAmount string `json:"net_amount"`
	}{plain(a), a.NetAmount.StringFixed(2)})
}

// ParseOrderID splits an apoyo attempt's order id,
// "pay_<cycle>_<beneficiary>_<n>" (program.Attempt.OrderID), into its
// parts. Cycle and beneficiary ids may themselves contain '_' (cyc_…,
// ben_…), so the split is at "_ben_" when there is one, else at the only
// '_' left; cycle, when not empty, is the cycle the caller expects, which
// settles any other ambiguity. ok is false for any other id.
func ParseOrderID(orderID, cycle string) (cyc, beneficiary string, n int, ok bool) {
	rest, found := strings.CutPrefix(orderID, "pay_")
	if !found {
		return "", "", 0, false
	}
	i := strings.LastIndexByte(rest, '_')
	if i < 0 {
		return "", "", 0, false
	}
	n, err := strconv.Atoi(rest[i+1:])
	if err != nil || n < 1 || rest[i+1] == '+' {
		return "", "", 0, false
	}
	pair := rest[:i]
	switch {
	case cycle != "":
		b, found := strings.CutPrefix(pair, cycle+"_")
		if !found || b == "" {
			return "", "", 0, false
		}
		return cycle, b, n, true
	case strings.Contains(pair, "_ben_"):
		j := strings.Index(pair, "_ben_")
		return pair[:j], pair[j+1:], n, j > 0
	case strings.Count(pair, "_") == 1:
		j := strings.IndexByte(pair, '_')
		return pair[:j], pair[j+1:], n, j > 0 && j < len(pair)-1
	}
	return "", "", 0, false
}

// Audit returns the bank's record of money sent per (cycle, beneficiary),
// for one cycle or, with cycle "", for all. It counts movements, not order
// states, so an order that somehow settled twice counts twice.
func (b *Bank) Audit(cycle string) Audit {
	b.mu.Lock()
	defer b.mu.Unlock()
	_ = b.processLocked(false) // a failure is reported by the next write
	return audit(b.movements, cycle)
}

// audit folds movements (in Seq order) into an Audit.
func audit(movements []Movement, cycle string) Audit {
	type key struct{ cycle, beneficiary string }
	payees := map[key]*Payee{}
	keyOf := map[string]key{} // order id → payee
	out := map[string]int{}   // order id → times its money is out
	a := Audit{Cycle: cycle, NetAmount: decimal.Zero}
	for _, m := range movements {
		if m.Kind == MovementAccepted {
			c, ben, _, ok := ParseOrderID(m.OrderID, cycle)
			if !ok {
				if cycle == "" || strings.HasPrefix(m.OrderID, "pay_"+cycle+"_") {
					a.Unattributed = append(a.Unattributed, m.OrderID)
				}
				continue
			}
			k := key{c, ben}
			keyOf[m.OrderID] = k
			p := payees[k]
			if p == nil {
				p = &Payee{Cycle: c, Beneficiary: ben, NetAmount: decimal.Zero}
				payees[k] = p
			}
			p.Orders++
			a.Orders++
			continue
		}
		k, known := keyOf[m.OrderID]
		if !known {
			continue
		}
		p := payees[k]
		switch m.Kind {
		case MovementSettled:
			out[m.OrderID]++
			p.Paid++
			p.NetAmount = p.NetAmount.Add(m.Amount)
		case MovementReturned, MovementExpired:
			if out[m.OrderID] > 0 {
				out[m.OrderID]--
				p.Returned++
				p.NetAmount = p.NetAmount.Sub(m.Amount)
			}
		}
	}
	for _, p := range payees {
		p.Net = p.Paid - p.Returned
		switch {
		case p.Net == 1:
			a.PaidOnce++
		case p.Net > 1:
			a.DoublePaid++
		}
		a.NetAmount = a.NetAmount.Add(p.NetAmount)
		a.Payees = append(a.Payees, *p)
	}
	sort.Slice(a.Payees, func(i, j int) bool {
		if a.Payees[i].Cycle != a.Payees[j].Cycle {
			return a.Payees[i].Cycle < a.Payees[j].Cycle
		}
		return a.Payees[i].Beneficiary < a.Payees[j].Beneficiary
	})
	if a.Payees == nil {
		a.Payees = []Payee{}
	}
	return a
}

func (b *Bank) handleAudit(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, b.Audit(r.URL.Query().Get("cycle")))
}

// FetchAudit asks the sandbox bank at baseURL for its audit (GET
// /v1/audit?cycle=…), as the demo and the chaos run do over HTTP. hc nil
// means http.DefaultClient.
func FetchAudit(ctx context.Context, hc *http.Client, baseURL, cycle string) (Audit, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	u := strings.TrimSuffix(baseURL, "/") + "/v1/audit"
	if cycle != "" {
		u += "?cycle=" + url.QueryEscape(cycle)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Audit{}, apoyo.Errorf(apoyo.EINVALID, "sandbox.audit", "sandbox audit: %v", err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Audit{}, apoyo.Errorf(apoyo.EUNAVAILABLE, "sandbox.audit", "sandbox audit: %v", err).Wrap(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return Audit{}, apoyo.Errorf(apoyo.EUNAVAILABLE, "sandbox.audit", "sandbox audit: reading the answer: %v", err).Wrap(err)
	}
	if resp.StatusCode != http.StatusOK {
		return Audit{}, apoyo.Errorf(apoyo.EUNAVAILABLE, "sandbox.audit", "sandbox audit: HTTP %d", resp.StatusCode)
	}
	var a Audit
	if err := json.Unmarshal(body, &a); err != nil {
		return Audit{}, apoyo.Errorf(apoyo.EINTERNAL, "sandbox.audit", "sandbox audit: decoding the answer: %v", err).Wrap(err)
	}
	return a, nil
}

// String is a one-line summary for logs and test messages (opaque ids
// only).
func (a Audit) String() string {
	return fmt.Sprintf("orders %d, payees %d, paid once %d, double paid %d, net %s, unattributed %d",
		a.Orders, len(a.Payees), a.PaidOnce, a.DoublePaid, a.NetAmount.StringFixed(2), len(a.Unattributed))
}
