package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/app"
	"github.com/apoyo-cdmx/apoyo/platform/devstack"
)

func newDevCmd(a *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the local stack: PostgreSQL, Temporal server and UI, sandbox bank, worker, web console and HTTP API, in one process",
		Long: `dev runs everything a newcomer needs in one process, keeping its state in
--data-dir (default .apoyo) so that a restart picks up where it stopped:
a private PostgreSQL cluster (or APOYO_DATABASE_URL), an in-process Temporal
server on a fixed port (default 7233) with its Web UI (default 8233), the
sandbox bank, the apoyo worker, and the web console with the HTTP API
(console at /, API at /api/v1/ on api.address, default
127.0.0.1:8080, or a free port if that one is taken).

It also creates local users: an administrator and one user per role
(dev.manager, dev.caseworker, dev.styfe, dev.sibiso, dev.sedesa,
dev.auditor), with API tokens kept in --data-dir/dev-users.json. Other
apoyo commands run with the same --data-dir find the stack by themselves
and act as one of these users with --as (apoyo --as caseworker case tasks).
Ctrl-C stops everything.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, err := devstack.Start(ctx, a.cfg, a.log)
			if err != nil {
				return err
			}
			defer s.Stop()
			// The worker, the API and the local users share one pool and
			// one Temporal client.
			svc, err := a.open(ctx, true)
			if err != nil {
				return err
			}
			defer svc.close()
			stopWorker, err := a.startWorker(ctx, svc, s)
			if err != nil {
				return err
			}
			defer stopWorker()
			users, err := a.ensureDevUsers(ctx, svc)
			if err != nil {
				return err
			}
			apiAddr, stopAPI, err := a.startAPI(ctx, svc)
			if err != nil {
				a.log.Warn("api address taken; serving on a free port", "address", a.cfg.API.Address, "err", err)
				cfg := a.cfg
				a.cfg.API.Address = "127.0.0.1:0"
				apiAddr, stopAPI, err = a.startAPI(ctx, svc)
				a.cfg = cfg
				if err != nil {
					return err
				}
			}
			defer stopAPI()
			if err := s.SetAPIURL("http://" + apiAddr); err != nil {
				return err
			}
			w := a.out
			fmt.Fprintf(w, "postgres   %s\n", redactURL(s.Info.DatabaseURL))
			fmt.Fprintf(w, "temporal   %s (namespace %s)\n", s.Info.TemporalAddress, s.Info.Namespace)
			if s.Info.UIAddress != "" {
				fmt.Fprintf(w, "temporal-ui %s (payloads decoded by the codec server at %s)\n", s.Info.UIAddress, s.Info.CodecURL)
			}
			fmt.Fprintf(w, "bank       %s\n", s.Info.BankURL)
			fmt.Fprintf(w, "console    http://%s/ (sign in with a user's token below; Spanish first, English at the top right)\n", apiAddr)
			fmt.Fprintf(w, "api        http://%s/api/v1/ (OpenAPI document at http://%s/openapi.json)\n", apiAddr, apiAddr)
			fmt.Fprintf(w, "data-dir   %s\n", a.cfg.DataDir)
			fmt.Fprintf(w, "users      local stack only; tokens in %s\n", devstack.DevUsersFile(a.cfg.DataDir))
			for _, u := range users {
				role := string(u.Role)
				if u.Secretariat != "" {
					role += " " + string(u.Secretariat)
				}
				fmt.Fprintf(w, "  %-15s %-22s token %s   (apoyo --as %s …)\n", u.Name, role, u.Token, asName(u))
			}
			fmt.Fprintln(w, "apoyo dev ready (Ctrl-C to stop)")
			<-ctx.Done()
			fmt.Fprintln(w, "apoyo dev stopping")
			return nil
		},
	}
	cmd.Flags().Int("temporal-port", 0, "Temporal frontend port (default 7233)")
	cmd.Flags().Int("ui-port", 0, "Temporal Web UI port, 0 = default 8233 (set dev.ui_port: 0 in the config file to disable)")
	cmd.Flags().Int("bank-port", 0, "sandbox bank port (default: a free port, remembered)")
	cmd.Flags().String("address", "", "HTTP API address (default api.address, 127.0.0.1:8080)")
	return cmd
}

// devUsers are the local stack's users: an administrator and one per role.
var devUsers = []apoyo.NewUser{
	{Name: "dev.admin", Role: apoyo.RoleAdmin},
	{Name: "dev.manager", Role: apoyo.RoleProgramManager},
	{Name: "dev.caseworker", Role: apoyo.RoleCaseworker},
	{Name: "dev.styfe", Role: apoyo.RoleApprover, Secretariat: apoyo.STyFE},
	{Name: "dev.sibiso", Role: apoyo.RoleApprover, Secretariat: apoyo.SIBISO},
	{Name: "dev.sedesa", Role: apoyo.RoleApprover, Secretariat: apoyo.SEDESA},
	{Name: "dev.auditor", Role: apoyo.RoleAuditor},
}

func asName(u devstack.DevUser) string { return u.Name[len("dev."):] }

// ensureDevUsers makes sure the local stack's users exist and that
// dev-users.json holds a working token for each, creating what is missing
// as apoyo itself (apoyo.System("dev-setup"), in the audit log like
// anyone). A token that still works and has a day left is kept.
func (a *cli) ensureDevUsers(ctx context.Context, s *services) ([]devstack.DevUser, error) {
	saved, err := devstack.LoadDevUsers(a.cfg.DataDir)
	if err != nil {
		a.log.Warn("local users file unreadable; making new tokens", "err", err)
	}
	good := map[string]devstack.DevUser{}
	for _, u := range saved {
		if time.Until(u.ExpiresAt) < 24*time.Hour {
			continue
		}
		if id, err := s.accounts.Authenticate(ctx, u.Token); err == nil && id.Name == u.Name && id.Role == u.Role {
			good[u.Name] = u
		}
	}
	sys := apoyo.System("dev-setup")
	if _, err := app.EnsureUsers(ctx, s.app, sys, devUsers); err != nil {
		return nil, err
	}
	var out []devstack.DevUser
	for _, nu := range devUsers {
		if u, ok := good[nu.Name]; ok {
			out = append(out, u)
			continue
		}
		t, err := s.app.CreateToken(ctx, sys, nu.Name, a.cfg.Auth.TokenTTL)
		if err != nil {
			return nil, err
		}
		out = append(out, devstack.DevUser{Name: nu.Name, Role: nu.Role, Secretariat: nu.Secretariat, Token: t.Secret, ExpiresAt: t.ExpiresAt})
	}
	return out, devstack.SaveDevUsers(a.cfg.DataDir, out)
}
