package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/apoyo-cdmx/apoyo"
)

func newUserCmd(a *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Users and their roles (administrators only)"}
	var o output
	var nu apoyo.NewUser
	var sec, role string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a user with one role: program_manager, caseworker, approver (with --secretariat), auditor or admin",
		Long: `create makes a user. Every action in apoyo is taken by a named user, and a
user has exactly one role; an approver is bound to exactly one secretariat.

Only an administrator creates users, except the very first administrator:
while no administrator exists, whoever runs this command on the server
(holding the database's address and keys) may create one, and gets its
first API token, shown once. That bootstrap is in the audit log too.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.check("table", "json"); err != nil {
				return err
			}
			nu.Role, nu.Secretariat = apoyo.Role(strings.ToLower(role)), apoyo.Secretariat(strings.ToUpper(sec))
			ctx := cmd.Context()
			s, err := a.open(ctx, false)
			if err != nil {
				return err
			}
			defer s.close()
			who, err := a.who(ctx, s)
			bootstrap := false
			if err != nil {
				admins, aerr := s.accounts.ActiveAdmins(ctx)
				if aerr != nil {
					return aerr
				}
				if admins > 0 || nu.Role != apoyo.RoleAdmin {
					return err
				}
				who, bootstrap = apoyo.System("bootstrap"), true
			}
			u, err := s.app.CreateUser(ctx, who, nu)
			if err != nil {
				return err
			}
			var tok *apoyo.NewToken
			if bootstrap {
				t, err := s.app.CreateToken(ctx, who, u.Name, a.cfg.Auth.TokenTTL)
				if err != nil {
					return err
				}
				tok = &t
			}
			if o.json() {
				return writeJSON(a.out, map[string]any{"user": u, "token": tok})
			}
			fmt.Fprintf(a.out, "user %s (%s) created: %s%s\n", u.Name, u.ID, u.Role, secretariatSuffix(u.Secretariat))
			if tok != nil {
				fmt.Fprintf(a.out, "first administrator: its token (shown once, valid until %s):\n%s\n", tok.ExpiresAt.Format(time.DateOnly), tok.Secret)
			} else {
				fmt.Fprintf(a.out, "give them a token: apoyo token create --user %s\n", u.Name)
			}
			return nil
		},
	}
	o.add(create, "table or json")
	create.Flags().StringVar(&nu.Name, "name", "", "login name, lower case (maria.lopez)")
	create.Flags().StringVar(&role, "role", "", "program_manager, caseworker, approver, auditor or admin")
	create.Flags().StringVar(&sec, "secretariat", "", "an approver's secretariat: STYFE, SIBISO or SEDESA")
	_ = create.MarkFlagRequired("name")
	_ = create.MarkFlagRequired("role")

	var lo output
	list := &cobra.Command{
		Use: "list", Short: "List users", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withApp(cmd, false, func(ctx context.Context, s *services, who apoyo.Identity) error {
				us, err := s.app.Users(cmd.Context(), who)
				if err != nil {
					return err
				}
				if lo.json() {
					return writeJSON(a.out, us)
				}
				tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tID\tROLE\tSECRETARIAT\tDISABLED")
				for _, u := range us {
					disabled := ""
					if u.DisabledAt != nil {
						disabled = u.DisabledAt.UTC().Format(time.RFC3339)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Name, u.ID, u.Role, u.Secretariat, disabled)
				}
				return tw.Flush()
			})
		},
	}
	lo.add(list, "table or json")

	disable := &cobra.Command{
		Use: "disable NAME", Short: "Disable a user and revoke their tokens", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withApp(cmd, false, func(ctx context.Context, s *services, who apoyo.Identity) error {
				u, err := s.app.DisableUser(cmd.Context(), who, args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(a.out, "user %s disabled; their tokens are revoked\n", u.Name)
				return nil
			})
		},
	}
	cmd.AddCommand(create, list, disable)
	return cmd
}

func secretariatSuffix(s apoyo.Secretariat) string {
	if s == "" {
		return ""
	}
	return " for " + string(s)
}

func newTokenCmd(a *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "API tokens (administrators only): shown once, stored hashed, revocable, with an expiry"}
	var o output
	var user string
	var ttl time.Duration
	create := &cobra.Command{
		Use: "create", Short: "Create an API token for a user; its secret is printed once and never stored", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.check("table", "json"); err != nil {
				return err
			}
			return a.withApp(cmd, false, func(ctx context.Context, s *services, who apoyo.Identity) error {
				if ttl == 0 {
					ttl = a.cfg.Auth.TokenTTL
				}
				t, err := s.app.CreateToken(cmd.Context(), who, user, ttl)
				if err != nil {
					return err
				}
				if o.json() {
					return writeJSON(a.out, t)
				}
				fmt.Fprintf(a.out, "token %s for %s, valid until %s (shown once):\n%s\n", t.ID, t.UserName, t.ExpiresAt.UTC().Format(time.RFC3339), t.Secret)
				return nil
			})
		},
	}
	o.add(create, "table or json")
	create.Flags().StringVar(&user, "user", "", "the user's name (required)")
	create.Flags().DurationVar(&ttl, "ttl", 0, "how long it is valid (default auth.token_ttl, 2160h)")
	_ = create.MarkFlagRequired("user")

	var lo output
	var luser string
	list := &cobra.Command{
		Use: "list", Short: "A user's tokens (never their secrets)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withApp(cmd, false, func(ctx context.Context, s *services, who apoyo.Identity) error {
				ts, err := s.app.Tokens(cmd.Context(), who, luser)
				if err != nil {
					return err
				}
				if lo.json() {
					return writeJSON(a.out, ts)
				}
				tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tUSER\tCREATED\tEXPIRES\tREVOKED")
				for _, t := range ts {
					revoked := ""
					if t.RevokedAt != nil {
						revoked = t.RevokedAt.UTC().Format(time.RFC3339)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.UserName, t.CreatedAt.UTC().Format(time.RFC3339), t.ExpiresAt.UTC().Format(time.RFC3339), revoked)
				}
				return tw.Flush()
			})
		},
	}
	lo.add(list, "table or json")
	list.Flags().StringVar(&luser, "user", "", "the user's name (required)")
	_ = list.MarkFlagRequired("user")

	revoke := &cobra.Command{
		Use: "revoke TOKEN_ID", Short: "Revoke a token (revoking it again changes nothing)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withApp(cmd, false, func(ctx context.Context, s *services, who apoyo.Identity) error {
				t, err := s.app.RevokeToken(cmd.Context(), who, args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(a.out, "token %s of %s revoked\n", t.ID, t.UserName)
				return nil
			})
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func newAuditCmd(a *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "The audit log: who did what, and who read whose data for what purpose (auditors)"}
	var vo output
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Re-derive the audit log's hash chain: exit 0 if it holds, 1 naming the first bad entry",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := vo.check("table", "json"); err != nil {
				return err
			}
			return a.withApp(cmd, false, func(ctx context.Context, s *services, who apoyo.Identity) error {
				rep, err := s.app.VerifyAudit(cmd.Context(), who)
				if err != nil {
					return err
				}
				if vo.json() {
					if err := writeJSON(a.out, rep); err != nil {
						return err
					}
				} else if rep.OK {
					fmt.Fprintf(a.out, "audit log verified: OK (%d entries, head %d %s)\n", rep.Entries, rep.Head.Seq, rep.Head.Hash)
				} else {
					fmt.Fprintf(a.out, "audit log verification FAILED: first bad entry %d: %s\n", rep.FirstBad, rep.Problem)
				}
				if !rep.OK {
					return fmt.Errorf("%w", errSilent)
				}
				return nil
			})
		},
	}
	vo.add(verify, "table or json")

	var ho output
	head := &cobra.Command{
		Use:   "head",
		Short: "Print the chain's head (seq, hash, time): publish it or have it countersigned, and any later rewrite shows",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withApp(cmd, false, func(ctx context.Context, s *services, who apoyo.Identity) error {
				h, err := s.app.AuditHead(cmd.Context(), who)
				if err != nil {
					return err
				}
				if ho.json() {
					return writeJSON(a.out, h)
				}
				fmt.Fprintf(a.out, "%d %s %s\n", h.Seq, h.Hash, h.At.UTC().Format(time.RFC3339Nano))
				return nil
			})
		},
	}
	ho.add(head, "table or json")

	var lo output
	var f apoyo.AuditFilter
	var since string
	log := &cobra.Command{
		Use:   "log",
		Short: "Read the audit log: --actor, --action, --target, --outcome, --since, paged with --after",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if since != "" {
				t, err := time.Parse(time.RFC3339, since)
				if err != nil {
					return apoyo.Errorf(apoyo.EINVALID, "cli.since", "--since %q: use an RFC 3339 time (2026-11-23T10:00:00Z)", since)
				}
				f.Since = t
			}
			return a.withApp(cmd, false, func(ctx context.Context, s *services, who apoyo.Identity) error {
				es, err := s.app.AuditEntries(cmd.Context(), who, f)
				if err != nil {
					return err
				}
				if lo.json() {
					return writeJSON(a.out, es)
				}
				tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "SEQ\tTIME\tACTOR\tROLE\tACTION\tOUTCOME\tTARGETS\tPURPOSE")
				for _, e := range es {
					role := string(e.Role)
					if e.Secretariat != "" {
						role += ":" + string(e.Secretariat)
					}
					outcome := string(e.Outcome)
					if e.ErrorReason != "" {
						outcome += " (" + e.ErrorReason + ")"
					}
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.At.UTC().Format(time.RFC3339), e.ActorName, role, e.Action, outcome,
						strings.Join(e.Targets, " "), e.Purpose)
				}
				return tw.Flush()
			})
		},
	}
	lo.add(log, "table or json")
	log.Flags().StringVar(&f.ActorID, "actor", "", "the actor's user id")
	log.Flags().StringVar((*string)(&f.Action), "action", "", "an action (cycle.launch, approval.roster.sign, beneficiary.personal_data.read, …)")
	log.Flags().StringVar(&f.Target, "target", "", "an id the entry names (a case, a cycle, a beneficiary)")
	log.Flags().StringVar((*string)(&f.Outcome), "outcome", "", "ok, failed or denied")
	log.Flags().StringVar(&since, "since", "", "entries from this time on (RFC 3339)")
	log.Flags().Int64Var(&f.After, "after", 0, "entries after this seq")
	log.Flags().IntVar(&f.Limit, "limit", 100, "at most this many (up to 1000)")

	cmd.AddCommand(verify, head, log)
	return cmd
}
