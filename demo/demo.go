// Package demo runs a whole payment cycle end to end on a running stack,
// playing every person involved: it creates a programme, enrols synthetic
// people, launches a cycle, approves as the three secretariats through the
// real approval path, checks documents, collects cash pickups, puts new
// instruments on file for returned payments, records referral outcomes,
// reconciles the bank's statements and verifies the ledger. `apoyo demo`
// and `apoyo bench cycle` drive it.
package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/shopspring/decimal"
	"golang.org/x/sync/errgroup"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/app"
	"github.com/apoyo-cdmx/apoyo/bank/sandbox"
	"github.com/apoyo-cdmx/apoyo/cases"
	"github.com/apoyo-cdmx/apoyo/mxid"
	"github.com/apoyo-cdmx/apoyo/program"
)

// Deps is the running stack the demo drives.
type Deps struct {
	// App is the application layer (app.New): every action of the demo
	// goes through it, as one of the Cast's named users, so it is
	// authorized and audited like anyone's.
	App apoyo.Service
	// Cases is read, never written, to tally what happened (the payments
	// a cycle made, which the bank's own record is checked against).
	Cases   *cases.Store
	BankURL string
}

// Cast is the people the demo plays, each a user of apoyo with one role.
type Cast struct {
	Manager, Caseworker, Auditor apoyo.Identity
	Approvers                    map[apoyo.Secretariat]apoyo.Identity
}

// CastNames are the users EnsureCast creates (approvers as demo.<secretariat>).
var CastNames = struct{ Manager, Caseworker, Auditor string }{"demo.manager", "demo.caseworker", "demo.auditor"}

// EnsureCast finds the demo's users, creating those that are missing as
// apoyo itself (apoyo.System("demo")): a programme manager, a caseworker,
// an auditor and one approver per secretariat.
func EnsureCast(ctx context.Context, a apoyo.Service) (Cast, error) {
	want := []apoyo.NewUser{
		{Name: CastNames.Manager, Role: apoyo.RoleProgramManager},
		{Name: CastNames.Caseworker, Role: apoyo.RoleCaseworker},
		{Name: CastNames.Auditor, Role: apoyo.RoleAuditor},
	}
	for _, s := range apoyo.Secretariats {
		want = append(want, apoyo.NewUser{Name: "demo." + strings.ToLower(string(s)), Role: apoyo.RoleApprover, Secretariat: s})
	}
	users, err := app.EnsureUsers(ctx, a, apoyo.System("demo"), want)
	if err != nil {
		return Cast{}, err
	}
	as := func(name string) apoyo.Identity { return users[name].Identity("demo", "") }
	c := Cast{Manager: as(CastNames.Manager), Caseworker: as(CastNames.Caseworker), Auditor: as(CastNames.Auditor),
		Approvers: map[apoyo.Secretariat]apoyo.Identity{}}
	for _, s := range apoyo.Secretariats {
		c.Approvers[s] = as("demo." + strings.ToLower(string(s)))
	}
	return c, nil
}

// Options shape a run.
type Options struct {
	Beneficiaries int
	Seed          uint64
	// Progress, when set, is told how many cases have finished of how many.
	Progress func(done, total int)
	// CycleClosed, when set, is called once the cycle has closed, before
	// the tally, reconciliation and ledger check (a benchmark's profile
	// stops there).
	CycleClosed func()
	// People overrides the generated roster (benchmarks).
	People []Person
	// MaxActive bounds unfinished cases of the cycle (0: none).
	MaxActive int
	Timeout   time.Duration
}

