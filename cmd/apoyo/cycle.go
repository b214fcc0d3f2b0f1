package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/apoyo-cdmx/apoyo"
)

func printCycleStatus(a *cli, st apoyo.CycleStatusView) {
	p := st.Progress
	status := string(st.Cycle.Status)
	if st.Cycle.Status == apoyo.CycleClosed && st.Cycle.Cancelled() {
		status += " (cancelled: " + st.Cycle.CancelReason + ")"
	}
	fmt.Fprintf(a.out, "cycle     %s (%s) %s, as of %s\n", st.Cycle.ID, st.Cycle.Name, status, st.AsOf.Format("15:04:05 MST"))
	fmt.Fprintf(a.out, "cases     %d in roster, %d started, %d finished%s\n", st.Cycle.RosterSize, p.Started, p.Done,
		map[bool]string{true: "  PAUSED"}[p.Paused])
	fmt.Fprintf(a.out, "steps     %s\n", mapLine(st.Cases.ByStep))
	fmt.Fprintf(a.out, "outcomes  %s\n", mapLine(st.Cases.ByOutcome))
	fmt.Fprintf(a.out, "waiting   %s   overdue %d\n", mapLine(st.Cases.Waiting), st.Cases.Overdue)
	fmt.Fprintf(a.out, "money     committed %s  in transit %s  paid %s  returned %s MXN\n", st.Amounts["committed"].StringFixed(2),
		st.Amounts["in_transit"].StringFixed(2), st.Amounts["paid"].StringFixed(2), st.Amounts["returned"].StringFixed(2))
	funds := make([]string, 0, len(st.AmountsByFund))
	for f := range st.AmountsByFund {
		funds = append(funds, f)
	}
	sort.Strings(funds)
	for _, f := range funds {
		m := st.AmountsByFund[f]
		fmt.Fprintf(a.out, "  fund %-6s committed %s  in transit %s  paid %s  returned %s\n", f, m["committed"].StringFixed(2),
			m["in_transit"].StringFixed(2), m["paid"].StringFixed(2), m["returned"].StringFixed(2))
	}
	if len(st.OpenTasks) > 0 {
		fmt.Fprintf(a.out, "tasks     %s\n", mapLine(st.OpenTasks))
	}
}

func mapLine(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

func newCycleControlCmds(a *cli) []*cobra.Command {
	control := func(use, short string, do func(ctx context.Context, s *services, who apoyo.Identity, id string) (apoyo.CycleTransition, error)) *cobra.Command {
		return &cobra.Command{
			Use: use + " CYCLE_ID", Short: short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return a.withApp(cmd, true, func(ctx context.Context, s *services, who apoyo.Identity) error {
					tr, err := do(cmd.Context(), s, who, args[0])
					if err != nil {
						return err
					}
					// The database took the decision; the workflow applies it
					// within moments (control number tr.Seq).
					if tr.Applied {
						fmt.Fprintf(a.out, "cycle %s: %s (control %d)\n", args[0], tr.Cycle.Status, tr.Seq)
					} else {
						fmt.Fprintf(a.out, "cycle %s: already %s (control %d); nothing changed\n", args[0], tr.Cycle.Status, tr.Seq)
					}
					return nil
				})
			},
		}
	}
	var reason string
	cancel := control("cancel", "Cancel a cycle: no more cases start, unpaid cases stop cleanly, unspent reservation goes back to the budget",
		func(ctx context.Context, s *services, who apoyo.Identity, id string) (apoyo.CycleTransition, error) {
			return s.app.CancelCycle(ctx, who, id, reason)
		})
	cancel.Flags().StringVar(&reason, "reason", "cancelled by the programme manager", "reason recorded on every stopped case")

	var o output
	var watch bool
	var every time.Duration
	status := &cobra.Command{
		Use:   "status CYCLE_ID",
		Short: "Counts per step and outcome, amounts committed / in transit / paid / returned, overdue approvals and referrals",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.check("table", "json"); err != nil {
				return err
			}
			return a.withApp(cmd, true, func(ctx context.Context, s *services, who apoyo.Identity) error {
				if watch {
					return watchCycle(ctx, a, s, who, args[0], every)
				}
				st, err := s.app.CycleStatus(ctx, who, args[0])
				if err != nil {
					return err
				}
				if o.json() {
					return writeJSON(a.out, st)
				}
				printCycleStatus(a, st)
				return nil
			})
		},
	}
	o.add(status, "table or json")
	status.Flags().BoolVar(&watch, "watch", false, "show a live progress bar with rate and ETA until the cycle ends")
	status.Flags().DurationVar(&every, "every", time.Second, "refresh interval with --watch")

	return []*cobra.Command{
		control("pause", "Stop starting new cases", func(ctx context.Context, s *services, who apoyo.Identity, id string) (apoyo.CycleTransition, error) {
			return s.app.PauseCycle(ctx, who, id)
		}),
		control("resume", "Start cases again", func(ctx context.Context, s *services, who apoyo.Identity, id string) (apoyo.CycleTransition, error) {
			return s.app.ResumeCycle(ctx, who, id)
		}),
		cancel, status,
	}
}

// watchCycle draws a progress bar of finished cases until the cycle closes.
func watchCycle(ctx context.Context, a *cli, s *services, who apoyo.Identity, cycleID string, every time.Duration) error {
	st, err := s.app.CycleStatus(ctx, who, cycleID)
	if err != nil {
		return err
	}
	total := max(st.Cycle.RosterSize, st.Progress.Started, 1)
	bar := progressbar.NewOptions(total, progressbar.OptionSetWriter(a.errOut), progressbar.OptionSetDescription("cases finished"),
		progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("cases"),
		progressbar.OptionSetPredictTime(true), progressbar.OptionFullWidth(), progressbar.OptionThrottle(200*time.Millisecond))
	for {
		_ = bar.Set(st.Progress.Done)
		if st.Progress.Closed {
			_ = bar.Finish()
			fmt.Fprintln(a.errOut)
			printCycleStatus(a, st)
			return nil
		}
		select {
		case <-ctx.Done():
			fmt.Fprintln(a.errOut)
			return nil
		case <-time.After(every):
		}
		if st, err = s.app.CycleStatus(ctx, who, cycleID); err != nil {
			return err
		}
	}
}
