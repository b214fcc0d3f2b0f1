package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/activities"
	"github.com/apoyo-cdmx/apoyo/app"
	"github.com/apoyo-cdmx/apoyo/audit"
	"github.com/apoyo-cdmx/apoyo/cases"
	"github.com/apoyo-cdmx/apoyo/config"
	"github.com/apoyo-cdmx/apoyo/enrolment"
	"github.com/apoyo-cdmx/apoyo/identity"
	"github.com/apoyo-cdmx/apoyo/ledger"
	"github.com/apoyo-cdmx/apoyo/payment/httpprovider"
	"github.com/apoyo-cdmx/apoyo/pii"
	"github.com/apoyo-cdmx/apoyo/platform/devstack"
	"github.com/apoyo-cdmx/apoyo/platform/metrics"
	"github.com/apoyo-cdmx/apoyo/platform/temporalcodec"
	"github.com/apoyo-cdmx/apoyo/program"
	"github.com/apoyo-cdmx/apoyo/worker"
	"github.com/spf13/cobra"
)

// services is everything a command needs, opened on the resolved database
// (and Temporal, when asked): the stores, and the application layer
// (app.New: authorized and audited) that every action goes through.
type services struct {
	ledger   *ledger.Ledger
	programs *program.Store
	enrol    *enrolment.Store
	cases    *cases.Store
	audit    *audit.Log
	accounts *identity.Store
	temporal client.Client
	core     *app.Service
	app      apoyo.Service
	// keyring holds the personal-data keys; keyErr says why they are
	// missing (nil when loaded).
	keyring *pii.Keyring
	keyErr  error
	// metrics is the process's Prometheus registry.
	metrics *metrics.Metrics
	close   func()
}

// open wires the stores and the application layer on the resolved
// database; withTemporal also dials Temporal (connectTemporal). The stores
// whose transactions record a person's decision write its audit entry
// inside them.
func (a *cli) open(ctx context.Context, withTemporal bool) (*services, error) {
	l, stop, err := a.ledger(ctx)
	if err != nil {
		return nil, err
	}
	// Without the personal-data keys, what needs none still works (reports
	// of aggregates, the ledger, the audit log); reading or writing a
	// person's data fails with enrolment.ErrNoKeys.
	kr, ix, keyErr := devstack.Keyring(a.cfg)
	if keyErr != nil {
		kr, ix = nil, nil
		a.log.Debug("personal-data keys not loaded", "err", keyErr)
	}
	pool := l.Pool()
	s := &services{ledger: l, programs: program.NewStore(pool), enrol: enrolment.NewStore(pool, kr, ix), cases: cases.NewStore(pool),
		audit: audit.New(pool), accounts: identity.NewStore(pool), keyring: kr, keyErr: keyErr, metrics: metrics.New(pool), close: stop}
	s.cases.OnCommit, s.enrol.OnCommit, s.accounts.OnCommit = audit.WriteInTx, audit.WriteInTx, audit.WriteInTx
	l.Observe(s.metrics.LedgerBatch)
	s.wire(a)
	if withTemporal {
		if err := a.connectTemporal(s); err != nil {
			s.close()
			return nil, err
		}
	}
	return s, nil
}

// connectTemporal dials Temporal (the running stack's, or
// temporal.address) for s and wires the application layer to it. On an
// error s is as it was: usable for what needs no Temporal.
func (a *cli) connectTemporal(s *services) error {
	if s.keyErr != nil {
		// The payload codec encrypts with the same keys.
		return s.keyErr
	}
	addr, err := a.temporalAddress()
	if err != nil {
		return err
	}
	tlsCfg, err := a.cfg.Temporal.ClientTLS()
	if err != nil {
		return err
	}
	c, err := worker.DialWith(worker.Connection{Address: addr, Namespace: a.cfg.Temporal.Namespace, TLS: tlsCfg, APIKey: a.cfg.Temporal.APIKey,
		Metrics: s.metrics.TemporalHandler()}, s.keyring, a.log)
	if err != nil {
		return apoyo.Errorf(apoyo.EUNAVAILABLE, "cli.temporal", "connecting to Temporal at %s: %v", addr, err)
	}
	s.temporal = c
	inner := s.close
	s.close = func() { c.Close(); inner() }
	s.wire(a)
	return nil
}