// Summary is what a run did. PaidTwice, BankPaid and BankAmountSent come
// from the bank's own record (its audit, net of returns), not from apoyo's
// payments table, whose unique index would make a count of double
// payments 0 by construction: people paid more than once, people paid at
// all, and the money that left; the last two equal Paid and
// AmountDisbursed when the books and the bank agree.
type Summary struct {
	ProgramID         string  `json:"program_id"`
	CycleID           string  `json:"cycle_id"`
	Enrolled          int     `json:"enrolled"`
	Rejected          int     `json:"rejected"`
	Duplicates        int     `json:"duplicates"`
	IdentityReviewed  int     `json:"identity_reviewed"`
	Ineligible        int     `json:"ineligible"`
	Approved          int     `json:"approved"`
	Paid              int     `json:"paid"`
	Returned          int     `json:"returned"`
	Repaid            int     `json:"repaid"`
	PaidTwice         int     `json:"paid_twice"`
	BankPaid          int     `json:"bank_paid"`
	AmountDisbursed   string  `json:"amount_disbursed"`
	BankAmountSent    string  `json:"bank_amount_sent"`
	ReferralsClosed   int     `json:"referrals_closed"`
	LedgerVerified    bool    `json:"ledger_verified"`
	Statements        int     `json:"statements_reconciled"`
	Unmatched         int     `json:"unmatched"`
	ReconcilePosted   int     `json:"reconcile_posted"`
	SecondRunPosted   int     `json:"reconcile_second_run_posted"`
	Seconds           float64 `json:"seconds"`
	BeneficiariesPerS float64 `json:"beneficiaries_per_second"`
	// CycleSeconds is from launch to the cycle's close.
	CycleSeconds float64 `json:"cycle_seconds"`
}

