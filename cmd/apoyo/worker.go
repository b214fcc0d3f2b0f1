package main

import (
	"context"

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
			a.log.Info("worker running", "task_queue", a.cfg.Temporal.TaskQueue)
			<-ctx.Done()
			return nil
		},
	}
	cmd.Flags().BoolVar(&baseline, "bench-baseline", false, "also run the benchmark's bare baseline workflow")
	_ = cmd.Flags().MarkHidden("bench-baseline")
	return cmd
}
