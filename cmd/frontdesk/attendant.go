package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/frontdesk-pbx/frontdesk/media"
	"github.com/frontdesk-pbx/frontdesk/pbx"
	"github.com/frontdesk-pbx/frontdesk/store"
)

func newScheduleCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "schedule", Short: "Manage business-hours schedules (for attendants and inbound numbers)"}
	var tz string
	var hours, holidays []string
	set := &cobra.Command{
		Use:   `set NAME --tz ZONE --hours "mon-fri 09:00-17:00" [--hours ...] [--holiday 2026-12-25 ...]`,
		Short: "Create or replace a schedule",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sc := store.Schedule{Name: args[0], Timezone: tz, Holidays: holidays}
			for _, h := range hours {
				spans, err := pbx.ParseHours(h)
				if err != nil {
					return err
				}
				sc.Hours = append(sc.Hours, spans...)
			}
			if err := pbx.CheckSchedule(&sc); err != nil {
				return err
			}
			return withStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				if err := st.SaveSchedule(ctx, sc); err != nil {
					return err
				}
				_ = st.Audit(ctx, "cli", "schedule.saved", "", 0, sc.Name)
				fmt.Fprintf(cmd.OutOrStdout(), "schedule %s saved (%d spans, %d holidays)\n", sc.Name, len(sc.Hours), len(sc.Holidays))
				return nil
			})
		},
	}
	set.Flags().StringVar(&tz, "tz", "UTC", "time zone, e.g. Europe/Berlin")
	set.Flags().StringArrayVar(&hours, "hours", nil, `opening hours, e.g. "mon-fri 09:00-17:00" (repeat)`)
	set.Flags().StringArrayVar(&holidays, "holiday", nil, "closed all day, YYYY-MM-DD (repeat)")
	var asJSON bool
	list := &cobra.Command{
		Use: "list [--json]", Short: "List schedules", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				names, err := st.Schedules(ctx)
				if err != nil {
					return err
				}
				var all []store.Schedule
				for _, n := range names {
					sc, err := st.Schedule(ctx, n)
					if err != nil {
						return err
					}
					all = append(all, sc)
				}
				if asJSON {
					return writeJSON(cmd.OutOrStdout(), all)
				}
				for _, sc := range all {
					var spans []string
					for _, h := range sc.Hours {
						spans = append(spans, pbx.Weekdays[h.Weekday]+" "+h.Opens+"-"+h.Closes)
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%s (%s): %s; holidays: %s\n", sc.Name, sc.Timezone, strings.Join(spans, ", "), strings.Join(sc.Holidays, ", "))
				}
				return nil
			})
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	rm := &cobra.Command{
		Use: "rm NAME", Short: "Remove a schedule", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				if err := st.RemoveSchedule(ctx, args[0]); err != nil {
					return friendly(err)
				}
				_ = st.Audit(ctx, "cli", "schedule.removed", "", 0, args[0])
				fmt.Fprintf(cmd.OutOrStdout(), "schedule %s removed\n", args[0])
				return nil
			})
		},
	}
	cmd.AddCommand(set, list, rm)
	return cmd
}

func newAttendantCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "attendant", Short: "Manage auto attendants (virtual receptionists)"}
	cmd.AddCommand(newAttendantSaveCommand(g, false), newAttendantSaveCommand(g, true), newAttendantListCommand(g), newAttendantRmCommand(g))
	return cmd
}