// Run plays one whole cycle.
func Run(ctx context.Context, d Deps, o Options) (Summary, error) {
	start := time.Now()
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	var sum Summary
	people := o.People
	if people == nil {
		people = GeneratePeople(o.Beneficiaries, o.Seed, time.Now().UTC())
	}
	n := 0
	for _, p := range people {
		if !p.Invalid && !p.Duplicate {
			n++
		}
	}

	cast, err := EnsureCast(ctx, d.App)
	if err != nil {
		return sum, err
	}
	// A programme whose budget covers the cycle with room to spare.
	budget := apoyo.DefaultBenefitAmount.Mul(decimal.NewFromInt(int64(n)*3/2 + 10))
	spec := apoyo.ProgramSpec{Name: fmt.Sprintf("Demo %s", time.Now().UTC().Format("2006-01-02 15:04:05.000")), Funds: program.DefaultFunds(budget)}
	prog, err := d.App.CreateProgram(ctx, cast.Manager, spec)
	if err != nil {
		return sum, err
	}
	sum.ProgramID = prog.ID

	var csvBuf bytes.Buffer
	if err := WriteCSV(&csvBuf, people); err != nil {
		return sum, err
	}
	rep, err := d.App.ImportRoster(ctx, cast.Manager, prog.ID, &csvBuf, apoyo.ImportOptions{})
	if err != nil {
		return sum, err
	}
	sum.Enrolled, sum.Rejected, sum.Duplicates = rep.Accepted, rep.Rejected, rep.Duplicates

	launchAt := time.Now()
	launch, err := d.App.LaunchCycle(ctx, cast.Manager, apoyo.LaunchRequest{ProgramID: prog.ID, Period: time.Now().UTC().Format("2006-01"),
		CycleDate: time.Now().UTC().Truncate(24 * time.Hour), MaxActive: o.MaxActive})
	if err != nil {
		return sum, err
	}
	sum.CycleID = launch.Cycle.ID
	r := rand.New(rand.NewPCG(o.Seed+1, 99))
	var p apoyo.CycleProgress
	for {
		latest, err := d.App.CycleStatus(ctx, cast.Manager, launch.Cycle.ID)
		switch {
		case err == nil:
			p = latest.Progress
		case ctx.Err() != nil:
			return sum, fmt.Errorf("demo: cycle %s did not finish: %w", launch.Cycle.ID, ctx.Err())
		default:
			// Not started yet, or the server too busy to answer a query in
			// time (a large cycle starting): keep the last answer, ask again.
		}
		if o.Progress != nil {
			o.Progress(p.Done, launch.Cases)
		}
		if p.Closed {
			break
		}
		acted, err := playPeople(ctx, d, cast, launch.Cycle.ID, r, &sum)
		if err != nil {
			return sum, err
		}
		if !acted {
			select {
			case <-ctx.Done():
				return sum, fmt.Errorf("demo: cycle %s did not finish: %w", launch.Cycle.ID, ctx.Err())
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	sum.CycleSeconds = time.Since(launchAt).Seconds()
	if o.CycleClosed != nil {
		o.CycleClosed()
	}

	if err := tally(ctx, d, launch.Cycle.ID, &sum); err != nil {
		return sum, err
	}
	if err := reconcileAll(ctx, d, cast, launch.Cycle.ID, &sum); err != nil {
		return sum, err
	}
	vr, err := d.App.VerifyLedger(ctx, cast.Auditor, apoyo.LedgerVerifyOptions{Full: true})
	if err != nil {
		return sum, err
	}
	sum.LedgerVerified = vr.OK
	sum.Seconds = time.Since(start).Seconds()
	if sum.CycleSeconds > 0 {
		sum.BeneficiariesPerS = float64(sum.Paid) / sum.CycleSeconds
	}
	return sum, nil
}

// playPeople does one round of everybody's work; acted says whether
// anything was done (else the caller waits a little).
func playPeople(ctx context.Context, d Deps, cast Cast, cycleID string, r *rand.Rand, sum *Summary) (bool, error) {
	var mu sync.Mutex // guards acted, sum and r across concurrent caseworkers
	acted := false
	cw := cast.Caseworker
	// Caseworkers check documents under review.
	err := eachCase(ctx, d, cw, apoyo.CaseFilter{CycleID: cycleID, Step: apoyo.StepIdentity, WaitingOn: apoyo.WaitingOnCaseworker}, func(c apoyo.Case) error {
		if _, err := d.App.DecideIdentity(ctx, cw, c.CaseID, apoyo.IdentityDecision{Decision: apoyo.DecisionVerified, Reason: "document checked in person"}); err == nil {
			mu.Lock()
			sum.IdentityReviewed++
			acted = true
			mu.Unlock()
		}
		return nil
	})
	// Each person's work goes on when another's fails (each failure is
	// returned, joined): an approver's error that comes back every round
	// must not keep caseworkers from their tasks.
	errs := []error{err}
	// The three secretariats each sign the list of cases waiting for
	// them: the list they were shown, by its hash.
	for _, s := range apoyo.Secretariats {
		approver := cast.Approvers[s]
		list, err := d.App.PendingRoster(ctx, approver, cycleID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if list.Size == 0 {
			continue
		}
		res, err := d.App.ApproveRoster(ctx, approver, cycleID, list.Hash)
		if errors.Is(err, cases.ErrListChanged) {
			continue // a case arrived meanwhile: the next round shows the new list
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		acted = acted || res.Voted > 0
	}
	if ctx.Err() != nil {
		return acted, ctx.Err()
	}
	// Returned payments: a caseworker puts a new CLABE on file.
	err = eachCase(ctx, d, cw, apoyo.CaseFilter{CycleID: cycleID, Step: apoyo.StepPayment, WaitingOn: apoyo.WaitingOnCaseworker}, func(c apoyo.Case) error {
		mu.Lock()
		clabe := mxid.GenerateCLABE(r, "072")
		mu.Unlock()
		if _, err := d.App.SetPaymentInstrument(ctx, cw, c.CaseID, apoyo.InstrumentRequest{Method: apoyo.RailSPEI, CLABE: clabe}); err == nil {
			mu.Lock()
			acted = true
			mu.Unlock()
		}
		return nil
	})
	errs = append(errs, err)
	// People collect their cash at the branch.
	pickups, err := d.Cases.PaymentsIn(ctx, cycleID, string(apoyo.RailCashPickup), string(apoyo.PaymentPending))
	errs = append(errs, err)
	for _, p := range pickups {
		resp, err := http.Post(d.BankURL+"/v1/cash/"+p.OrderID+"/collect", "application/json", nil)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			acted = acted || resp.StatusCode/100 == 2
		}
	}
	// Referrals: the services report that people attended.
	err = eachCase(ctx, d, cw, apoyo.CaseFilter{CycleID: cycleID, Step: apoyo.StepReferrals}, func(c apoyo.Case) error {
		detail, err := d.App.Case(ctx, cw, c.CaseID)
		if err != nil {
			return nil
		}
		for _, ref := range detail.State.Referrals {
			if ref.Outcome != "" {
				continue
			}
			mu.Lock()
			outcome := []apoyo.ReferralOutcome{apoyo.ReferralAttended, apoyo.ReferralAttended, apoyo.ReferralAttended, apoyo.ReferralNotAttended, apoyo.ReferralDeclined}[r.IntN(5)]
			mu.Unlock()
			if _, err := d.App.RecordReferralOutcome(ctx, cw, c.CaseID, apoyo.ReferralOutcomeRequest{ReferralID: ref.ID, Outcome: outcome}); err == nil {
				mu.Lock()
				sum.ReferralsClosed++
				acted = true
				mu.Unlock()
			}
		}
		return nil
	})
	return acted, errors.Join(append(errs, err)...)
}

// eachCase pages through the projection and calls fn for each case, 32 at
// a time, as a team of caseworkers would; fn must be safe for concurrent
// use.
func eachCase(ctx context.Context, d Deps, who apoyo.Identity, f apoyo.CaseFilter, fn func(apoyo.Case) error) error {
	f.Limit = 500
	for {
		page, err := d.App.Cases(ctx, who, f)
		if err != nil || len(page) == 0 {
			return err
		}
		var g errgroup.Group
		g.SetLimit(32)
		for _, c := range page {
			g.Go(func() error { return fn(c) })
		}
		if err := g.Wait(); err != nil {
			return err
		}
		f.After = page[len(page)-1].CaseID
	}
}

// tally counts outcomes from the cycle's payments and cases, and who was
// paid from the bank's audit.
func tally(ctx context.Context, d Deps, cycleID string, sum *Summary) error {
	counts, err := d.Cases.CycleCounts(ctx, cycleID)
	if err != nil {
		return err
	}
	sum.Ineligible = counts.ByOutcome[string(apoyo.OutcomeIneligible)]
	pays, err := d.Cases.Payments(ctx, cycleID)
	if err != nil {
		return err
	}
	paid := map[string]int{}
	approved := map[string]bool{}
	disbursed := decimal.Zero
	for _, p := range pays {
		approved[p.BeneficiaryID] = true
		switch p.State {
		case apoyo.PaymentSettled, apoyo.PaymentCollected:
			paid[p.BeneficiaryID]++
			disbursed = disbursed.Add(p.Amount)
			if p.Attempt > 1 {
				sum.Repaid++
			}
		case apoyo.PaymentReturned, apoyo.PaymentRejected, apoyo.PaymentExpired:
			sum.Returned++
		}
	}
	sum.AmountDisbursed = disbursed.StringFixed(2)
	sum.Approved = len(approved)
	sum.Paid = len(paid)
	// Who was paid, and how often, by the bank's own record.
	audit, err := sandbox.FetchAudit(ctx, nil, d.BankURL, cycleID)
	if err != nil {
		return err
	}
	sum.PaidTwice = audit.DoublePaid
	sum.BankPaid = audit.PaidOnce + audit.DoublePaid
	sum.BankAmountSent = audit.NetAmount.StringFixed(2)
	return nil
}

// BankAgrees reports whether the bank's record matches apoyo's: the same
// people paid, the same money sent, nobody paid twice.
func (s Summary) BankAgrees() bool {
	return s.PaidTwice == 0 && s.BankPaid == s.Paid && s.BankAmountSent == s.AmountDisbursed
}

// reconcileAll fetches the bank's statement for every operation date of
// the cycle's payments and reconciles it, twice: the second run must post
// nothing.
func reconcileAll(ctx context.Context, d Deps, cast Cast, cycleID string, sum *Summary) error {
	pays, err := d.Cases.Payments(ctx, cycleID)
	if err != nil {
		return err
	}
	dates := map[string]bool{}
	for _, p := range pays {
		if p.OperationDate != "" {
			dates[p.OperationDate] = true
		}
	}
	sorted := make([]string, 0, len(dates))
	for dt := range dates {
		sorted = append(sorted, dt)
	}
	sort.Strings(sorted)
	for _, dt := range sorted {
		resp, err := http.Get(d.BankURL + "/v1/statements/" + dt + ".csv")
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("demo: statement %s: HTTP %d", dt, resp.StatusCode)
		}
		rep, err := d.App.Reconcile(ctx, cast.Manager, "statement-"+dt+".csv", bytes.NewReader(body))
		if err != nil {
			return err
		}
		sum.Statements++
		sum.Unmatched += rep.Unmatched
		sum.ReconcilePosted += rep.Posted
		again, err := d.App.Reconcile(ctx, cast.Manager, "statement-"+dt+".csv", bytes.NewReader(body))
		if err != nil {
			return err
		}
		sum.SecondRunPosted += again.Posted
	}
	return nil
}