// wire builds the application layer on s's stores and Temporal client.
func (s *services) wire(a *cli) {
	s.core = &app.Service{Temporal: s.temporal, TaskQueue: a.cfg.Temporal.TaskQueue, PaymentQueues: a.paymentQueues(), Pool: s.ledger.Pool(), ProgramStore: s.programs,
		BeneficiaryStore: s.enrol, CaseStore: s.cases, Ledger: s.ledger, Audit: s.audit, Accounts: s.accounts}
	s.app = app.New(s.core)
}

// authenticator is how the API and the command line know who is acting:
// apoyo's own tokens, and the configured OIDC issuer's.
func (a *cli) authenticator(ctx context.Context, s *services) (apoyo.Authenticator, error) {
	var oidc *identity.OIDC
	if a.cfg.Auth.OIDCIssuer != "" {
		var err error
		oidc, err = identity.NewOIDC(ctx, identity.OIDCConfig{Issuer: a.cfg.Auth.OIDCIssuer, Audience: a.cfg.Auth.OIDCAudience,
			RoleClaim: a.cfg.Auth.OIDCRoleClaim, SecretariatClaim: a.cfg.Auth.OIDCSecretariatClaim, NameClaim: a.cfg.Auth.OIDCNameClaim})
		if err != nil {
			return nil, err
		}
	}
	return identity.Chain(s.accounts, oidc), nil
}

// who is the identity the command acts as: the token given with --token,
// auth.token or APOYO_TOKEN, or with --as, the local stack's demo user of
// that name or role (`apoyo dev` creates them). Every action is
// attributed to it; without one, nothing is done.
func (a *cli) who(ctx context.Context, s *services) (apoyo.Identity, error) {
	token := a.token
	if token == "" {
		token = a.cfg.Auth.Token
	}
	if token == "" {
		token = os.Getenv("APOYO_TOKEN")
	}
	if a.as != "" {
		t, err := devstack.DevUserToken(a.cfg.DataDir, a.as)
		if err != nil {
			return apoyo.Identity{}, err
		}
		token = t
	}
	if strings.TrimSpace(token) == "" {
		return apoyo.Identity{}, apoyo.ErrUnauthenticated.With("who is acting? give a token (--token, APOYO_TOKEN or auth.token in the configuration) " +
			"or, with `apoyo dev` running, --as one of its users (--as caseworker)")
	}
	token = strings.TrimSpace(token)
	if strings.HasPrefix(token, identity.TokenPrefix) {
		// apoyo's own token: no need to reach the OIDC issuer.
		return s.accounts.Authenticate(ctx, token)
	}
	auth, err := a.authenticator(ctx, s)
	if err != nil {
		return apoyo.Identity{}, err
	}
	return auth.Authenticate(ctx, token)
}

// act opens the services and resolves the acting identity: what every
// command that does something for a person starts with.
func (a *cli) act(ctx context.Context, withTemporal bool) (*services, apoyo.Identity, error) {
	s, err := a.open(ctx, withTemporal)
	if err != nil {
		return nil, apoyo.Identity{}, err
	}
	who, err := a.who(ctx, s)
	if err != nil {
		s.close()
		return nil, apoyo.Identity{}, err
	}
	return s, who, nil
}

func (a *cli) temporalAddress() (string, error) {
	if a.cfg.Temporal.Address != "" {
		return a.cfg.Temporal.Address, nil
	}
	info, err := devstack.Discover(a.cfg.DataDir)
	if err != nil {
		return "", err
	}
	if info == nil {
		return "", apoyo.Errorf(apoyo.EUNAVAILABLE, "cli.no_temporal", "Temporal is not running: start `apoyo dev` in this directory (or pass --data-dir), or set APOYO_TEMPORAL_ADDRESS")
	}
	return info.TemporalAddress, nil
}

