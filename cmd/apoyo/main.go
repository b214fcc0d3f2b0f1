// Command apoyo is the benefit disbursement engine's one binary: the local
// stack (dev), the worker, the ledger's audit commands, migrations and
// benchmarks. This package only wires the other packages together.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/config"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// app carries what every command needs: the loaded configuration, a logger
// and where output goes.
type cli struct {
	cfg     config.Config
	log     *slog.Logger
	out     io.Writer
	errOut  io.Writer
	cfgFile string
	// token and as say who the command acts as (--token, --as).
	token, as string
}

// flagKeys binds global flags to configuration keys.
var flagKeys = map[string]string{
	"data-dir":         "data_dir",
	"database-url":     "database.url",
	"temporal-address": "temporal.address",
	"namespace":        "temporal.namespace",
	"log-level":        "log.level",
	"log-format":       "log.format",
	"temporal-port":    "dev.temporal_port",
	"ui-port":          "dev.ui_port",
	"bank-port":        "dev.bank_port",
	"address":          "api.address",
}

func newRoot(a *cli) *cobra.Command {
	root := &cobra.Command{
		Use:           "apoyo",
		Short:         "Benefit disbursement engine: identity, eligibility, tri-secretariat approval, payment, referrals",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(a.cfgFile, cmd.Flags(), flagKeys)
			if err != nil {
				return err
			}
			a.cfg = cfg
			a.log = newLogger(cfg.Log, a.errOut)
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.cfgFile, "config", "", "configuration file (default ./"+config.DefaultFile+" if present)")
	pf.String("data-dir", "", "directory of the local stack's state (default .apoyo)")
	pf.String("database-url", "", "PostgreSQL URL (default: the local stack's)")
	pf.String("temporal-address", "", "Temporal frontend host:port (default: the local stack's)")
	pf.String("namespace", "", "Temporal namespace (default apoyo)")
	pf.String("log-level", "", "debug, info, warn or error (default info)")
	pf.String("log-format", "", "text or json (default text)")
	pf.StringVar(&a.token, "token", "", "API token to act with (default auth.token, or APOYO_TOKEN)")
	pf.StringVar(&a.as, "as", "", "act as one of `apoyo dev`'s local users: admin, manager, caseworker, styfe, sibiso, sedesa, auditor")

	root.AddCommand(newHealthcheckCmd(a), newDevCmd(a), newWorkerCmd(a), newMigrateCmd(a), newConfigCmd(a), newLedgerCmd(a), newBenchCmd(a),
		newProgramCmd(a), newBeneficiariesCmd(a), newCycleCmd(a), newApproveCmd(a), newCaseCmd(a), newReferralCmd(a), newDemoCmd(a),
		newReconcileCmd(a), newReportCmd(a), newBankCmd(a), newChaosCmd(a), newServeCmd(a), newUserCmd(a), newTokenCmd(a), newAuditCmd(a))
	return root
}

func newLogger(c config.LogConfig, w io.Writer) *slog.Logger {
	lvl := slog.LevelInfo
	_ = lvl.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := &cli{out: os.Stdout, errOut: os.Stderr}
	err := newRoot(a).ExecuteContext(ctx)
	os.Exit(exitCode(err, a.errOut))
}

// errSilent marks an error whose report was already printed (e.g. a failed
// verification printed its problems): only the exit status remains.
var errSilent = errors.New("")

// exitCode maps errors to exit statuses in one place: 0 ok, 2 invalid input
// or configuration, 1 anything else.
func exitCode(err error, w io.Writer) int {
	if err == nil {
		return 0
	}
	if !errors.Is(err, errSilent) {
		fmt.Fprintln(w, "apoyo:", err)
	}
	if apoyo.ErrorCodeOf(err) == apoyo.EINVALID {
		return 2
	}
	return 1
}

// output is the -o flag of commands that print data.
type output struct{ format string }

func (o *output) add(cmd *cobra.Command, formats string) {
	cmd.Flags().StringVarP(&o.format, "output", "o", "table", "output format: "+formats)
}

func (o *output) json() bool { return o.format == "json" }

func (o *output) check(allowed ...string) error {
	for _, f := range allowed {
		if o.format == f {
			return nil
		}
	}
	return apoyo.Errorf(apoyo.EINVALID, "cli.output", "-o %q: use one of %v", o.format, allowed)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