func newAttendantSaveCommand(g *globalFlags, update bool) *cobra.Command {
	var a store.Attendant
	var options []string
	var greetingFile, greetingText, afterFile string
	use := "add NUMBER --name NAME --option 1=group:700 [--option 5=vm:600 ...] [--greeting FILE.wav | --greeting-text TEXT] [--timeout-dest DEST] [--invalid-dest DEST] [--schedule NAME --after-hours DEST --after-hours-greeting FILE.wav]"
	short := "Add an auto attendant"
	if update {
		use, short = "set NUMBER [same flags as add]", "Change an auto attendant (given flags only; --option replaces all options)"
	}
	cmd := &cobra.Command{
		Use: use, Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := pbx.CheckNumber(args[0]); err != nil {
				return err
			}
			fl := cmd.Flags()
			return withStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				target := a
				if update {
					old, err := st.Attendant(ctx, args[0])
					if err != nil {
						return friendly(err)
					}
					for flag, field := range map[string][2]*string{
						"name": {&old.Name, &a.Name}, "timeout-dest": {&old.TimeoutDest, &a.TimeoutDest},
						"invalid-dest": {&old.InvalidDest, &a.InvalidDest}, "schedule": {&old.Schedule, &a.Schedule},
						"after-hours": {&old.AfterHoursDest, &a.AfterHoursDest},
					} {
						if fl.Changed(flag) {
							*field[0] = *field[1]
						}
					}
					target = old
				}
				target.Number = args[0]
				if !update || fl.Changed("option") {
					target.Options = map[string]string{}
					for _, o := range options {
						digit, dest, ok := strings.Cut(o, "=")
						if !ok || len(digit) != 1 || !strings.Contains(pbx.AttendantKeys, digit) {
							return fmt.Errorf("--option %q: want KEY=DEST, e.g. 1=group:700, 9=dial-by-extension, 0=repeat", o)
						}
						target.Options[digit] = dest
					}
				}
				if err := pbx.CheckAttendant(ctx, st, &target); err != nil {
					return err
				}
				var err error
				if target.Greeting, err = attendantAudio(cmd, g, fl.Changed("greeting") || fl.Changed("greeting-text"), greetingFile, greetingText, target.Number, target.Greeting); err != nil {
					return err
				}
				if target.AfterHoursGreeting, err = attendantAudio(cmd, g, fl.Changed("after-hours-greeting"), afterFile, "", target.Number+"-after", target.AfterHoursGreeting); err != nil {
					return err
				}
				if err := st.SaveAttendant(ctx, target, update); err != nil {
					return friendly(err)
				}
				_ = st.Audit(ctx, "cli", "attendant.saved", "", 0, target.Number)
				fmt.Fprintf(cmd.OutOrStdout(), "auto attendant %s (%s) saved with %d options\n", target.Number, target.Name, len(target.Options))
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&a.Name, "name", "", "name")
	fl.StringArrayVar(&options, "option", nil, "KEY=DEST: a destination, dial-by-extension or repeat (repeat the flag)")
	fl.StringVar(&greetingFile, "greeting", "", "greeting WAV file (default: a built-in welcome)")
	fl.StringVar(&greetingText, "greeting-text", "", "greeting text spoken by espeak-ng")
	fl.StringVar(&a.TimeoutDest, "timeout-dest", "", "where callers who press nothing go")
	fl.StringVar(&a.InvalidDest, "invalid-dest", "", "where callers who press a wrong key go (default: say so and repeat)")
	fl.StringVar(&a.Schedule, "schedule", "", "business-hours schedule")
	fl.StringVar(&a.AfterHoursDest, "after-hours", "", "destination outside business hours")
	fl.StringVar(&afterFile, "after-hours-greeting", "", "greeting WAV played outside business hours")
	return cmd
}

// attendantAudio stores a greeting given as a file or text, or keeps current.
func attendantAudio(cmd *cobra.Command, g *globalFlags, changed bool, file, text, prefix, current string) (string, error) {
	if !changed {
		return current, nil
	}
	var a media.Audio
	var err error
	switch {
	case file != "":
		a, err = media.ReadWAVFile(file)
	case text != "":
		a, err = pbx.Speak(cmd.Context(), text)
	default:
		return "", nil // cleared: the built-in prompt plays
	}
	if err != nil {
		return "", err
	}
	return pbx.StoreGreetingFile(g.dataDir, "attendant-"+prefix, a)
}

func newAttendantListCommand(g *globalFlags) *cobra.Command {
	return listCommand(g, "List auto attendants", (*store.Store).Attendants,
		"NUMBER\tNAME\tOPTIONS\tTIMEOUT\tSCHEDULE\tAFTER HOURS",
		func(a store.Attendant) string {
			var opts []string
			for d, dest := range a.Options {
				opts = append(opts, d+"="+dest)
			}
			sort.Strings(opts)
			return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", a.Number, a.Name, strings.Join(opts, " "), a.TimeoutDest, a.Schedule, a.AfterHoursDest)
		})
}

func newAttendantRmCommand(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use: "rm NUMBER", Short: "Remove an auto attendant", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				if err := st.RemoveAttendant(ctx, args[0]); err != nil {
					return friendly(err)
				}
				_ = st.Audit(ctx, "cli", "attendant.removed", "", 0, args[0])
				fmt.Fprintf(cmd.OutOrStdout(), "auto attendant %s removed\n", args[0])
				return nil
			})
		},
	}
}
