package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/frontdesk-pbx/frontdesk/pbx"
	"github.com/frontdesk-pbx/frontdesk/store"
)

func newExtCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ext",
		Short: "Manage extensions (phones' SIP accounts)",
	}
	cmd.AddCommand(newExtAddCommand(g), newExtListCommand(g), newExtSetCommand(g), newExtRmCommand(g))
	return cmd
}

// The checks live in pbx (validate_admin.go), shared with the web admin portal.
func pinOrGenerated(given string) (pin, hash string, generated bool, err error) {
	return pbx.PINOrGenerated(given)
}

func newExtAddCommand(g *globalFlags) *cobra.Command {
	var name, sipSecret, pin, outbound string
	var ring int
	var noVoicemail bool
	cmd := &cobra.Command{
		Use:   "add NUMBER --name NAME [--secret S] [--pin PIN | --no-voicemail]",
		Short: "Add an extension; prints a generated secret when none is given",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				return fmt.Errorf("--name is required")
			}
			st, err := g.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			p, err := pbx.NewExtension{Number: args[0], Name: name, Secret: sipSecret, PIN: pin, Voicemail: !noVoicemail,
				Outbound: outbound, RingSeconds: ring}.Prepare(cmd.Context(), st)
			if err != nil {
				return err
			}
			if err := st.AddExtension(cmd.Context(), p.Extension, p.PINHash); err != nil {
				return friendly(err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "extension %s (%s) added\n", p.Extension.Number, name)
			if p.SecretCreated {
				fmt.Fprintf(out, "SIP username: %s\nSIP password: %s\n", p.Extension.Number, p.Secret)
			}
			if p.PINCreated {
				fmt.Fprintf(out, "Voicemail PIN: %s\n", p.PIN)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "name shown to people this extension calls")
	cmd.Flags().StringVar(&sipSecret, "secret", "", "SIP password (generated when left out)")
	cmd.Flags().StringVar(&pin, "pin", "", "voicemail PIN, 4 to 10 digits (generated when left out)")
	cmd.Flags().BoolVar(&noVoicemail, "no-voicemail", false, "no personal voicemail box")
	cmd.Flags().StringVar(&outbound, "outbound", "national", "what it may dial out to: internal, local, national or international (emergency always)")
	cmd.Flags().IntVar(&ring, "ring-seconds", store.DefaultRingSeconds, "seconds to ring before a call counts as unanswered")
	return cmd
}

// extensionView is what `ext list` shows for each extension.
type extensionView struct {
	store.Extension
	Devices int `json:"registered_devices"`
}

func newExtListCommand(g *globalFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "List extensions and how many devices each has registered",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := g.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			exts, err := st.Extensions(cmd.Context())
			if err != nil {
				return err
			}
			counts, err := st.RegisteredCounts(cmd.Context(), time.Now())
			if err != nil {
				return err
			}
			views := make([]extensionView, 0, len(exts))
			for _, e := range exts {
				views = append(views, extensionView{Extension: e, Devices: counts[e.Number]})
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(views)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NUMBER\tNAME\tRING\tDEVICES")
			for _, v := range views {
				fmt.Fprintf(tw, "%s\t%s\t%ds\t%d\n", v.Number, v.Name, v.RingSeconds, v.Devices)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newExtSetCommand(g *globalFlags) *cobra.Command {
	var name, sipSecret string
	var ring int
	var newSecret, voicemail bool
	fwd := &forwardFlags{}
	cmd := &cobra.Command{
		Use:   "set NUMBER [--name NAME] [--secret S | --new-secret] [--ring-seconds N]",
		Short: "Change an extension; a new secret logs out its registered devices",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			number := args[0]
			fl := cmd.Flags()
			var c pbx.ExtensionChange
			if fl.Changed("name") {
				c.Name = &name
			}
			if fl.Changed("ring-seconds") {
				c.RingSeconds = &ring
			}
			if fl.Changed("secret") {
				c.Secret = &sipSecret
			}
			c.NewSecret = newSecret
			fwd.change(cmd, &c)
			st, err := g.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			u, generated, err := c.Update(cmd.Context(), st, number)
			if err != nil {
				return err
			}
			if u == (store.ExtensionUpdate{}) && !fl.Changed("voicemail") {
				return fmt.Errorf("nothing to change: give --name, --secret, --new-secret, --ring-seconds, --voicemail or a --forward-* flag")
			}
			out := cmd.OutOrStdout()
			if u != (store.ExtensionUpdate{}) {
				if err := st.UpdateExtension(cmd.Context(), number, u); err != nil {
					return friendly(err)
				}
			}
			if fl.Changed("voicemail") {
				pin, hash, _, err := pinOrGenerated("")
				if err != nil {
					return err
				}
				created, err := st.SetVoicemail(cmd.Context(), number, voicemail, hash)
				if err != nil {
					return friendly(err)
				}
				if created {
					fmt.Fprintf(out, "personal voicemail box %s created\nVoicemail PIN: %s\n", number, pin)
				}
			}
			fmt.Fprintf(out, "extension %s updated\n", number)
			if generated != "" {
				fmt.Fprintf(out, "SIP password: %s\n", generated)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "new name")
	cmd.Flags().StringVar(&sipSecret, "secret", "", "new SIP password")
	cmd.Flags().BoolVar(&newSecret, "new-secret", false, "generate a new SIP password and print it")
	cmd.Flags().BoolVar(&voicemail, "voicemail", true, "personal voicemail box on or off (off keeps its messages)")
	fwd.register(cmd)
	cmd.Flags().IntVar(&ring, "ring-seconds", store.DefaultRingSeconds, "seconds to ring before a call counts as unanswered")
	return cmd
}

func newExtRmCommand(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "rm NUMBER",
		Short: "Remove an extension and its registrations",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := g.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.RemoveExtension(cmd.Context(), args[0]); err != nil {
				return friendly(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "extension %s removed\n", args[0])
			return nil
		},
	}
}

// forwardFlags set where an extension's unanswered calls go, and what it may dial out to.
type forwardFlags struct {
	noAnswer, busy, unavailable string
	outbound                    string
}

func (f *forwardFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.noAnswer, "forward-no-answer", "", "where unanswered calls go, e.g. vm:600 (empty: own voicemail box)")
	fl.StringVar(&f.busy, "forward-busy", "", "where calls go when busy (empty: own voicemail box)")
	fl.StringVar(&f.unavailable, "forward-unavailable", "", "where calls go when no phone is registered (empty: own voicemail box)")
	fl.StringVar(&f.outbound, "outbound", "national", "what it may dial out to: internal, local, national or international (emergency always)")
}

// change adds the flags given to c (checked by c.Update).
func (f *forwardFlags) change(cmd *cobra.Command, c *pbx.ExtensionChange) {
	fl := cmd.Flags()
	if fl.Changed("outbound") {
		c.Outbound = &f.outbound
	}
	if fl.Changed("forward-no-answer") {
		c.ForwardNoAnswer = &f.noAnswer
	}
	if fl.Changed("forward-busy") {
		c.ForwardBusy = &f.busy
	}
	if fl.Changed("forward-unavailable") {
		c.ForwardUnavailable = &f.unavailable
	}
}
