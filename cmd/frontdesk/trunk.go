package main

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/frontdesk-pbx/frontdesk/pbx"
	"github.com/frontdesk-pbx/frontdesk/pbx/trunk"
	"github.com/frontdesk-pbx/frontdesk/store"
)

func newTrunkCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "trunk",
		Short: "Manage SIP trunks to phone providers (registration or IP-authenticated peer)",
		Long: `Manage SIP trunks to phone providers. A register trunk logs in to its
provider (REGISTER with a username and password, refreshed before it
expires, retried with backoff when the provider fails); a peer trunk is
trusted by the addresses its calls come from. A running server picks up
changes within a few seconds.`,
	}
	cmd.AddCommand(newTrunkAddCommand(g), newTrunkListCommand(g), newTrunkSetCommand(g), newTrunkRmCommand(g))
	return cmd
}

// trunkFlags are the settings trunk add and trunk set share.
type trunkFlags struct {
	mode, host, transport, username, password, authUsername string
	callerID, codecs, allowFrom                             string
	passwordStdin                                           bool
	expires                                                 int
}

func (f *trunkFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.mode, "mode", "", "register (log in to the provider) or peer (trusted by address)")
	fl.StringVar(&f.host, "host", "", "provider address: HOST or HOST:PORT")
	fl.StringVar(&f.transport, "transport", "udp", "udp or tcp")
	fl.StringVar(&f.username, "username", "", "account at the provider (register trunks)")
	fl.StringVar(&f.password, "password", "", "the account's password (visible to other local users in ps: prefer --password-stdin)")
	fl.BoolVar(&f.passwordStdin, "password-stdin", false, "read the password from the first line of standard input")
	fl.StringVar(&f.authUsername, "auth-username", "", "digest username, when the provider's differs from --username")
	fl.StringVar(&f.callerID, "caller-id", "", "number presented on outbound calls, e.g. +15551234567")
	fl.StringVar(&f.codecs, "codecs", "PCMU,PCMA", "codecs offered, in order: PCMU, PCMA or both")
	fl.StringVar(&f.allowFrom, "allow-from", "", "peer trunks: addresses calls may come from (IP, IP:PORT or CIDR, comma-separated; default the host's IP)")
	fl.IntVar(&f.expires, "expires", 300, fmt.Sprintf("registration expiry asked for, %d to %d seconds", trunk.MinExpires, trunk.MaxExpires))
}

// apply copies the flags the user gave onto t; changed says whether any did.
func (f *trunkFlags) apply(cmd *cobra.Command, t *store.Trunk) (changed bool, err error) {
	fl := cmd.Flags()
	if fl.Changed("password") && f.passwordStdin {
		return false, fmt.Errorf("give --password or --password-stdin, not both")
	}
	set := func(name string, dst *string, v string) {
		if fl.Changed(name) {
			*dst, changed = v, true
		}
	}
	set("mode", &t.Mode, f.mode)
	set("host", &t.Host, f.host)
	set("transport", &t.Transport, f.transport)
	set("username", &t.Username, f.username)
	set("password", &t.Password, f.password)
	set("auth-username", &t.AuthUsername, f.authUsername)
	set("caller-id", &t.CallerID, f.callerID)
	set("codecs", &t.Codecs, f.codecs)
	set("allow-from", &t.AllowFrom, f.allowFrom)
	if fl.Changed("codecs") && strings.Trim(f.codecs, " ,") == "" {
		return false, fmt.Errorf("--codecs: give PCMU, PCMA or both")
	}
	if fl.Changed("expires") {
		t.Expires, changed = f.expires, true
	}
	if f.passwordStdin {
		line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
		if err != nil && line == "" {
			return false, fmt.Errorf("--password-stdin: reading the password: %w", err)
		}
		t.Password, changed = strings.TrimRight(line, "\r\n"), true
	}
	return changed, nil
}

// checkTrunk validates a trunk, naming the flags to fix.
func checkTrunk(t store.Trunk) (store.Trunk, error) {
	if t.Mode == trunk.ModeRegister && (strings.TrimSpace(t.Username) == "" || t.Password == "") {
		return t, fmt.Errorf("a register trunk needs --username and --password (or --password-stdin)")
	}
	return pbx.CheckTrunk(t)
}

// trunkSummary says in a few words what a trunk does.
func trunkSummary(t store.Trunk) string {
	if t.Mode == trunk.ModeRegister {
		return fmt.Sprintf("registers to %s over %s as %s", t.Host, t.Transport, t.Username)
	}
	return fmt.Sprintf("peer %s over %s, calls accepted from %s", t.Host, t.Transport, t.AllowFrom)
}

