// Package chaos is `apoyo chaos`: the rerunnable proof that a payment cycle
// pays every eligible person exactly once while the stack is broken under
// it. It runs a whole cycle of synthetic people (all rails) on a private
// stack (Stack), playing every person through the same paths the demo uses
// (demo.PlayRound: identity reviews, bulk approval per secretariat, new
// instruments for returned payments, cash collected), while it SIGKILLs the
// worker child process at seeded moments and lets it restart, restarts
// PostgreSQL once and the Temporal server once, and has the sandbox bank
// inject faults on about 20% of orders (sandbox.FaultPlan).
//
// Then it checks by the bank's own record (sandbox.Bank.Audit), not by
// apoyo's tables: every eligible person net paid exactly once, nobody paid
// twice; every case finished, or waiting on a person with an open task;
// the ledger verifies; every statement reconciles with nothing unmatched;
// no balance went below zero while it ran. Each miss is named; the last
// line is Result.LastLine.
package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"golang.org/x/sync/errgroup"

	"github.com/shopspring/decimal"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/bank/sandbox"
	"github.com/apoyo-cdmx/apoyo/demo"
	"github.com/apoyo-cdmx/apoyo/enrolment"
	"github.com/apoyo-cdmx/apoyo/ledger"
	"github.com/apoyo-cdmx/apoyo/mxid"
	"github.com/apoyo-cdmx/apoyo/payment"
	"github.com/apoyo-cdmx/apoyo/program"
)

// Options shape a run.
type Options struct {
	Beneficiaries int
	Kills         int
	Seed          uint64
	// Timeout bounds the whole run.
	Timeout time.Duration
	// Out receives progress lines (what broke when); nil discards them.
	Out io.Writer
	Log *slog.Logger
}

// Deps are the application layer on the chaos stack, as the demo uses it
// (every action goes through it as one of the demo's users), plus what
// the run reads to check the proof without changing anything: the
// Temporal client for describing workflows, the ledger for balance
// samples and verification, the roster to key the bank's fault plan.
type Deps struct {
	demo.Deps
	Temporal client.Client
	Ledger   *ledger.Ledger
	Enrol    *enrolment.Store
}

// Result is what a run did and found.
type Result struct {
	Cases          int `json:"cases"`
	Kills          int `json:"kills"`
	Faults         int `json:"faults"`
	DoublePayments int `json:"double_payments"`
	Lost           int `json:"lost"`
	Unmatched      int `json:"unmatched"`

	CycleID          string         `json:"cycle_id"`
	Eligible         int            `json:"eligible"`
	PaidOnce         int            `json:"paid_once"`
	FaultsByKind     map[string]int `json:"faults_by_kind"`
	PostgresRestarts int            `json:"postgres_restarts"`
	TemporalRestarts int            `json:"temporal_restarts"`
	WorkerStarts     int            `json:"worker_starts"`
	Statements       int            `json:"statements"`
	LedgerVerified   bool           `json:"ledger_verified"`
	BalanceSamples   int            `json:"balance_samples"`
	NegativeBalances int            `json:"negative_balances"`
	CasesNotSettled  int            `json:"cases_not_settled"`
	CycleClosed      bool           `json:"cycle_closed"`
	Seconds          float64        `json:"seconds"`
	CycleSeconds     float64        `json:"cycle_seconds"`
	ReconcileRounds  int            `json:"reconcile_rounds"`
	// Misses names every check that failed; empty when the run passed.
	Misses []string `json:"misses,omitempty"`
}

// OK reports whether every check passed.
func (r Result) OK() bool { return len(r.Misses) == 0 }

// LastLine is the run's one-line verdict, the last line `apoyo chaos`
// prints.
func (r Result) LastLine() string {
	return fmt.Sprintf("chaos: %d cases, %d kills, %d faults, double_payments=%d, lost=%d, unmatched=%d",
		r.Cases, r.Kills, r.Faults, r.DoublePayments, r.Lost, r.Unmatched)
}

