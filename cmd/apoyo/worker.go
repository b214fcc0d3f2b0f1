package main

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/spf13/cobra"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/apoyo-cdmx/apoyo/bench"
	"github.com/apoyo-cdmx/apoyo/platform/devstack"
)

// startWorker starts the apoyo worker on s (one process, one pool and one
// Temporal client) against the local stack st.
func (a *cli) startWorker(ctx context.Context, s *services, st *devstack.Stack) (func(), error) {
	bank := a.cfg.Payments.BankURL
	if bank == "" {
		bank = st.Info.BankURL
	}
	return a.runWorker(ctx, s, bank)
}

func newWorkerCmd(a *cli) *cobra.Command {
	var baseline bool
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run the Temporal worker (against temporal.address, database.url and payments.bank_url)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, err := a.open(ctx, true)
			if err != nil {
				return err
			}
			defer s.close()
			bank, err := a.bankURL()
			if err != nil {
				return err
			}
			stop, err := a.runWorker(ctx, s, bank)
			if err != nil {
				return err
			}
			defer stop()
			if baseline {
				// `apoyo bench cycle` measures a bare workflow on the same
				// server and worker process, for its ratio.
				bw := sdkworker.New(s.temporal, bench.BaselineTaskQueue, sdkworker.Options{})
				bench.RegisterBaseline(bw)
				if err := bw.Start(); err != nil {
					return err
				}
				defer bw.Stop()
			}
			if addr := a.cfg.Worker.MetricsAddress; addr != "" {
				mux := http.NewServeMux()
				mux.Handle("/metrics", s.metrics.Handler())
				ms := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
				go func() {
					if err := ms.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
						a.log.Error("metrics stopped", "err", err)
					}
				}()
				defer ms.Close()
				a.log.Info("metrics served", "address", addr)
			}
			a.log.Info("worker running", "task_queue", a.cfg.Temporal.TaskQueue)
			<-ctx.Done()
			return nil
		},
	}
	cmd.Flags().BoolVar(&baseline, "bench-baseline", false, "also run the benchmark's bare baseline workflow")
	_ = cmd.Flags().MarkHidden("bench-baseline")
	return cmd
}
