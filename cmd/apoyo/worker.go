package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/apoyo-cdmx/apoyo/devstack"
)

// startWorker starts the apoyo worker against the local stack.
func (a *app) startWorker(ctx context.Context, st *devstack.Stack) (func(), error) {
	s, err := a.open(ctx, true)
	if err != nil {
		return nil, err
	}
	bank := a.cfg.Payments.BankURL
	if bank == "" {
		bank = st.Info.BankURL
	}
	stop, err := a.runWorker(ctx, s, bank)
	if err != nil {
		s.close()
		return nil, err
	}
	return func() { stop(); s.close() }, nil
}

func newWorkerCmd(a *app) *cobra.Command {
	return &cobra.Command{
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
			a.log.Info("worker running", "task_queue", a.cfg.Temporal.TaskQueue)
			<-ctx.Done()
			return nil
		},
	}
}