// run is one chaos run's state.
type run struct {
	cast demo.Cast
	st   *Stack
	d    Deps
	o    Options
	log  *slog.Logger
	res  Result

	mu     sync.Mutex // guards misses and res counters written by goroutines
	misses []string

	// supplied and refused are the cases a new instrument was put on file
	// for after a late return, and why others refused one.
	supplied map[string]bool
	refused  map[string]string
	// peopleErr is the last error of a round of people's work (play's
	// goroutine only), named by a run that timed out: an error that comes
	// back every round stops the work after it in the round.
	peopleErr string
}

func (r *run) miss(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.misses = append(r.misses, fmt.Sprintf(format, args...))
}

func (r *run) say(format string, args ...any) {
	if r.o.Out != nil {
		fmt.Fprintf(r.o.Out, "chaos: "+format+"\n", args...)
	}
}

// Run plays one cycle on st while breaking it, then checks. It returns an
// error only when the run could not be carried out at all; failed checks
// are Result.Misses.
func Run(ctx context.Context, st *Stack, d Deps, o Options) (Result, error) {
	start := time.Now()
	if o.Beneficiaries <= 0 {
		return Result{}, errors.New("chaos: --beneficiaries must be positive")
	}
	if o.Kills < 0 {
		return Result{}, errors.New("chaos: --kills cannot be negative")
	}
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	r := &run{st: st, d: d, o: o, log: o.Log, supplied: map[string]bool{}, refused: map[string]string{}}
	err := r.play(ctx)
	r.res.Seconds = time.Since(start).Seconds()
	r.res.Faults = st.Bank.Faults()
	r.res.FaultsByKind = map[string]int{}
	for k, n := range st.Bank.FaultCounts() {
		r.res.FaultsByKind[string(k)] = n
	}
	r.res.WorkerStarts = st.WorkerStarts()
	r.res.Misses = r.misses
	return r.res, err
}

// play enrols, launches, breaks, settles and checks.
func (r *run) play(ctx context.Context) error {
	now := time.Now().UTC()
	people := demo.GeneratePeople(r.o.Beneficiaries, r.o.Seed, now)
	valid := 0
	for _, p := range people {
		if !p.Invalid && !p.Duplicate {
			valid++
		}
	}
	// Room for the cycle and its re-payments.
	budget := apoyo.DefaultBenefitAmount.Mul(decimal.NewFromInt(int64(valid)*3/2 + 10))
	spec := apoyo.ProgramSpec{Name: fmt.Sprintf("Chaos %d %s", r.o.Seed, now.Format("2006-01-02 15:04:05.000")), Funds: program.DefaultFunds(budget)}
	cast, err := demo.EnsureCast(ctx, r.d.App)
	if err != nil {
		return err
	}
	r.cast = cast
	prog, err := r.d.App.CreateProgram(ctx, cast.Manager, spec)
	if err != nil {
		return err
	}
	var csvBuf bytes.Buffer
	if err := demo.WriteCSV(&csvBuf, people); err != nil {
		return err
	}
	rep, err := r.d.App.ImportRoster(ctx, cast.Manager, prog.ID, &csvBuf, apoyo.ImportOptions{})
	if err != nil {
		return err
	}
	r.say("enrolled %d people (%d rows refused, %d duplicates)", rep.Accepted, rep.Rejected, rep.Duplicates)
	if err := r.keyFaultsByRow(ctx, prog.ID, people); err != nil {
		return err
	}

	launchedAt := time.Now()
	launch, err := r.d.App.LaunchCycle(ctx, cast.Manager, apoyo.LaunchRequest{ProgramID: prog.ID, Period: now.Format("2006-01"), CycleDate: now.Truncate(24 * time.Hour)})
	if err != nil {
		return err
	}
	cycleID := launch.Cycle.ID
	r.res.CycleID, r.res.Cases = cycleID, launch.Cases
	r.say("cycle %s launched with %d cases", cycleID, launch.Cases)

	watchCtx, stopWatching := context.WithCancel(ctx)
	var watchers sync.WaitGroup
	watchers.Add(1)
	go func() { defer watchers.Done(); r.watchBalances(watchCtx, prog.ID) }()
	eventsDone := make(chan struct{})
	go func() { defer close(eventsDone); r.breakThings(ctx, cycleID, launch.Cases) }()

	rng := rand.New(rand.NewPCG(r.o.Seed, 0x5eed))
	var sum demo.Summary
	var p apoyo.CycleProgress
	lastSaid := time.Now()
	for !(p.Closed && isClosed(eventsDone)) {
		if ctx.Err() != nil {
			stopWatching()
			watchers.Wait()
			<-eventsDone
			r.miss("the cycle did not close in time: %d of %d cases done (%v)", p.Done, launch.Cases, ctx.Err())
			r.missUnfinished(cycleID)
			return nil
		}
		if latest, err := r.d.App.CycleStatus(ctx, cast.Manager, cycleID); err == nil {
			p = latest.Progress
		}
		if time.Since(lastSaid) > 10*time.Second {
			r.say("%d of %d cases done, %d bank orders, %d faults so far", p.Done, launch.Cases, r.st.Bank.Audit(cycleID).Orders, r.st.Bank.Faults())
			lastSaid = time.Now()
		}
		acted, err := demo.PlayRound(ctx, r.d.Deps, r.cast, cycleID, rng, &sum)
		if err != nil {
			// PostgreSQL or Temporal is down, or a query timed out: people
			// come back and try again, as they would.
			r.log.Debug("chaos: a round of people's work failed", "err", err)
			r.peopleErr = firstLine(err.Error())
		} else {
			r.peopleErr = ""
		}
		if !acted {
			sleep(ctx, 200*time.Millisecond)
		}
	}
	r.res.CycleClosed = true
	r.res.CycleSeconds = time.Since(launchedAt).Seconds()
	r.say("cycle closed after %.0f s", r.res.CycleSeconds)

	// Returns after settlement come later; the bank's statements bring them
	// to apoyo, people put new instruments on file, the re-payments go out.
	r.settle(ctx, cycleID, rng, &sum)
	stopWatching()
	watchers.Wait()
	return r.check(ctx, cycleID, launch.Cases)
}

