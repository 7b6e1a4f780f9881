package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/frontdesk-pbx/frontdesk/media"
	"github.com/frontdesk-pbx/frontdesk/pbx"
	"github.com/frontdesk-pbx/frontdesk/store"
)

func newVMCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "vm",
		Short: "Manage voicemail boxes (shared and personal)",
	}
	members := &cobra.Command{Use: "members", Short: "Manage who shares a box"}
	members.AddCommand(newVMMembersAddCommand(g), newVMMembersRmCommand(g))
	greeting := &cobra.Command{Use: "greeting", Short: "Set a box's greeting"}
	greeting.AddCommand(newVMGreetingSetCommand(g), newVMGreetingSayCommand(g))
	cmd.AddCommand(newVMAddCommand(g), newVMListCommand(g), newVMSetCommand(g), newVMRmCommand(g), members, greeting, newVMMessagesCommand(g), newVMSearchCommand(g))
	return cmd
}

// boxFlags are the settings vm add and vm set share.
type boxFlags struct {
	name, pin, language, operator string
	emails                        []string
	attach, transcribe            bool
	transcribeLang                string
	maxSeconds, silenceSeconds    int
}

func (f *boxFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.name, "name", "", "name of the box")
	fl.StringVar(&f.pin, "pin", "", "PIN for *56, 4 to 10 digits")
	fl.StringSliceVar(&f.emails, "email", nil, "addresses told of new messages (repeat or comma-separate; empty to clear)")
	fl.BoolVar(&f.attach, "attach", true, "attach the audio to emails (else a notice only)")
	fl.StringVar(&f.language, "language", "en", "prompt language")
	fl.StringVar(&f.operator, "operator", "", "destination for 0 during the greeting, e.g. ext:100")
	fl.IntVar(&f.maxSeconds, "max-seconds", 180, "longest message, in seconds")
	fl.IntVar(&f.silenceSeconds, "silence-seconds", 5, "silence after speech that ends a message, in seconds (0: off)")
	fl.BoolVar(&f.transcribe, "transcribe", true, "transcribe new messages")
	fl.StringVar(&f.transcribeLang, "transcribe-language", "auto", "language of the messages: auto, or a code such as en or de")
}

// update turns the flags the user gave into a store update, checked by the
// rules the web admin portal uses too (pbx.BoxChange).
func (f *boxFlags) update(cmd *cobra.Command) (store.BoxUpdate, error) {
	fl := cmd.Flags()
	var c pbx.BoxChange
	if fl.Changed("name") {
		c.Name = &f.name
	}
	if fl.Changed("pin") {
		c.PIN = &f.pin
	}
	if fl.Changed("email") {
		c.Emails = &f.emails
	}
	if fl.Changed("attach") {
		c.Attach = &f.attach
	}
	if fl.Changed("language") {
		c.Language = &f.language
	}
	if fl.Changed("operator") {
		c.Operator = &f.operator
	}
	if fl.Changed("max-seconds") {
		c.MaxSeconds = &f.maxSeconds
	}
	if fl.Changed("transcribe") {
		c.Transcribe = &f.transcribe
	}
	if fl.Changed("transcribe-language") {
		c.TranscribeLang = &f.transcribeLang
	}
	if fl.Changed("silence-seconds") {
		c.SilenceSeconds = &f.silenceSeconds
	}
	return c.Update()
}

// parseMembers reads "101,102" into members with one access level.
func parseMembers(list []string, access string, lamp bool) ([]store.Member, error) {
	return pbx.ParseMembers(list, access, lamp)
}

func newVMAddCommand(g *globalFlags) *cobra.Command {
	f := &boxFlags{}
	var members []string
	var access string
	cmd := &cobra.Command{
		Use:   "add NUMBER --name NAME --pin PIN [--email ADDR] [--members 101,102]",
		Short: "Add a shared voicemail box",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			number := args[0]
			ms, err := parseMembers(members, access, true)
			if err != nil {
				return err
			}
			nb := pbx.NewBox{Number: number, Name: f.name, PIN: f.pin, Emails: f.emails, Attach: f.attach, Language: f.language,
				Operator: f.operator, MaxSeconds: f.maxSeconds, SilenceSeconds: f.silenceSeconds, Members: ms}
			if fl := cmd.Flags(); fl.Changed("transcribe") {
				nb.Transcribe = &f.transcribe
			}
			if fl := cmd.Flags(); fl.Changed("transcribe-language") {
				nb.TranscribeLang = &f.transcribeLang
			}
			b, tu, err := nb.Prepare()
			if err != nil {
				return err
			}
			return withStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				if err := st.AddBox(ctx, b); err != nil {
					return friendly(err)
				}
				if tu != (store.BoxUpdate{}) {
					if err := st.UpdateBox(ctx, number, tu); err != nil {
						return err
					}
				}
				_ = st.Audit(ctx, "cli", "vm.add", number, 0, f.name)
				fmt.Fprintf(cmd.OutOrStdout(), "voicemail box %s (%s) added\n", number, f.name)
				return nil
			})
		},
	}
	f.register(cmd)
	cmd.Flags().StringSliceVar(&members, "members", nil, "extensions sharing the box, e.g. 101,102")
	cmd.Flags().StringVar(&access, "access", "delete", "access level of the members: listen, download, delete or manage")
	return cmd
}

