// Package sandbox is a pretend bank that speaks the HTTP API of
// payment/httpprovider, so `apoyo dev` and the tests exercise the real client,
// the real wire format and the real failure modes (asynchronous settlement,
// returns after settlement, lost responses) without a real bank.
//
// # Lifecycle
//
// New (or Open, which reports journal errors) builds a bank; Handler serves
// it, e.g. under httptest.NewServer; ListenAndServe puts it on a real
// listener for the dev stack. Start runs a background loop that settles due
// orders, delivers late returns and expires cash pickups; every request also
// processes what is due first, so a bank that was never started still behaves
// correctly when driven by POST /v1/admin/advance or an injected clock.
// Close stops everything.
//
// # Clock and operation date
//
// The sandbox clock is Config.Now plus whatever POST /v1/admin/advance added.
// The fecha de operación of a movement is its sandbox time's date in
// America/Mexico_City, except that a movement after 17:30 local time goes to
// the next day, and a Saturday or Sunday moves on to Monday. Holidays are
// ignored.
//
// # Outcome rules
//
// Orders are accepted as pending and processed after Config.SettleDelay
// (default 200ms of sandbox time) or at the next POST /v1/admin/advance.
// The outcome depends only on the instrument, so tests and demos can provoke
// every case (see CLABE and CardNumber to build valid instruments):
//
// SPEI, by the last four digits of the CLABE's 11-digit account part
// (positions 7–17):
//
//	0001  returned (D) instead of settling, cause 1 (account does not exist)
//	0002  returned, cause 2 (account blocked)
//	0003  returned, cause 3 (account cancelled)
//	0014  returned, cause 14 (missing mandatory data)
//	0013  settles (LQ); Config.ReturnDelay later (default 2s) a return with
//	      cause 13 (beneficiary does not recognise the payment) arrives as a
//	      separate movement with its own return tracking key
//	0504  stored and processed normally, but the response to the first POST
//	      is 504 Gateway Timeout, as when a gateway gives up while the bank
//	      goes on: the client must ask for the status
//	else  settles (LQ)
//
// The CLABE check digit must be right (weights 3,7,1), as a real bank
// checks it; a wrong one is refused with 400 payment.invalid_order.
//
// Cash pickup: accepted with a 10-digit pickup reference and an expiry
// Config.PickupExpiry (default 72h of sandbox time) after acceptance;
// settling funds it (settled, ready to collect); POST /v1/cash/{id}/collect
// collects it (collected); reaching the expiry uncollected expires it
// (expired, the money comes back as a return movement). With
// Config.AutoCollect the cash is collected at settlement.
//
// Card: the number must pass the Luhn check (else 400); a number ending in
// 0000 is rejected by the issuer (rejected); any other is loaded (settled).
//
// # Fault injection
//
// With Config.Faults (off by default) the bank misbehaves on purpose on the
// orders a seeded FaultPlan picks (about 20% by default; the choice is a
// pure function of the seed and the order, so the same seed gives the same
// plan whatever the timing): a 504 after taking the order, a 503 before
// taking it, duplicate or out-of-order (stale) callbacks, a SPEI CN instead
// of settling, a return (D, with a cause) some time after settlement.
// FaultCounts says how many orders each kind hit. `apoyo chaos` uses it.
//
// # HTTP API
//
//	POST /v1/orders                 payment.Order JSON; Idempotency-Key header accepted
//	                                201 created, 200 repeat of the same order,
//	                                409 same key with another order (or a reused id or tracking key)
//	GET  /v1/orders/{id}            payment.Status JSON, 404 payment.unknown_order
//	GET  /v1/movements?date=D       {"movements":[Movement...]}; all dates without date
//	GET  /v1/statements/{D}.csv     settlement statement, shape in payment.StatementHeader
//	POST /v1/cash/{id}/collect      sandbox control: the beneficiary collects the cash
//	POST /v1/admin/advance          sandbox control, body {"by":"24h"} optional: settle every
//	                                pending order now, then move the clock forward by "by"
//	                                and process what fell due
//	GET  /v1/audit?cycle=C          the bank's own record of money sent per (cycle,
//	                                beneficiary), net of returns (Audit); all cycles without cycle
//
// Errors are {"error":{"code","reason","message","field"}} with the status
// from the apoyo code (400, 404, 409, 503, 500).
//
// An order with callback_url gets its Status POSTed there after each
// movement (accepted, settled, returned, ...), in order, retried a few times;
// delivery is best effort and does not survive a restart.
//
// # The bank's record
//
// Every movement is kept in memory and, with Config.JournalPath, appended to
// that file as one JSON line before it takes effect; Open replays the file,
// so the sandbox survives restarts of `apoyo dev`. One mutex guards all state:
// an idempotency key creates at most one order and an order changes state
// only from the state a rule expects, so nothing is paid or settled twice.
package sandbox

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/payment"
)

