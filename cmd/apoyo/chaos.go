package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/apoyo-cdmx/apoyo/chaos"
	"github.com/apoyo-cdmx/apoyo/demo"
)

// chaosWorker is the command line of the chaos run's worker child process
// and what to add to its environment: this binary's `apoyo worker`. Tests
// point it at their own binary's helper process.
var chaosWorker = func() ([]string, []string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	return []string{exe, "worker"}, nil, nil
}

// maxMissesShown bounds the misses printed; the count says how many more.
const maxMissesShown = 40

func newChaosCmd(a *cli) *cobra.Command {
	var o output
	var opts chaos.Options
	cmd := &cobra.Command{
		Use:   "chaos",
		Short: "Prove a cycle pays everyone exactly once while workers are killed, PostgreSQL and Temporal restart and the bank misbehaves",
		Long: `chaos runs a payment cycle of N synthetic people (all rails) on a private
stack in a temporary directory, with the worker as a child process, while it:
SIGKILLs the worker at seeded moments K times and lets it restart; restarts
PostgreSQL once and the Temporal server once mid-cycle; has the sandbox bank
inject faults on about 20% of orders (a timeout after the order was taken,
a 5xx before, duplicate and out-of-order callbacks, SPEI CN answers, returns
after settlement). People act as in the demo: documents checked, bulk
approval by each secretariat, new instruments for returned payments, cash
collected; statements are reconciled.

Then it checks, by the sandbox bank's own record: every eligible person
paid exactly once net of returns, nobody twice, nobody missing; every case
finished or waiting on a person with an open task; the ledger verifies;
every statement reconciles with nothing unmatched; no balance went below
zero. Each miss is printed; the exit status is 1 if there is any. The last
line is "chaos: N cases, K kills, F faults, double_payments=D, lost=L,
unmatched=U". The same seed gives the same people, the same fault plan and
the same moments (as shares of the cycle's orders) for the kills and
restarts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.check("table", "json"); err != nil {
				return err
			}
			if !cmd.Flags().Changed("log-level") && a.cfg.Log.Level == "info" {
				// Progress lines are the output; routine logs would drown them.
				a.cfg.Log.Level = "warn"
				a.log = newLogger(a.cfg.Log, a.errOut)
			}
			return a.runChaos(cmd.Context(), opts, o.json())
		},
	}
	o.add(cmd, "table or json (the result as JSON before the last line)")
	cmd.Flags().IntVar(&opts.Beneficiaries, "beneficiaries", 2000, "number of synthetic people")
	cmd.Flags().IntVar(&opts.Kills, "kills", 5, "how many times the worker is SIGKILLed")
	cmd.Flags().Uint64Var(&opts.Seed, "seed", 1, "seed of the people, the bank's fault plan and the moments of the kills and restarts")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 60*time.Minute, "give up after this long")
	return cmd
}

func (a *cli) runChaos(ctx context.Context, opts chaos.Options, jsonOut bool) error {
	argv, env, err := chaosWorker()
	if err != nil {
		return err
	}
	start := time.Now()
	st, err := chaos.StartStack(ctx, chaos.StackOptions{Seed: opts.Seed, PostgresBinDir: a.cfg.Dev.PostgresBinDir,
		Namespace: a.cfg.Temporal.Namespace, Worker: argv, WorkerEnv: env, Log: a.log})
	if err != nil {
		return err
	}
	defer st.Stop()
	// This process plays the people against the private stack.
	a.cfg.DataDir, a.cfg.Database.URL, a.cfg.Temporal.Address, a.cfg.Payments.BankURL = st.Dir, st.DatabaseURL, st.TemporalAddress, st.BankURL
	s, err := a.open(ctx, true)
	if err != nil {
		return err
	}
	defer s.close()
	opts.Out, opts.Log = a.errOut, a.log
	res, err := chaos.Run(ctx, st, chaos.Deps{Temporal: s.temporal, Ledger: s.ledger, Enrol: s.enrol,
		Deps: demo.Deps{App: s.app, Cases: s.cases, BankURL: st.BankURL}}, opts)
	if err != nil {
		res.Misses = append(res.Misses, "the run could not be carried out: "+err.Error())
	}
	for i, m := range res.Misses {
		if i == maxMissesShown {
			fmt.Fprintf(a.errOut, "chaos: MISS: ... and %d more\n", len(res.Misses)-i)
			break
		}
		fmt.Fprintln(a.errOut, "chaos: MISS:", m)
	}
	if len(res.Misses) > 0 {
		// The stack's directory goes at exit; the worker's logs are worth keeping.
		if b, err := os.ReadFile(st.WorkerLog()); err == nil {
			kept := filepath.Join(os.TempDir(), fmt.Sprintf("apoyo-chaos-worker-%d.log", opts.Seed))
			if os.WriteFile(kept, b, 0o600) == nil {
				fmt.Fprintln(a.errOut, "chaos: worker logs kept in", kept)
			}
		}
	}
	fmt.Fprintf(a.errOut, "chaos: seed %d; eligible %d, paid once %d; faults: %s; worker started %d times; PostgreSQL restarted %d, Temporal %d; "+
		"%d statements; ledger verified %v; %d balance samples, %d below zero; %.0f s (cycle %.0f s)\n",
		opts.Seed, res.Eligible, res.PaidOnce, res.FaultSummary(), res.WorkerStarts, res.PostgresRestarts, res.TemporalRestarts,
		res.Statements, res.LedgerVerified, res.BalanceSamples, res.NegativeBalances, time.Since(start).Seconds(), res.CycleSeconds)
	if jsonOut {
		if err := writeJSON(a.out, res); err != nil {
			return err
		}
	}
	fmt.Fprintln(a.out, res.LastLine())
	if !res.OK() {
		return errSilent
	}
	return nil
}
