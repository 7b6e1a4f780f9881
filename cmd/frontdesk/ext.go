package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/frontdesk-pbx/frontdesk/pbx"
	"github.com/frontdesk-pbx/frontdesk/pbx/sipauth"
	"github.com/frontdesk-pbx/frontdesk/store"
	"github.com/frontdesk-pbx/frontdesk/store/secret"
)

// extensionNumber: 2 to 8 digits, not starting with 0 or * (0 reaches the
// operator and * starts feature codes).
var extensionNumber = regexp.MustCompile(`^[1-9][0-9]{1,7}$`)

const minSecretLength = 8

func newExtCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ext",
		Short: "Manage extensions (phones' SIP accounts)",
	}
	cmd.AddCommand(newExtAddCommand(g), newExtListCommand(g), newExtSetCommand(g), newExtRmCommand(g))
	return cmd
}

func checkNumber(n string) error {
	if !extensionNumber.MatchString(n) {
		return fmt.Errorf("extension number %q: want 2 to 8 digits, not starting with 0", n)
	}
	return nil
}

// secretOrGenerated returns secret, or a generated one when it is empty.
func secretOrGenerated(given string) (string, bool, error) {
	if given == "" {
		s, err := secret.Random(20)
		return s, true, err
	}
	if len(given) < minSecretLength {
		return "", false, fmt.Errorf("secret is too short: use at least %d characters, or leave --secret out to have one generated", minSecretLength)
	}
	return given, false, nil
}

// pinOrGenerated checks a PIN, or makes a 6-digit one when none is given,
// and returns it with its hash.
func pinOrGenerated(given string) (pin, hash string, generated bool, err error) {
	if given == "" {
		if given, err = secret.RandomDigits(6); err != nil {
			return "", "", false, err
		}
		generated = true
	} else if !pbx.ValidPIN(given) {
		return "", "", false, fmt.Errorf("PIN must be 4 to 10 digits")
	}
	hash, err = secret.Hash(given)
	return given, hash, generated, err
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
			number := args[0]
			if err := checkNumber(number); err != nil {
				return err
			}
			if name == "" {
				return fmt.Errorf("--name is required")
			}
			if !slices.Contains([]string{"internal", "local", "national", "international"}, outbound) {
				return fmt.Errorf("--outbound %q: want internal, local, national or international", outbound)
			}
			sipSecret, generated, err := secretOrGenerated(sipSecret)
			if err != nil {
				return err
			}
			var pinHash string
			var pinGenerated bool
			if !noVoicemail {
				if pin, pinHash, pinGenerated, err = pinOrGenerated(pin); err != nil {
					return err
				}
			}
			st, err := g.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			h := sipauth.HashSecret(number, sipauth.DefaultRealm, sipSecret)
			err = st.AddExtension(cmd.Context(), store.Extension{
				Number: number, Name: name, Realm: sipauth.DefaultRealm,
				HA1MD5: h.HA1MD5, HA1SHA256: h.HA1SHA256, RingSeconds: ring, Voicemail: !noVoicemail, Outbound: outbound,
			}, pinHash)
			if err != nil {
				return friendly(err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "extension %s (%s) added\n", number, name)
			if generated {
				fmt.Fprintf(out, "SIP username: %s\nSIP password: %s\n", number, sipSecret)
			}
			if pinGenerated {
				fmt.Fprintf(out, "Voicemail PIN: %s\n", pin)
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
			var u store.ExtensionUpdate
			if fl.Changed("name") {
				if name == "" {
					return fmt.Errorf("--name can't be empty")
				}
				u.Name = &name
			}
			if fl.Changed("ring-seconds") {
				if ring < 1 || ring > 600 {
					return fmt.Errorf("--ring-seconds %d: want 1 to 600", ring)
				}
				u.RingSeconds = &ring
			}
			if fl.Changed("secret") && newSecret {
				return fmt.Errorf("use --secret or --new-secret, not both")
			}
			var generated bool
			if fl.Changed("secret") || newSecret {
				var err error
				if sipSecret, generated, err = secretOrGenerated(sipSecret); err != nil {
					return err
				}
				h := sipauth.HashSecret(number, sipauth.DefaultRealm, sipSecret)
				u.Credentials = &store.Credentials{Realm: sipauth.DefaultRealm, HA1MD5: h.HA1MD5, HA1SHA256: h.HA1SHA256}
			}
			st, err := g.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			if err := fwd.apply(cmd, st, &u); err != nil {
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
			if generated {
				fmt.Fprintf(out, "SIP password: %s\n", sipSecret)
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

// apply checks each forward given (the box must exist) and adds it to u.
func (f *forwardFlags) apply(cmd *cobra.Command, st *store.Store, u *store.ExtensionUpdate) error {
	if cmd.Flags().Changed("outbound") {
		if !slices.Contains([]string{"internal", "local", "national", "international"}, f.outbound) {
			return fmt.Errorf("--outbound %q: want internal, local, national or international", f.outbound)
		}
		u.Outbound = &f.outbound
	}
	for _, x := range []struct {
		flag  string
		value string
		dst   **string
	}{
		{"forward-no-answer", f.noAnswer, &u.ForwardNoAnswer},
		{"forward-busy", f.busy, &u.ForwardBusy},
		{"forward-unavailable", f.unavailable, &u.ForwardUnavailable},
	} {
		if !cmd.Flags().Changed(x.flag) {
			continue
		}
		if x.value != "" {
			d, err := pbx.ParseDestination(x.value)
			if err != nil {
				return fmt.Errorf("--%s: %w", x.flag, err)
			}
			if d.Kind == pbx.DestVoicemail {
				if _, err := st.Box(cmd.Context(), d.Number); err != nil {
					return fmt.Errorf("--%s: %w", x.flag, friendly(err))
				}
			}
		}
		v := x.value
		*x.dst = &v
	}
	return nil
}