func newTrunkAddCommand(g *globalFlags) *cobra.Command {
	f := &trunkFlags{}
	cmd := &cobra.Command{
		Use:   "add NAME --mode register|peer --host HOST[:PORT] [--username U --password P | --password-stdin] [--caller-id N] [--codecs PCMU,PCMA] [--allow-from IP,CIDR] [--expires 300]",
		Short: "Add a trunk",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fl := cmd.Flags()
			if !fl.Changed("mode") {
				return fmt.Errorf("--mode is required: register (log in to the provider) or peer (trusted by address)")
			}
			if !fl.Changed("host") {
				return fmt.Errorf("--host is required: the provider's HOST or HOST:PORT")
			}
			t := store.Trunk{Name: args[0], Transport: f.transport, Codecs: f.codecs, Expires: f.expires}
			if _, err := f.apply(cmd, &t); err != nil {
				return err
			}
			t, err := checkTrunk(t)
			if err != nil {
				return err
			}
			return withStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				if err := st.SaveTrunk(ctx, t, false); err != nil {
					return friendly(err)
				}
				_ = st.Audit(ctx, "cli", "trunk.added", "", 0, t.Name+": "+trunkSummary(t))
				fmt.Fprintf(cmd.OutOrStdout(), "trunk %s added: %s\n", t.Name, trunkSummary(t))
				return nil
			})
		},
	}
	f.register(cmd)
	return cmd
}

func newTrunkSetCommand(g *globalFlags) *cobra.Command {
	f := &trunkFlags{}
	cmd := &cobra.Command{
		Use:   "set NAME [--mode] [--host] [--transport] [--username] [--password | --password-stdin] [--auth-username] [--caller-id] [--codecs] [--allow-from] [--expires]",
		Short: "Change a trunk (flags not given keep their value)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				t, err := st.Trunk(ctx, args[0])
				if err != nil {
					return friendly(err)
				}
				changed, err := f.apply(cmd, &t)
				if err != nil {
					return err
				}
				if !changed {
					return fmt.Errorf("nothing to change: give at least one setting")
				}
				if t, err = checkTrunk(t); err != nil {
					return err
				}
				if err := st.SaveTrunk(ctx, t, true); err != nil {
					return friendly(err)
				}
				_ = st.Audit(ctx, "cli", "trunk.updated", "", 0, t.Name+": "+trunkSummary(t))
				fmt.Fprintf(cmd.OutOrStdout(), "trunk %s updated: %s\n", t.Name, trunkSummary(t))
				return nil
			})
		},
	}
	f.register(cmd)
	return cmd
}

func newTrunkRmCommand(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "rm NAME",
		Short: "Remove a trunk and the dial rules that use it (a registered trunk is unregistered)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				rules, err := st.DialRules(ctx)
				if err != nil {
					return err
				}
				var used []string
				for _, r := range rules {
					if r.Trunk == args[0] {
						used = append(used, fmt.Sprintf("%q", r.Prefix))
					}
				}
				if err := st.RemoveTrunk(ctx, args[0]); err != nil {
					return friendly(err)
				}
				_ = st.Audit(ctx, "cli", "trunk.removed", "", 0, args[0])
				out := cmd.OutOrStdout()
				if len(used) > 0 {
					fmt.Fprintf(out, "trunk %s removed with its dial rules %s\n", args[0], strings.Join(used, ", "))
					return nil
				}
				fmt.Fprintf(out, "trunk %s removed\n", args[0])
				return nil
			})
		},
	}
}

// trunkView is what trunk list prints: never the password itself.
type trunkView struct {
	store.Trunk
	PasswordSet bool `json:"password_set"`
}

func newTrunkListCommand(g *globalFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "List trunks (passwords are never shown)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				trunks, err := st.Trunks(ctx)
				if err != nil {
					return err
				}
				views := make([]trunkView, 0, len(trunks))
				for _, t := range trunks {
					views = append(views, trunkView{Trunk: t, PasswordSet: t.Password != ""})
				}
				out := cmd.OutOrStdout()
				if asJSON {
					return writeJSON(out, views)
				}
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tMODE\tHOST\tTRANSPORT\tUSERNAME\tCALLER ID\tCODECS\tALLOW FROM\tEXPIRES")
				for _, v := range views {
					user := v.Username
					if v.AuthUsername != "" {
						user += " (auth " + v.AuthUsername + ")"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", v.Name, v.Mode, v.Host, v.Transport,
						dash(user), dash(v.CallerID), v.Codecs, dash(v.AllowFrom), v.Expires)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