// keyFaultsByRow makes the bank's fault plan know each order by the
// person's row in the generated roster and the attempt number, which the
// seed fixes, instead of by its id, which holds random cycle and
// beneficiary ids: so the same seed gives the same fault plan.
func (r *run) keyFaultsByRow(ctx context.Context, programID string, people []demo.Person) error {
	rowOf := map[string]int{} // document number → row
	for i, p := range people {
		if !p.Invalid && !p.Duplicate {
			rowOf[strings.ToUpper(strings.TrimSpace(p.Row[13]))] = i
		}
	}
	keys := map[string]string{} // beneficiary id → "row<i>"
	after := ""
	for {
		ids, err := r.d.Enrol.ListIDs(ctx, programID, after, 500)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			break
		}
		for _, id := range ids {
			b, err := r.d.Enrol.Get(ctx, id)
			if err != nil {
				return err
			}
			if row, ok := rowOf[b.Record.IDDocumentNumber]; ok {
				keys[id] = fmt.Sprintf("row%d", row)
			}
		}
		after = ids[len(ids)-1]
	}
	r.st.Bank.SetFaultKey(func(orderID string) string {
		_, ben, n, ok := sandbox.ParseOrderID(orderID, "")
		if ok && n >= apoyo.DefaultMaxPaymentAttempts {
			// The last attempt the programme allows is spared: a person
			// whose every attempt the bank refused ends payment_failed by
			// the programme's rule (released, with a task), which is not
			// what this run is here to prove.
			return ""
		}
		if k, known := keys[ben]; ok && known {
			return fmt.Sprintf("%s/%d", k, n)
		}
		return orderID
	})
	return nil
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// event is one planned break.
type event struct {
	kind string // kill, postgres, temporal
	// at is the share of the cycle's cases with an order at the bank when
	// the event fires: a moment in the cycle, whatever the machine's speed.
	at float64
}

