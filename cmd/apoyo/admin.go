package main

import (
	"fmt"
	"net/url"
	"sort"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/apoyo-cdmx/apoyo/config"
	"github.com/apoyo-cdmx/apoyo/platform/migrations"
)

func newMigrateCmd(a *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply the database migrations (embedded in the binary)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			dbURL, stop, err := a.databaseURL(ctx)
			if err != nil {
				return err
			}
			defer stop()
			from, to, err := migrations.MigrateURL(ctx, dbURL)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out, "schema version %d → %d\n", from, to)
			return nil
		},
	}
}

func newConfigCmd(a *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Inspect the configuration"}
	var o output
	show := &cobra.Command{
		Use:   "show",
		Short: "Print the effective configuration (file, environment, flags and defaults merged), secrets masked",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.check("yaml", "json", "table"); err != nil {
				return err
			}
			m := a.cfg.Masked()
			if o.json() {
				return writeJSON(a.out, nest(m))
			}
			if o.format == "yaml" {
				return yaml.NewEncoder(a.out).Encode(nest(m))
			}
			keys := config.Keys()
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(a.out, "%-24s %-28v %s\n", k, m[k], config.EnvName(k))
			}
			return nil
		},
	}
	o.add(show, "table, yaml or json")
	cmd.AddCommand(show)
	return cmd
}

// nest turns "a.b" keys into nested maps for YAML/JSON output.
func nest(flat map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range flat {
		m := out
		parts := splitKey(k)
		for _, p := range parts[:len(parts)-1] {
			sub, ok := m[p].(map[string]any)
			if !ok {
				sub = map[string]any{}
				m[p] = sub
			}
			m = sub
		}
		m[parts[len(parts)-1]] = v
	}
	return out
}

func splitKey(k string) []string {
	var parts []string
	start := 0
	for i := 0; i < len(k); i++ {
		if k[i] == '.' {
			parts = append(parts, k[start:i])
			start = i + 1
		}
	}
	return append(parts, k[start:])
}

// redactURL hides a password in a connection URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	return u.Redacted()
}
