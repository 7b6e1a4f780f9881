package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/frontdesk-pbx/frontdesk/pbx"
	"github.com/frontdesk-pbx/frontdesk/store"
)

func newGroupCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "group", Short: "Manage ring groups (hunt groups)"}
	cmd.AddCommand(newGroupSaveCommand(g, false), newGroupListCommand(g), newGroupSaveCommand(g, true), newGroupRmCommand(g))
	return cmd
}

func newGroupSaveCommand(g *globalFlags, update bool) *cobra.Command {
	var grp store.RingGroup
	var members []string
	use, short := "add NUMBER --name NAME --members 101,102 [--strategy all|order] [--ring 20] [--timeout 60] [--no-answer vm:600]", "Add a ring group"
	if update {
		use, short = "set NUMBER [--name] [--members] [--strategy] [--ring] [--timeout] [--no-answer]", "Change a ring group"
	}
	cmd := &cobra.Command{
		Use: use, Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := pbx.CheckNumber(args[0]); err != nil {
				return err
			}
			return withStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				fl := cmd.Flags()
				target := grp
				if update {
					old, err := st.RingGroup(ctx, args[0])
					if err != nil {
						return friendly(err)
					}
					target = old
					if fl.Changed("name") {
						target.Name = grp.Name
					}
					if fl.Changed("strategy") {
						target.Strategy = grp.Strategy
					}
					if fl.Changed("ring") {
						target.RingSeconds = grp.RingSeconds
					}
					if fl.Changed("timeout") {
						target.Timeout = grp.Timeout
					}
					if fl.Changed("no-answer") {
						target.NoAnswer = grp.NoAnswer
					}
				}
				target.Number = args[0]
				if !update || fl.Changed("members") {
					target.Members = nil
					for _, m := range members {
						if m = strings.TrimSpace(m); m != "" {
							target.Members = append(target.Members, m)
						}
					}
				}
				if err := pbx.CheckRingGroup(ctx, st, &target); err != nil {
					return err
				}
				var err error
				if update {
					err = st.UpdateRingGroup(ctx, target)
				} else {
					err = st.AddRingGroup(ctx, target)
				}
				if err != nil {
					return friendly(err)
				}
				verb := "added"
				if update {
					verb = "updated"
				}
				_ = st.Audit(ctx, "cli", "group."+verb, "", 0, target.Number)
				fmt.Fprintf(cmd.OutOrStdout(), "ring group %s (%s) %s\n", target.Number, target.Name, verb)
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&grp.Name, "name", "", "name shown to callees as \"Name: caller\"")
	fl.StringSliceVar(&members, "members", nil, "extensions, in ringing order")
	fl.StringVar(&grp.Strategy, "strategy", "all", "all: ring everyone at once; order: one after another")
	fl.IntVar(&grp.RingSeconds, "ring", 20, "seconds to ring each member (order) or everyone (all)")
	fl.IntVar(&grp.Timeout, "timeout", 60, "seconds before the call goes to the no-answer destination")
	fl.StringVar(&grp.NoAnswer, "no-answer", "", "where unanswered calls go, e.g. vm:600")
	return cmd
}

func newGroupListCommand(g *globalFlags) *cobra.Command {
	return listCommand(g, "List ring groups", (*store.Store).RingGroups,
		"NUMBER\tNAME\tSTRATEGY\tRING\tTIMEOUT\tMEMBERS\tNO ANSWER",
		func(gr store.RingGroup) string {
			return fmt.Sprintf("%s\t%s\t%s\t%ds\t%ds\t%s\t%s", gr.Number, gr.Name, gr.Strategy, gr.RingSeconds, gr.Timeout, strings.Join(gr.Members, ","), gr.NoAnswer)
		})
}

func newGroupRmCommand(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use: "rm NUMBER", Short: "Remove a ring group", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				if err := st.RemoveRingGroup(ctx, args[0]); err != nil {
					return friendly(err)
				}
				_ = st.Audit(ctx, "cli", "group.removed", "", 0, args[0])
				fmt.Fprintf(cmd.OutOrStdout(), "ring group %s removed\n", args[0])
				return nil
			})
		},
	}
}

func newNumberCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "number", Short: "Manage inbound numbers (DIDs) arriving on trunks"}
	var n store.InboundNumber
	add := &cobra.Command{
		Use: "add NUMBER --to DEST [--after-hours DEST --schedule NAME]", Short: "Send calls for an inbound number to a destination",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n.Number = args[0]
			return withStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				if err := pbx.CheckInboundNumber(ctx, st, &n); err != nil {
					return err
				}
				if err := st.SaveInboundNumber(ctx, n); err != nil {
					return friendly(err)
				}
				_ = st.Audit(ctx, "cli", "number.saved", "", 0, n.Number+" -> "+n.Dest)
				fmt.Fprintf(cmd.OutOrStdout(), "inbound number %s -> %s\n", n.Number, n.Dest)
				return nil
			})
		},
	}
	add.Flags().StringVar(&n.Dest, "to", "", "destination: ext:101, group:700, vm:600, attendant:800")
	add.Flags().StringVar(&n.AfterHoursDest, "after-hours", "", "destination outside the schedule's hours")
	add.Flags().StringVar(&n.Schedule, "schedule", "", "business-hours schedule for --after-hours")
	list := listCommand(g, "List inbound numbers", (*store.Store).InboundNumbers,
		"NUMBER	TO	SCHEDULE	AFTER HOURS",
		func(x store.InboundNumber) string {
			return fmt.Sprintf("%s	%s	%s	%s", x.Number, x.Dest, x.Schedule, x.AfterHoursDest)
		})
	rm := &cobra.Command{
		Use: "rm NUMBER", Short: "Remove an inbound number", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				if err := st.RemoveInboundNumber(ctx, args[0]); err != nil {
					return friendly(err)
				}
				_ = st.Audit(ctx, "cli", "number.removed", "", 0, args[0])
				fmt.Fprintf(cmd.OutOrStdout(), "inbound number %s removed\n", args[0])
				return nil
			})
		},
	}
	cmd.AddCommand(add, list, rm)
	return cmd
}

func newDialRuleCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "dialrule", Short: "Manage outbound dial rules (which trunk a dialled number leaves by)"}
	var r store.DialRule
	add := &cobra.Command{
		Use:   "add PREFIX --trunk NAME --class local|national|international|emergency [--strip N] [--prepend DIGITS]",
		Short: `Send numbers starting with PREFIX out through a trunk ("" matches any number)`,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r.Prefix = args[0]
			return withStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				if err := pbx.CheckDialRule(ctx, st, &r); err != nil {
					return err
				}
				if err := st.SaveDialRule(ctx, r); err != nil {
					return friendly(err)
				}
				_ = st.Audit(ctx, "cli", "dialrule.saved", "", 0, fmt.Sprintf("%q -> %s (%s)", r.Prefix, r.Trunk, r.Class))
				fmt.Fprintf(cmd.OutOrStdout(), "dial rule %q -> trunk %s (%s)\n", r.Prefix, r.Trunk, r.Class)
				return nil
			})
		},
	}
	add.Flags().StringVar(&r.Trunk, "trunk", "", "trunk name")
	add.Flags().StringVar(&r.Class, "class", "national", "local, national, international or emergency (checked against each extension's --outbound)")
	add.Flags().IntVar(&r.Strip, "strip", 0, "digits to remove from the front (e.g. 1 for a 9 to dial out)")
	add.Flags().StringVar(&r.Prepend, "prepend", "", "digits to add in front after stripping")
	list := listCommand(g, "List dial rules, in the order they are tried", (*store.Store).DialRules,
		"PREFIX	TRUNK	CLASS	STRIP	PREPEND",
		func(x store.DialRule) string {
			return fmt.Sprintf("%q	%s	%s	%d	%s", x.Prefix, x.Trunk, x.Class, x.Strip, x.Prepend)
		})
	rm := &cobra.Command{
		Use: "rm PREFIX", Short: "Remove a dial rule", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				if err := st.RemoveDialRule(ctx, args[0]); err != nil {
					return friendly(err)
				}
				_ = st.Audit(ctx, "cli", "dialrule.removed", "", 0, fmt.Sprintf("%q", args[0]))
				fmt.Fprintf(cmd.OutOrStdout(), "dial rule %q removed\n", args[0])
				return nil
			})
		},
	}
	cmd.AddCommand(add, list, rm)
	return cmd
}
