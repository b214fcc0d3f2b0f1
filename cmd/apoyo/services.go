package main

import (
	"context"
	"net/http"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/activities"
	"github.com/apoyo-cdmx/apoyo/cases"
	"github.com/apoyo-cdmx/apoyo/casework"
	"github.com/apoyo-cdmx/apoyo/enrolment"
	"github.com/apoyo-cdmx/apoyo/ledger"
	"github.com/apoyo-cdmx/apoyo/payment/httpprovider"
	"github.com/apoyo-cdmx/apoyo/platform/devstack"
	"github.com/apoyo-cdmx/apoyo/program"
	"github.com/apoyo-cdmx/apoyo/worker"
)

// services is everything a command that works on programmes and cases
// needs, opened on the resolved database (and Temporal, when asked).
type services struct {
	ledger   *ledger.Ledger
	programs *program.Store
	enrol    *enrolment.Store
	cases    *cases.Store
	temporal client.Client
	work     *casework.Service
	close    func()
}

// open wires the stores on the resolved database; withTemporal also dials
// Temporal (the running stack's, or temporal.address).
func (a *app) open(ctx context.Context, withTemporal bool) (*services, error) {
	l, stop, err := a.ledger(ctx)
	if err != nil {
		return nil, err
	}
	kr, ix, err := devstack.Keyring(a.cfg)
	if err != nil {
		stop()
		return nil, err
	}
	pool := l.Pool()
	s := &services{ledger: l, programs: program.NewStore(pool), enrol: enrolment.NewStore(pool, kr, ix), cases: cases.NewStore(pool), close: stop}
	if withTemporal {
		addr, err := a.temporalAddress()
		if err != nil {
			s.close()
			return nil, err
		}
		c, err := worker.Dial(addr, a.cfg.Temporal.Namespace, kr, a.log)
		if err != nil {
			s.close()
			return nil, apoyo.Errorf(apoyo.EUNAVAILABLE, "cli.temporal", "connecting to Temporal at %s: %v", addr, err)
		}
		s.temporal = c
		inner := s.close
		s.close = func() { c.Close(); inner() }
		s.work = &casework.Service{Temporal: c, TaskQueue: a.cfg.Temporal.TaskQueue, Programs: s.programs, Beneficiaries: s.enrol, Cases: s.cases, Ledger: l}
	}
	return s, nil
}

func (a *app) temporalAddress() (string, error) {
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

func (a *app) bankURL() (string, error) {
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

// runWorker runs the worker until ctx ends (or it fails).
func (a *app) runWorker(ctx context.Context, s *services, bankURL string) (stop func(), err error) {
	acts := &activities.Activities{Programs: s.programs, Beneficiaries: s.enrol, Cases: s.cases, Ledger: s.ledger,
		Payments: httpprovider.NewClient(bankURL, &http.Client{Timeout: 30 * time.Second}), Temporal: s.temporal, PollInterval: a.cfg.Payments.PollInterval, Log: a.log}
	w := worker.New(s.temporal, acts, worker.Options{TaskQueue: a.cfg.Temporal.TaskQueue, MaxConcurrentActivities: a.cfg.Worker.MaxConcurrentActivities})
	if err := w.Start(); err != nil {
		return nil, err
	}
	return w.Stop, nil
}
