package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shopspring/decimal"
	"github.com/spf13/cobra"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/program"
)

func newProgramCmd(a *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "program", Short: "Define programmes: benefit, budget and funds, eligibility, approvers, referrals"}

	var o output
	var name, file, budget, amount string
	var quorum int
	var sla, review string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a programme (its ledger accounts and fund deposits with it) and print it with its id",
		Example: `  apoyo program create --name "Ingreso Inclusivo 2026" --budget 5600000
  apoyo program create -f programme.yaml -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.check("table", "json"); err != nil {
				return err
			}
			var spec apoyo.ProgramSpec
			if file != "" {
				f, err := os.Open(file)
				if err != nil {
					return err
				}
				defer f.Close()
				if spec, err = program.LoadSpecYAML(f); err != nil {
					return err
				}
			}
			if name != "" {
				spec.Name = name
			}
			if amount != "" {
				d, err := decimal.NewFromString(amount)
				if err != nil {
					return apoyo.Errorf(apoyo.EINVALID, "cli.amount", "--amount %q is not a number", amount).At(0, "amount")
				}
				spec.BenefitAmount = &d
			}
			if budget != "" {
				d, err := decimal.NewFromString(budget)
				if err != nil {
					return apoyo.Errorf(apoyo.EINVALID, "cli.budget", "--budget %q is not a number", budget).At(0, "budget")
				}
				spec.Funds = program.DefaultFunds(d)
			}
			if cmd.Flags().Changed("quorum") {
				spec.Approval.Quorum = &quorum
			}
			for flag, dst := range map[string]**time.Duration{"sla": &spec.Approval.SLA, "review-deadline": &spec.Identity.ReviewDeadline} {
				v, _ := cmd.Flags().GetString(flag)
				if v == "" {
					continue
				}
				d, err := program.ParseDuration(v)
				if err != nil {
					return apoyo.Errorf(apoyo.EINVALID, "cli.duration", "--%s %q: %v", flag, v, err)
				}
				*dst = &d
			}
			return a.withApp(cmd, false, func(ctx context.Context, s *services, who apoyo.Identity) error {
				p, err := s.app.CreateProgram(cmd.Context(), who, spec)
				if err != nil {
					return err
				}
				if o.json() {
					return writeJSON(a.out, p)
				}
				printProgram(a, p)
				return nil
			})
		},
	}
	o.add(create, "table or json")
	create.Flags().StringVar(&name, "name", "", "programme name (unique)")
	create.Flags().StringVarP(&file, "file", "f", "", "programme definition (YAML)")
	create.Flags().StringVar(&budget, "budget", "", "total budget in MXN, split over the default funds (city 60%, GCF 25%, UN 15%)")
	create.Flags().StringVar(&amount, "amount", "", "benefit per person per cycle (default 5600.00)")
	create.Flags().IntVar(&quorum, "quorum", 0, "approvals needed (default: all required secretariats)")
	create.Flags().StringVar(&sla, "sla", "", "approval deadline per secretariat (default 5d)")
	create.Flags().StringVar(&review, "review-deadline", "", "identity review deadline (default 7d)")

	var lo output
	list := &cobra.Command{
		Use:   "list",
		Short: "List programmes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withApp(cmd, false, func(ctx context.Context, s *services, who apoyo.Identity) error {
				ps, err := s.app.Programs(cmd.Context(), who)
				if err != nil {
					return err
				}
				if lo.json() {
					return writeJSON(a.out, ps)
				}
				tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tBENEFIT\tBUDGET")
				for _, p := range ps {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.ID, p.Name, p.BenefitAmount.StringFixed(2), p.TotalBudget().StringFixed(2))
				}
				return tw.Flush()
			})
		},
	}
	lo.add(list, "table or json")
	cmd.AddCommand(create, list)
	return cmd
}

func printProgram(a *cli, p apoyo.Program) {
	fmt.Fprintf(a.out, "id        %s\nname      %s\nbenefit   %s %s\n", p.ID, p.Name, p.BenefitAmount.StringFixed(2), p.Currency)
	for _, f := range p.Funds {
		fmt.Fprintf(a.out, "fund      %-8s %14s  %s\n", f.Code, f.Budget.StringFixed(2), f.Name)
	}
	req := make([]string, len(p.Approval.Required))
	for i, s := range p.Approval.Required {
		req[i] = string(s)
	}
	fmt.Fprintf(a.out, "approval  %d of %s, SLA %s\n", p.Approval.Quorum, strings.Join(req, ", "), program.FormatDuration(p.Approval.SLA))
}

func newBeneficiariesCmd(a *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "beneficiaries", Short: "The programme's roster"}
	var o output
	var prog string
	var dry bool
	imp := &cobra.Command{
		Use:   "import FILE.csv",
		Short: "Import a roster CSV (streamed): valid rows are stored, every bad row is reported by row and field",
		Long: `import validates every row (CURP and CLABE check digits, alcaldía, documents,
phone, email, dates…), stores the valid ones with their personal data
encrypted, skips people already enrolled (same CURP, or same document) and
flags a CLABE shared by two people for review. Rows are numbered as in the
file (header = row 1). Importing the same file again changes nothing.
Exit status 0 when every row was accepted or a duplicate, 1 otherwise.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.check("table", "json"); err != nil {
				return err
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			return a.withApp(cmd, false, func(ctx context.Context, s *services, who apoyo.Identity) error {
				rep, err := s.app.ImportRoster(cmd.Context(), who, prog, f, apoyo.ImportOptions{DryRun: dry})
				if err != nil {
					return err
				}
				if o.json() {
					if err := writeJSON(a.out, rep); err != nil {
						return err
					}
				} else {
					fmt.Fprintf(a.out, "accepted %d, rejected %d, duplicates %d, flagged %d%s\n", rep.Accepted, rep.Rejected, rep.Duplicates, rep.Flagged, map[bool]string{true: " (dry run: nothing stored)"}[dry])
					if rep.Transcoded != "" {
						fmt.Fprintf(a.out, "the file was read as %s and converted to UTF-8; save it as \"CSV UTF-8\" next time\n", rep.Transcoded)
					}
					for _, e := range rep.Errors {
						fmt.Fprintf(a.out, "row %d  %-18s %-22s %s\n", e.Row, e.Field, e.ValueHint, e.Message)
					}
					for _, f := range rep.Flags {
						fmt.Fprintf(a.out, "row %d  %-18s flagged: %s\n", f.Row, f.Field, f.Message)
					}
				}
				if rep.Rejected > 0 {
					return errSilent
				}
				return nil
			})
		},
	}
	o.add(imp, "table or json")
	imp.Flags().StringVar(&prog, "program", "", "programme id or name (required)")
	imp.Flags().BoolVar(&dry, "dry-run", false, "validate and report, store nothing")
	_ = imp.MarkFlagRequired("program")
	cmd.AddCommand(imp)
	return cmd
}