// Defaults for Config's zero values.
const (
	DefaultSettleDelay   = 200 * time.Millisecond
	DefaultReturnDelay   = 2 * time.Second
	DefaultPickupExpiry  = 72 * time.Hour
	DefaultTickInterval  = 50 * time.Millisecond
	DefaultCallbackTries = 4
)

// Immediately, as Config.SettleDelay or Config.ReturnDelay, makes orders or
// late returns due as soon as they are created (a zero value means the
// default instead).
const Immediately time.Duration = -1

// Config tunes a sandbox bank. The zero value is a working in-memory bank on
// the real clock.
type Config struct {
	// Now is the base clock; default time.Now. Tests inject a fake one.
	Now func() time.Time
	// SettleDelay is how long an order stays pending (sandbox time); zero
	// means DefaultSettleDelay, Immediately means no delay.
	SettleDelay time.Duration
	// ReturnDelay is how long after settlement the cause-13 return of rule
	// 0013 arrives; zero means DefaultReturnDelay, Immediately no delay.
	ReturnDelay time.Duration
	// PickupExpiry is how long a cash pickup reference stays valid; zero
	// means DefaultPickupExpiry.
	PickupExpiry time.Duration
	// AutoCollect collects cash pickups as soon as they are funded (demos).
	AutoCollect bool
	// JournalPath, if set, is the JSON-lines file the bank's record is
	// appended to and replayed from.
	JournalPath string
	// TickInterval is how often Start's loop looks for due work (real
	// time); zero means DefaultTickInterval.
	TickInterval time.Duration
	// CallbackClient posts callbacks; nil means a client with a 5s timeout.
	CallbackClient *http.Client
	// CallbackTries is how many times a callback is attempted; zero means
	// DefaultCallbackTries.
	CallbackTries int
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
	// Faults, if set, makes the bank misbehave on purpose on the orders the
	// plan picks (see FaultKind); nil, the default, injects nothing.
	Faults *FaultPlan
}

// Bank is a sandbox bank. All methods are safe for concurrent use.
type Bank struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	offset time.Duration // added to cfg.Now by Advance
	list   []*order      // in creation order, for deterministic processing
	// open are the orders processLocked may still have work for (see
	// order.open), in creation order: it reads these, not the whole list,
	// so a tick costs what is in flight, not every order ever made.
	open       []*order
	byID       map[string]*order
	byKey      map[string]*order
	byTracking map[string]*order
	pickupRefs map[string]bool
	movements  []Movement
	journal    *os.File
	closed     bool
	faults     faultState

	notify    *notifier
	stop      chan struct{}
	wg        sync.WaitGroup
	startOnce sync.Once
	closeOnce sync.Once
	closeErr  error
}

// order is the bank's view of one order.
type order struct {
	o          payment.Order
	st         payment.Status
	createdAt  time.Time
	dueAt      time.Time // when it settles (or is refused) unless forced earlier
	settledAt  time.Time
	returnedAt time.Time
	// lateReturnAt is when the return of a settled order arrives; zero if
	// none is coming.
	lateReturnAt time.Time
	// listedOpen says whether the order is in Bank.open.
	listedOpen bool
}