// plan draws the events from the seed: Kills worker kills, one PostgreSQL
// restart and one Temporal restart, at moments between 3% and 85% of the
// cycle's orders.
func plan(seed uint64, kills int) []event {
	rng := rand.New(rand.NewPCG(seed, 0xc4a05))
	var evs []event
	for i := 0; i < kills; i++ {
		evs = append(evs, event{kind: "kill"})
	}
	evs = append(evs, event{kind: "postgres"}, event{kind: "temporal"})
	rng.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
	ats := make([]float64, len(evs))
	for i := range ats {
		ats[i] = 0.03 + 0.82*rng.Float64()
	}
	sort.Float64s(ats)
	for i := range evs {
		evs[i].at = ats[i]
	}
	return evs
}

// breakThings fires the planned events as the cycle's orders reach them.
func (r *run) breakThings(ctx context.Context, cycleID string, cases int) {
	for _, ev := range plan(r.o.Seed, r.o.Kills) {
		want := int(ev.at * float64(cases))
		for r.st.Bank.Audit(cycleID).Orders < want {
			if !sleep(ctx, 100*time.Millisecond) {
				return
			}
		}
		orders := r.st.Bank.Audit(cycleID).Orders
		switch ev.kind {
		case "kill":
			if err := r.st.KillWorker(); err != nil {
				r.miss("killing the worker: %v", err)
				continue
			}
			r.mu.Lock()
			r.res.Kills++
			r.mu.Unlock()
			r.say("SIGKILL the worker at %d bank orders", orders)
		case "postgres":
			r.say("restarting PostgreSQL at %d bank orders", orders)
			if err := r.st.RestartPostgres(ctx); err != nil {
				r.miss("%v", err)
				continue
			}
			r.mu.Lock()
			r.res.PostgresRestarts++
			r.mu.Unlock()
		case "temporal":
			r.say("restarting the Temporal server at %d bank orders", orders)
			if err := r.st.RestartTemporal(ctx); err != nil {
				r.miss("%v", err)
				continue
			}
			r.mu.Lock()
			r.res.TemporalRestarts++
			r.mu.Unlock()
		}
	}
}

// watchBalances samples every balance of the programme's accounts while the
// cycle runs: none may be below zero at any moment (the ledger's own
// MinBalance rule should make that impossible; this checks it from
// outside).
func (r *run) watchBalances(ctx context.Context, programID string) {
	reported := 0
	for sleep(ctx, 250*time.Millisecond) {
		bs, err := r.d.Ledger.Balances(ctx, apoyo.BalanceFilter{AccountPrefix: "prg:" + programID + ":"})
		if err != nil {
			continue // PostgreSQL restarting
		}
		r.mu.Lock()
		r.res.BalanceSamples++
		r.mu.Unlock()
		for _, b := range bs {
			if b.Balance.IsNegative() {
				r.mu.Lock()
				r.res.NegativeBalances++
				r.mu.Unlock()
				if reported < 10 {
					reported++
					r.miss("balance below zero: %s fund %s at %s", b.Account, b.Fund, b.Balance.StringFixed(2))
				}
			}
		}
	}
}

// settle lets what comes after the cycle's close happen: the bank's clock
// moves on so returns after settlement arrive, every statement is
// reconciled (which books them and raises tasks), and people act on the
// tasks, until the bank's record stops changing.
func (r *run) settle(ctx context.Context, cycleID string, rng *rand.Rand, sum *demo.Summary) {
	quiet := 0
	last := -1
	for round := 0; round < 60 && quiet < 3 && ctx.Err() == nil; round++ {
		r.res.ReconcileRounds++
		if _, err := r.st.Bank.Advance(bankReturnDelay + time.Second); err != nil {
			r.log.Warn("chaos: advancing the bank", "err", err)
		}
		if _, _, err := r.reconcileAll(ctx); err != nil {
			r.log.Debug("chaos: reconciling", "err", err)
		}
		acted, err := demo.PlayRound(ctx, r.d.Deps, r.cast, cycleID, rng, sum)
		if err != nil {
			r.log.Debug("chaos: a round of people's work failed", "err", err)
		}
		if r.supplyForLateReturns(ctx, cycleID, rng) {
			acted = true
		}
		n := len(r.st.Bank.Movements(""))
		// A payment whose answer has not reached its case yet (its
		// callback is queued behind ones to killed workers, or never
		// comes and the sweep asks the bank) is not quiet either.
		waiting, err := r.d.Cases.Undelivered(ctx, cycleID)
		if err != nil {
			r.log.Debug("chaos: counting payments waiting for the bank", "err", err)
		}
		if n == last && !acted && waiting == 0 {
			quiet++
		} else {
			quiet = 0
		}
		last = n
		sleep(ctx, time.Second)
	}
}