// withStore opens the store for one command.
func withStore(cmd *cobra.Command, g *globalFlags, f func(context.Context, *store.Store) error) error {
	st, err := g.openStore(cmd.Context())
	if err != nil {
		return err
	}
	defer st.Close()
	return f(cmd.Context(), st)
}

func newVMListCommand(g *globalFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "List voicemail boxes with their message counts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				boxes, err := st.Boxes(ctx)
				if err != nil {
					return err
				}
				type view struct {
					store.Box
					New   int `json:"new"`
					Saved int `json:"saved"`
				}
				views := make([]view, 0, len(boxes))
				for _, b := range boxes {
					n, s, err := st.Counts(ctx, b.Number)
					if err != nil {
						return err
					}
					views = append(views, view{Box: b, New: n, Saved: s})
				}
				out := cmd.OutOrStdout()
				if asJSON {
					return writeJSON(out, views)
				}
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NUMBER\tNAME\tKIND\tNEW\tSAVED\tMEMBERS\tEMAIL")
				for _, v := range views {
					var ms []string
					for _, m := range v.Members {
						ms = append(ms, m.Extension+"("+m.Access+")")
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", v.Number, v.Name, v.Kind, v.New, v.Saved, strings.Join(ms, ","), strings.Join(v.Emails, ","))
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func writeJSON(w interface{ Write([]byte) (int, error) }, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newVMSetCommand(g *globalFlags) *cobra.Command {
	f := &boxFlags{}
	cmd := &cobra.Command{
		Use:   "set NUMBER [--name] [--pin] [--email] [--attach] [--language] [--operator] [--max-seconds] [--silence-seconds]",
		Short: "Change a voicemail box (shared or personal)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := f.update(cmd)
			if err != nil {
				return err
			}
			if u == (store.BoxUpdate{}) {
				return fmt.Errorf("nothing to change: give at least one setting")
			}
			return withStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				if err := st.UpdateBox(ctx, args[0], u); err != nil {
					return friendly(err)
				}
				_ = st.Audit(ctx, "cli", "vm.set", args[0], 0, "")
				fmt.Fprintf(cmd.OutOrStdout(), "voicemail box %s updated\n", args[0])
				return nil
			})
		},
	}
	f.register(cmd)
	return cmd
}

func newVMRmCommand(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "rm NUMBER",
		Short: "Remove a shared voicemail box and its messages",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				box, err := st.Box(ctx, args[0])
				if err != nil {
					return friendly(err)
				}
				if box.Kind == store.BoxPersonal {
					return fmt.Errorf("box %s is extension %s's personal box: remove the extension instead", box.Number, box.Owner)
				}
				msgs, err := st.Messages(ctx, box.Number)
				if err != nil {
					return err
				}
				if err := st.RemoveBox(ctx, box.Number); err != nil {
					return friendly(err)
				}
				for _, m := range msgs {
					os.Remove(filepath.Join(g.dataDir, pbx.MessagesDir, m.Audio))
				}
				_ = st.Audit(ctx, "cli", "vm.rm", box.Number, 0, fmt.Sprintf("%d messages removed", len(msgs)))
				fmt.Fprintf(cmd.OutOrStdout(), "voicemail box %s removed with %d messages\n", box.Number, len(msgs))
				return nil
			})
		},
	}
}

func newVMMembersAddCommand(g *globalFlags) *cobra.Command {
	var access string
	var lamp bool
	cmd := &cobra.Command{
		Use:   "add NUMBER EXT[,EXT...] [--access listen|download|delete|manage] [--lamp=false]",
		Short: "Add members to a shared box, or change their access",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ms, err := parseMembers(strings.Split(args[1], ","), access, lamp)
			if err != nil {
				return err
			}
			return withStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				box, err := st.Box(ctx, args[0])
				if err != nil {
					return friendly(err)
				}
				if box.Kind != store.BoxShared {
					return fmt.Errorf("box %s is personal: only shared boxes have members", box.Number)
				}
				if err := st.SetMembers(ctx, box.Number, ms); err != nil {
					return friendly(err)
				}
				_ = st.Audit(ctx, "cli", "vm.members_add", box.Number, 0, args[1]+" "+access)
				fmt.Fprintf(cmd.OutOrStdout(), "box %s: %s can %s\n", box.Number, args[1], access)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&access, "access", "delete", "access level: listen, download, delete or manage")
	cmd.Flags().BoolVar(&lamp, "lamp", true, "light the member's message-waiting lamp for this box")
	return cmd
}