// open reports whether processLocked may still have work for the order:
// it is pending (to settle or refuse), or settled with a late return or
// a pickup's expiry still to come. Every other state is final here.
func (o *order) open() bool {
	switch o.st.State {
	case apoyo.PaymentPending:
		return true
	case apoyo.PaymentSettled:
		return !o.lateReturnAt.IsZero() || o.st.ExpiresAt != nil
	}
	return false
}

// New returns a bank for cfg. It panics if the journal cannot be opened or
// replayed, so use it for in-memory banks and tests; use Open when
// cfg.JournalPath is set.
func New(cfg Config) *Bank {
	b, err := Open(cfg)
	if err != nil {
		panic(err)
	}
	return b
}

// Open returns a bank for cfg, replaying cfg.JournalPath if set. Errors are
// EINTERNAL sandbox.journal.
func Open(cfg Config) (*Bank, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SettleDelay == 0 {
		cfg.SettleDelay = DefaultSettleDelay
	}
	if cfg.ReturnDelay == 0 {
		cfg.ReturnDelay = DefaultReturnDelay
	}
	if cfg.PickupExpiry <= 0 {
		cfg.PickupExpiry = DefaultPickupExpiry
	}
	if cfg.TickInterval <= 0 {
		cfg.TickInterval = DefaultTickInterval
	}
	if cfg.CallbackClient == nil {
		cfg.CallbackClient = &http.Client{Timeout: 5 * time.Second}
	}
	if cfg.CallbackTries <= 0 {
		cfg.CallbackTries = DefaultCallbackTries
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Bank{
		cfg:        cfg,
		log:        log,
		byID:       map[string]*order{},
		byKey:      map[string]*order{},
		byTracking: map[string]*order{},
		pickupRefs: map[string]bool{},
		stop:       make(chan struct{}),
	}
	b.notify = newNotifier(b)
	if cfg.JournalPath != "" {
		if err := b.openJournal(cfg.JournalPath); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// Start runs the background loop that settles due orders, delivers late
// returns and expires cash pickups, until ctx ends or Close. Calling it more
// than once does nothing.
func (b *Bank) Start(ctx context.Context) {
	b.startOnce.Do(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.closed {
			return
		}
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			t := time.NewTicker(b.cfg.TickInterval)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-b.stop:
					return
				case <-t.C:
					b.mu.Lock()
					err := b.processLocked(false)
					b.mu.Unlock()
					if err != nil {
						b.log.Error("sandbox bank: processing due work", "err", err)
					}
				}
			}
		}()
	})
}

// ListenAndServe serves the bank on addr (":0" picks a free port), starts
// the background loop, and returns the bound address once the listener is
// open. The server stops when ctx ends or on Close.
func (b *Bank) ListenAndServe(ctx context.Context, addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", apoyo.Errorf(apoyo.EUNAVAILABLE, "sandbox.listen", "sandbox bank: listen on %s: %v", addr, err).Wrap(err)
	}
	srv := &http.Server{Handler: b.Handler(), ReadHeaderTimeout: 10 * time.Second}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		ln.Close()
		return "", apoyo.Errorf(apoyo.EINTERNAL, "sandbox.closed", "sandbox bank is closed")
	}
	b.wg.Add(2)
	b.mu.Unlock()
	b.Start(ctx)
	go func() {
		defer b.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			b.log.Error("sandbox bank: serve", "err", err)
		}
	}()
	go func() {
		defer b.wg.Done()
		select {
		case <-ctx.Done():
		case <-b.stop:
		}
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return ln.Addr().String(), nil
}

// Close stops the background loop, servers and callback deliveries and
// closes the journal. It is safe to call more than once.
func (b *Bank) Close() error {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		b.mu.Unlock()
		close(b.stop)
		b.wg.Wait()
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.journal != nil {
			b.closeErr = b.journal.Close()
			b.journal = nil
		}
	})
	return b.closeErr
}

// now is the sandbox clock. Callers hold b.mu.
func (b *Bank) now() time.Time {
	return b.cfg.Now().Add(b.offset).Round(0).UTC()
}

// Now returns the sandbox clock.
func (b *Bank) Now() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.now()
}