func (a *cli) bankURL() (string, error) {
	if a.cfg.Payments.BankURL != "" {
		return a.cfg.Payments.BankURL, nil
	}
	info, err := devstack.Discover(a.cfg.DataDir)
	if err != nil {
		return "", err
	}
	if info == nil {
		return "", apoyo.Errorf(apoyo.EUNAVAILABLE, "cli.no_bank", "no bank: set APOYO_PAYMENTS_BANK_URL or run `apoyo dev`")
	}
	return info.BankURL, nil
}

// runWorker runs the worker until ctx ends (or it fails), with the
// receiver of the bank's callbacks beside it.
func (a *cli) runWorker(ctx context.Context, s *services, bankURL string) (stop func(), err error) {
	acts := &activities.Activities{Programs: s.programs, Beneficiaries: s.enrol, Cases: s.cases, Ledger: s.ledger,
		Payments: s.metrics.Bank(httpprovider.NewClient(bankURL, &http.Client{Timeout: 30 * time.Second})), Temporal: s.temporal,
		Namespace: a.cfg.Temporal.Namespace, DataConverter: temporalcodec.NewDataConverter(s.keyring),
		PollInterval: a.cfg.Payments.PollInterval, TaskQueue: a.cfg.Temporal.TaskQueue, Log: a.log}
	stopCallbacks, err := a.serveCallbacks(acts)
	if err != nil {
		return nil, err
	}
	w := worker.New(s.temporal, acts, worker.Options{TaskQueue: a.cfg.Temporal.TaskQueue, MaxConcurrentActivities: a.cfg.Worker.MaxConcurrentActivities})
	if err := w.Start(); err != nil {
		stopCallbacks()
		return nil, err
	}
	stops := []func(){w.Stop}
	for rail, rate := range a.cfg.Worker.RailRates() {
		rw := worker.NewPayments(s.temporal, acts, config.RailQueueOf(a.cfg.Temporal.TaskQueue, rail), rate, a.cfg.Worker.MaxConcurrentActivities)
		if err := rw.Start(); err != nil {
			for _, stop := range stops {
				stop()
			}
			stopCallbacks()
			return nil, err
		}
		stops = append(stops, rw.Stop)
	}
	return func() {
		for _, stop := range stops {
			stop()
		}
		stopCallbacks()
	}, nil
}

// paymentQueues is each configured rail's payment task queue.
func (a *cli) paymentQueues() map[apoyo.Rail]string {
	rates := a.cfg.Worker.RailRates()
	if len(rates) == 0 {
		return nil
	}
	out := map[apoyo.Rail]string{}
	for rail := range rates {
		out[apoyo.Rail(rail)] = config.RailQueueOf(a.cfg.Temporal.TaskQueue, rail)
	}
	return out
}

// serveCallbacks listens for the bank's callbacks at
// payments.callback_address and tells acts where the bank should post.
func (a *cli) serveCallbacks(acts *activities.Activities) (stop func(), err error) {
	addr := a.cfg.Payments.CallbackAddress
	switch addr {
	case "off":
		acts.CallbackURL = a.cfg.Payments.CallbackURL
		return func() {}, nil
	case "":
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("payments.callback_address %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /bank/callbacks", acts.CallbackHandler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("bank callbacks stopped", "err", err)
		}
	}()
	acts.CallbackURL = a.cfg.Payments.CallbackURL
	if acts.CallbackURL == "" {
		acts.CallbackURL = "http://" + ln.Addr().String() + "/bank/callbacks"
	}
	return func() { _ = srv.Close() }, nil
}

// withApp opens the services, resolves the acting identity and runs fn
// with them: the frame of every command that does something for a person.
func (a *cli) withApp(cmd *cobra.Command, withTemporal bool, fn func(ctx context.Context, s *services, who apoyo.Identity) error) error {
	s, who, err := a.act(cmd.Context(), withTemporal)
	if err != nil {
		return err
	}
	defer s.close()
	return fn(cmd.Context(), s, who)
}