func newVMMembersRmCommand(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "rm NUMBER EXT[,EXT...]",
		Short: "Remove members from a shared box",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				if _, err := st.Box(ctx, args[0]); err != nil {
					return friendly(err)
				}
				if err := st.RemoveMembers(ctx, args[0], strings.Split(args[1], ",")); err != nil {
					return err
				}
				_ = st.Audit(ctx, "cli", "vm.members_rm", args[0], 0, args[1])
				fmt.Fprintf(cmd.OutOrStdout(), "box %s: %s removed\n", args[0], args[1])
				return nil
			})
		},
	}
}

func newVMGreetingSetCommand(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "set NUMBER FILE.wav",
		Short: "Use a WAV file as the box's greeting (any rate; stored as 8 kHz)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := media.ReadWAVFile(args[1])
			if err != nil {
				return err
			}
			if err := pbx.CheckGreeting(a); err != nil {
				return err
			}
			return setGreeting(cmd, g, args[0], a, "file "+filepath.Base(args[1]))
		},
	}
}

func newVMGreetingSayCommand(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "say NUMBER TEXT",
		Short: "Speak TEXT with espeak-ng and use it as the box's greeting",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := pbx.CheckGreetingText(args[1]); err != nil {
				return err
			}
			a, err := pbx.Speak(cmd.Context(), args[1])
			if err != nil {
				return err
			}
			return setGreeting(cmd, g, args[0], a, "spoken text")
		},
	}
}

func setGreeting(cmd *cobra.Command, g *globalFlags, box string, a media.Audio, what string) error {
	return withStore(cmd, g, func(ctx context.Context, st *store.Store) error {
		if _, err := st.Box(ctx, box); err != nil {
			return friendly(err)
		}
		if err := pbx.SaveGreeting(ctx, st, g.dataDir, box, a); err != nil {
			return err
		}
		_ = st.Audit(ctx, "cli", "vm.greeting_set", box, 0, what)
		fmt.Fprintf(cmd.OutOrStdout(), "box %s greeting set (%.1f s)\n", box, a.Seconds())
		return nil
	})
}

func newVMMessagesCommand(g *globalFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "messages NUMBER [--json]",
		Short: "List a box's messages",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				if _, err := st.Box(ctx, args[0]); err != nil {
					return friendly(err)
				}
				msgs, err := st.Messages(ctx, args[0])
				if err != nil {
					return err
				}
				views := make([]messageView, 0, len(msgs))
				for _, m := range msgs {
					views = append(views, describeMessage(ctx, st, m))
				}
				out := cmd.OutOrStdout()
				if asJSON {
					return writeJSON(out, views)
				}
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tTIME\tFROM\tCALLED\tSECONDS\tPLAYED\tSTATUS\tTRANSCRIPT")
				for _, v := range views {
					fmt.Fprintf(tw, "%d\t%s\t%s %s\t%s\t%.1f\t%v\t%s\t%s\n", v.ID, v.StartedAt.Local().Format("2006-01-02 15:04"),
						v.CallerNumber, v.CallerName, v.CalledNumber, v.Duration, v.Played, v.Status, firstLine(v))
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// messageView is a message with its transcription, as the CLI shows it.
type messageView struct {
	store.Message
	Transcription string            `json:"transcription"` // queued, running, done, failed, no-model, off
	Note          string            `json:"transcription_note,omitempty"`
	Transcript    *store.Transcript `json:"transcript,omitempty"`
}

func describeMessage(ctx context.Context, st *store.Store, m store.Message) messageView {
	v := messageView{Message: m}
	if j, err := st.JobOf(ctx, m.ID); err == nil {
		v.Transcription, v.Note = j.State, j.Error
	}
	if tr, err := st.Transcript(ctx, m.ID); err == nil {
		v.Transcript = &tr
	}
	return v
}

func firstLine(v messageView) string {
	switch {
	case v.Transcript != nil:
		t := v.Transcript.Text
		if len(t) > 60 {
			t = t[:57] + "..."
		}
		return t
	case v.Note != "":
		return "(" + v.Note + ")"
	}
	return "(" + v.Transcription + ")"
}

func newVMSearchCommand(g *globalFlags) *cobra.Command {
	var asJSON bool
	var boxes []string
	var limit int
	cmd := &cobra.Command{
		Use:   "search WORDS [--box 600] [--json]",
		Short: "Find messages by transcript words, caller number or name",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				hits, err := st.SearchMessages(ctx, args[0], boxes, limit)
				if err != nil {
					return err
				}
				if asJSON {
					if hits == nil {
						hits = []store.SearchHit{}
					}
					return writeJSON(cmd.OutOrStdout(), hits)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tBOX\tTIME\tFROM\tMATCH")
				for _, h := range hits {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s %s\t%s\n", h.ID, h.Box, h.StartedAt.Local().Format("2006-01-02 15:04"), h.CallerNumber, h.CallerName, h.Snippet)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringSliceVar(&boxes, "box", nil, "only these boxes")
	cmd.Flags().IntVar(&limit, "limit", 50, "most results")
	return cmd
}