// lateReturnTasks are the tasks reconciliation raises for money that came
// back after the case saw it settle: a person must put a new instrument on
// file.
var lateReturnTasks = map[string]bool{string(apoyo.TaskReturnedAfterSettlement): true}

// supplyForLateReturns does what a caseworker does with a late-return
// task: puts a new CLABE on file for the case. The refusals are kept for
// the report. acted says whether any case took one.
func (r *run) supplyForLateReturns(ctx context.Context, cycleID string, rng *rand.Rand) bool {
	tasks, err := r.d.Cases.OpenTasks(ctx, cycleID, 100_000)
	if err != nil {
		return false
	}
	acted := false
	for _, t := range tasks {
		if !lateReturnTasks[string(t.Kind)] || r.supplied[taskKey(t)] {
			continue
		}
		clabe := mxid.GenerateCLABE(rng, "072")
		if _, err := r.d.App.SetPaymentInstrument(ctx, r.cast.Caseworker, t.CaseID, apoyo.InstrumentRequest{Method: apoyo.RailSPEI, CLABE: clabe}); err != nil {
			r.refused[t.CaseID] = firstLine(err.Error())
			continue
		}
		delete(r.refused, t.CaseID)
		r.supplied[taskKey(t)] = true
		acted = true
	}
	return acted
}

// taskKey names one task: a case can have a second return after settlement
// (of its re-payment), with a task of its own.
func taskKey(t apoyo.Task) string { return fmt.Sprintf("%s#%d", t.CaseID, t.ID) }

// statementDates are the operation dates of the bank's own record.
func (r *run) statementDates() []string {
	seen := map[string]bool{}
	for _, m := range r.st.Bank.Movements("") {
		seen[m.OperationDate] = true
	}
	dates := make([]string, 0, len(seen))
	for dt := range seen {
		dates = append(dates, dt)
	}
	sort.Strings(dates)
	return dates
}

// reconcileAll reconciles the bank's statement of every operation date and
// returns the unmatched lines, total and per date.
func (r *run) reconcileAll(ctx context.Context) (int, map[string]int, error) {
	// The reopener sends each return after settlement back to its case, which
	// pays once more when a new instrument is on file.
	total, byDate := 0, map[string]int{}
	for _, dt := range r.statementDates() {
		var buf bytes.Buffer
		if err := payment.WriteStatement(&buf, r.st.Bank.Statement(dt)); err != nil {
			return total, byDate, err
		}
		rep, err := r.d.App.Reconcile(ctx, r.cast.Manager, "chaos-statement-"+dt+".csv", &buf)
		if err != nil {
			return total, byDate, fmt.Errorf("reconciling %s: %w", dt, err)
		}
		total += rep.Unmatched
		if rep.Unmatched > 0 {
			byDate[dt] = rep.Unmatched
		}
	}
	return total, byDate, nil
}

// notEligible are outcomes under which a person is rightly not paid. Only
// eligibility can say so in a chaos run: people's documents are verified
// and every secretariat approves.
var notEligible = map[apoyo.Outcome]bool{apoyo.OutcomeIneligible: true}

