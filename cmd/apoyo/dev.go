package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/apoyo-cdmx/apoyo/platform/devstack"
)

func newDevCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the local stack: PostgreSQL, Temporal server and UI, sandbox bank and worker, in one process",
		Long: `dev runs everything a newcomer needs in one process, keeping its state in
--data-dir (default .apoyo) so that a restart picks up where it stopped:
a private PostgreSQL cluster (or APOYO_DATABASE_URL), an in-process Temporal
server on a fixed port (default 7233) with its Web UI (default 8233), the
sandbox bank, and the apoyo worker. Other apoyo commands run with the same
--data-dir find it by themselves. Ctrl-C stops everything.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, err := devstack.Start(ctx, a.cfg, a.log)
			if err != nil {
				return err
			}
			defer s.Stop()
			// The worker's commands must find this stack, also when the
			// configuration named none.
			stopWorker, err := a.startWorker(ctx, s)
			if err != nil {
				return err
			}
			defer stopWorker()
			w := a.out
			fmt.Fprintf(w, "postgres   %s\n", redactURL(s.Info.DatabaseURL))
			fmt.Fprintf(w, "temporal   %s (namespace %s)\n", s.Info.TemporalAddress, s.Info.Namespace)
			if s.Info.UIAddress != "" {
				fmt.Fprintf(w, "temporal-ui %s (payloads decoded by the codec server at %s)\n", s.Info.UIAddress, s.Info.CodecURL)
			}
			fmt.Fprintf(w, "bank       %s\n", s.Info.BankURL)
			fmt.Fprintf(w, "data-dir   %s\n", a.cfg.DataDir)
			fmt.Fprintln(w, "apoyo dev ready (Ctrl-C to stop)")
			<-ctx.Done()
			fmt.Fprintln(w, "apoyo dev stopping")
			return nil
		},
	}
	cmd.Flags().Int("temporal-port", 0, "Temporal frontend port (default 7233)")
	cmd.Flags().Int("ui-port", 0, "Temporal Web UI port, 0 = default 8233 (set dev.ui_port: 0 in the config file to disable)")
	cmd.Flags().Int("bank-port", 0, "sandbox bank port (default: a free port, remembered)")
	return cmd
}
