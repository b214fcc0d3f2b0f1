package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/api"
	"github.com/apoyo-cdmx/apoyo/app"
	"github.com/apoyo-cdmx/apoyo/console"
)

// startAPI serves the HTTP API on the configured address until ctx ends;
// it returns the address it listens on and a stop function.
func (a *cli) startAPI(ctx context.Context, s *services) (string, func(), error) {
	auth, err := a.authenticator(ctx, s)
	if err != nil {
		return "", nil, err
	}
	srv := &api.Server{App: s.app, Auth: auth, Logger: a.log.With("component", "api"), MaxBody: a.cfg.API.MaxBody, MaxUpload: a.cfg.API.MaxUpload}
	con := &console.Server{App: s.app, Auth: auth, Logger: a.log.With("component", "console"), MaxUpload: a.cfg.API.MaxUpload,
		SecureCookies: a.cfg.API.SecureCookies, Can: func(who apoyo.Identity, act apoyo.Action) bool { return app.Allowed(who, act) == nil }}
	if a.cfg.Auth.OIDCIssuer != "" && a.cfg.Auth.OIDCConsoleRedirect != "" {
		con.OIDC, err = console.NewOIDCLogin(ctx, console.OIDCLoginConfig{Issuer: a.cfg.Auth.OIDCIssuer, ClientID: a.cfg.Auth.OIDCAudience,
			ClientSecret: a.cfg.Auth.OIDCClientSecret, RedirectURL: a.cfg.Auth.OIDCConsoleRedirect})
		if err != nil {
			return "", nil, err
		}
	}
	consoleHandler, err := con.Handler()
	if err != nil {
		return "", nil, err
	}
	// One listener: the API under /api/v1/ (and its /healthz and
	// /openapi.json), Prometheus's /metrics, the console everywhere else.
	apiHandler := srv.Handler()
	mux := http.NewServeMux()
	mux.Handle("/api/", apiHandler)
	mux.Handle("/healthz", apiHandler)
	mux.Handle("/openapi.json", apiHandler)
	mux.Handle("/metrics", s.metrics.Handler())
	mux.Handle("/", consoleHandler)
	l, err := net.Listen("tcp", a.cfg.API.Address)
	if err != nil {
		return "", nil, fmt.Errorf("api: listening on %s: %w", a.cfg.API.Address, err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := hs.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("api stopped", "err", err)
		}
	}()
	stop := func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}
	return l.Addr().String(), stop, nil
}

func newServeCmd(a *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the web console (/) and the HTTP API (JSON under /api/v1/, OpenAPI document at /openapi.json) on api.address",
		Long: `serve runs the web console and the HTTP API against database.url and temporal.address (or the
local stack's). Every request carries a bearer token: one of apoyo's own
API tokens (apoyo token create), or a token of the configured OIDC issuer
(auth.oidc_issuer). Ctrl-C stops it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, err := a.open(ctx, true)
			if err != nil {
				return err
			}
			defer s.close()
			addr, stop, err := a.startAPI(ctx, s)
			if err != nil {
				return err
			}
			defer stop()
			fmt.Fprintf(a.out, "console    http://%s/\n", addr)
			fmt.Fprintf(a.out, "api        http://%s/api/v1/ (OpenAPI: http://%s/openapi.json)\n", addr, addr)
			<-ctx.Done()
			return nil
		},
	}
	cmd.Flags().String("address", "", "listen address (default api.address, 127.0.0.1:8080)")
	return cmd
}