// check runs every check of the proof.
func (r *run) check(ctx context.Context, cycleID string, launched int) error {
	// Every statement, once more, now that everything happened.
	unmatched, byDate, err := r.reconcileAll(ctx)
	if err != nil {
		r.miss("reconciliation failed: %v", err)
	}
	r.res.Unmatched = unmatched
	r.res.Statements = len(r.statementDates())
	for dt, n := range byDate {
		r.miss("statement %s: %d unmatched lines", dt, n)
	}

	all, err := r.cases(ctx, cycleID)
	if err != nil {
		return err
	}
	if len(all) < launched {
		r.res.Lost += launched - len(all)
		r.miss("%d of the %d cases launched have no case record", launched-len(all), launched)
	}

	// Paid exactly once, by the bank's own record.
	audit := r.st.Bank.Audit(cycleID)
	for _, p := range audit.Payees {
		if p.Net > 1 {
			r.res.DoublePayments++
			r.miss("paid %d times net by the bank: cycle %s beneficiary %s (%d orders, %d paid, %d returned)",
				p.Net, p.Cycle, p.Beneficiary, p.Orders, p.Paid, p.Returned)
		}
	}
	for _, id := range audit.Unattributed {
		r.miss("bank order %s cannot be put on a person", id)
	}
	tasks, err := r.d.Cases.OpenTasks(ctx, cycleID, 1_000_000)
	if err != nil {
		return fmt.Errorf("chaos: listing tasks: %w", err)
	}
	open := map[string][]string{}
	for _, t := range tasks {
		open[t.CaseID] = append(open[t.CaseID], string(t.Kind))
	}
	statuses := r.describe(ctx, all)
	for _, c := range all {
		pay := audit.Payee(cycleID, c.BeneficiaryID)
		where := fmt.Sprintf("case %s (step %s, status %s, outcome %q, waiting on %v, open tasks %v, workflow %s; bank: %d orders, %d paid, %d returned)",
			c.CaseID, c.Step, c.Status, c.Outcome, c.WaitingOn, open[c.CaseID], statuses[c.CaseID], pay.Orders, pay.Paid, pay.Returned)
		if why := r.refused[c.CaseID]; why != "" {
			where += "; a new instrument was refused: " + why
		}
		if notEligible[c.Outcome] {
			if pay.Net > 0 {
				r.miss("paid although not eligible: %s", where)
			}
		} else {
			r.res.Eligible++
			switch {
			case pay.Net == 1:
				r.res.PaidOnce++
			case pay.Net < 1:
				r.res.Lost++
				r.miss("not paid: %s", where)
			}
		}
		// Finished, or waiting on a person who has a task to act on.
		wf := statuses[c.CaseID]
		switch {
		case c.Step == apoyo.StepDone:
			if wf != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED.String() {
				r.res.CasesNotSettled++
				r.miss("finished in the projection but not completed in Temporal: %s", where)
			}
		case len(c.WaitingOn) > 0 && len(open[c.CaseID]) > 0 && wf == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING.String():
		default:
			r.res.CasesNotSettled++
			r.miss("neither finished nor waiting on a person with an open task: %s", where)
		}
	}

	vr, err := r.d.Ledger.Verify(ctx)
	if err != nil {
		r.miss("ledger verify failed to run: %v", err)
	} else {
		r.res.LedgerVerified = vr.OK
		if !vr.OK {
			r.miss("ledger verify: %d problems, first bad transaction %d", len(vr.Problems), vr.FirstBadTransaction)
		}
	}
	if r.res.BalanceSamples == 0 {
		r.miss("no balance sample was taken during the run")
	}
	if r.res.Kills < r.o.Kills {
		r.miss("only %d of %d worker kills happened", r.res.Kills, r.o.Kills)
	}
	if r.res.PostgresRestarts != 1 || r.res.TemporalRestarts != 1 {
		r.miss("PostgreSQL restarted %d times and Temporal %d, want once each", r.res.PostgresRestarts, r.res.TemporalRestarts)
	}
	return nil
}

// unfinishedShown is how many unfinished cases a run that timed out names.
const unfinishedShown = 10

// missUnfinished names the first cases still unfinished when the run timed
// out, with where each waits, so a failed run says what was stuck. It has
// a context of its own: the run's has expired.
func (r *run) missUnfinished(cycleID string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	all, err := r.cases(ctx, cycleID)
	if err != nil {
		r.miss("%v", err)
		return
	}
	var stuck []apoyo.Case
	for _, c := range all {
		if c.Step != apoyo.StepDone && len(stuck) < unfinishedShown {
			stuck = append(stuck, c)
		}
	}
	statuses := r.describe(ctx, stuck)
	audit := r.st.Bank.Audit(cycleID)
	for i, c := range stuck {
		pay := audit.Payee(cycleID, c.BeneficiaryID)
		r.miss("unfinished: case %s (step %s, status %s, waiting on %v, workflow %s%s; bank: %d orders, %d paid, %d returned)",
			c.CaseID, c.Step, c.Status, c.WaitingOn, statuses[c.CaseID], r.tryAct(ctx, c, i), pay.Orders, pay.Paid, pay.Returned)
	}
	if r.peopleErr != "" {
		r.miss("the last round of people's work failed: %s", r.peopleErr)
	}
}

// tryAct says what the case's workflow reports and what became of the act
// a caseworker would do now for a case that waits on one at payment (a new
// instrument), so that a stuck case says whether its projection lags or
// the act is refused. Each case gets a CLABE of its own (seeded by i): a
// CLABE shared with another case would be refused for that alone.
func (r *run) tryAct(ctx context.Context, c apoyo.Case, i int) string {
	detail, err := r.d.App.Case(ctx, r.cast.Caseworker, c.CaseID)
	if err != nil {
		return "; state not read: " + firstLine(err.Error())
	}
	st := detail.State
	out := fmt.Sprintf("; its state: step %s, status %s, waiting on %v", st.Step, st.Status, st.WaitingOn)
	if c.Step == apoyo.StepPayment && slices.Contains(c.WaitingOn, apoyo.WaitingOnCaseworker) {
		clabe := mxid.GenerateCLABE(rand.New(rand.NewPCG(1, uint64(i))), "072")
		if _, err := r.d.App.SetPaymentInstrument(ctx, r.cast.Caseworker, c.CaseID, apoyo.InstrumentRequest{Method: apoyo.RailSPEI, CLABE: clabe}); err != nil {
			out += "; a new instrument now: " + firstLine(err.Error())
		} else {
			out += "; a new instrument now: taken"
		}
	}
	return out
}

// cases lists every case of the cycle, a page at a time.
func (r *run) cases(ctx context.Context, cycleID string) ([]apoyo.Case, error) {
	var all []apoyo.Case
	f := apoyo.CaseFilter{CycleID: cycleID, Limit: 1000}
	for {
		page, err := r.d.Cases.ListCases(ctx, f)
		if err != nil {
			return all, fmt.Errorf("chaos: listing cases: %w", err)
		}
		if len(page) == 0 {
			return all, nil
		}
		all = append(all, page...)
		f.After = page[len(page)-1].CaseID
	}
}

// describe asks Temporal for the status of every case's workflow.
func (r *run) describe(ctx context.Context, all []apoyo.Case) map[string]string {
	out := make(map[string]string, len(all))
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(16)
	for _, c := range all {
		g.Go(func() error {
			status := "unknown"
			resp, err := r.d.Temporal.DescribeWorkflowExecution(ctx, apoyo.CaseID(c.CycleID, c.BeneficiaryID), "")
			if err != nil {
				status = "describe failed: " + firstLine(err.Error())
			} else {
				status = resp.GetWorkflowExecutionInfo().GetStatus().String()
			}
			mu.Lock()
			out[c.CaseID] = status
			mu.Unlock()
			return nil
		})
	}
	_ = g.Wait()
	return out
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// FaultSummary is the faults by kind, in a fixed order, for a report line.
func (r Result) FaultSummary() string {
	counts := map[sandbox.FaultKind]int{}
	for k, n := range r.FaultsByKind {
		counts[sandbox.FaultKind(k)] = n
	}
	return strings.Join(slices.Clip(sandbox.FaultSummary(counts)), ", ")
}
