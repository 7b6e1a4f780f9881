package main

import (
	"bufio"
	"context"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/frontdesk-pbx/frontdesk/pbx/mailer"
	"github.com/frontdesk-pbx/frontdesk/store"
)

func newSMTPCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "smtp",
		Short: "Set up the mail server that sends voicemail notifications",
	}
	cmd.AddCommand(newSMTPSetCommand(g), newSMTPShowCommand(g), newSMTPTestCommand(g))
	return cmd
}

func newSMTPSetCommand(g *globalFlags) *cobra.Command {
	var s mailer.Settings
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "set --host HOST [--port N] --security none|starttls|tls [--username U --password P] --from ADDRESS [--link-base URL]",
		Short: "Set the mail server (flags not given keep their value)",
		Long: `Set the mail server voicemail notifications go through. Flags not given keep
their current value; --username "" turns authentication off. The port
defaults to 25, 587 or 465 for none, starttls and tls. Mails waiting for a
retry are retried at once with the new settings.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fl := cmd.Flags()
			if fl.Changed("password") && passwordStdin {
				return fmt.Errorf("give --password or --password-stdin, not both")
			}
			if passwordStdin {
				line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				if err != nil && line == "" {
					return fmt.Errorf("--password-stdin: reading the password: %w", err)
				}
				s.Password = strings.TrimRight(line, "\r\n")
			}
			return withStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				cur, err := mailer.LoadSettings(ctx, st)
				if err != nil {
					return err
				}
				if fl.Changed("host") {
					cur.Host = strings.TrimSpace(s.Host)
				}
				if fl.Changed("port") {
					cur.Port = s.Port
				}
				if fl.Changed("security") {
					cur.Security = strings.ToLower(s.Security)
				}
				if fl.Changed("username") {
					cur.Username = s.Username
					if s.Username == "" {
						cur.Password = ""
					}
				}
				if fl.Changed("password") || passwordStdin {
					cur.Password = s.Password
				}
				if fl.Changed("from") {
					cur.From = s.From
				}
				if fl.Changed("link-base") {
					cur.LinkBase = s.LinkBase
				}
				if cur.Host == "" {
					return fmt.Errorf("--host is required")
				}
				if cur.From == "" {
					return fmt.Errorf("--from is required (the sender address, e.g. \"Frontdesk <pbx@example.com>\")")
				}
				if err := mailer.SaveSettings(ctx, st, cur); err != nil {
					return err
				}
				_ = st.Audit(ctx, "cli", "smtp.set", "", 0, cur.Addr()+" "+cur.Security)
				retried, err := st.RetryEmailsNow(ctx, time.Now())
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				fmt.Fprintf(out, "mail server set: %s (%s), from %s\n", cur.Addr(), cur.Security, cur.From)
				if retried > 0 {
					fmt.Fprintf(out, "%d waiting emails will be retried now\n", retried)
				}
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&s.Host, "host", "", "mail server host name or IP address")
	fl.IntVar(&s.Port, "port", 0, "mail server port (0: 25, 587 or 465 by --security)")
	fl.StringVar(&s.Security, "security", "", "connection security: none, starttls or tls (starttls until set)")
	fl.StringVar(&s.Username, "username", "", "log in with this user (AUTH PLAIN); empty turns login off")
	fl.StringVar(&s.Password, "password", "", "the login's password (visible to other local users in ps: prefer --password-stdin)")
	fl.BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of standard input")
	fl.StringVar(&s.From, "from", "", `sender address, e.g. "Frontdesk <pbx@example.com>"`)
	fl.StringVar(&s.LinkBase, "link-base", "", "web UI base URL for links in mails without the audio, e.g. https://pbx.example.com")
	return cmd
}

// smtpView is what smtp show prints.
type smtpView struct {
	Host      string `json:"host"`
	Port      int    `json:"port"`
	Security  string `json:"security"`
	Username  string `json:"username"`
	Password  string `json:"password"` // "set" or "unset"
	From      string `json:"from"`
	LinkBase  string `json:"link_base"`
	Pending   int    `json:"pending_emails"`
	LastError string `json:"last_error"`
}

func newSMTPShowCommand(g *globalFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show [--json]",
		Short: "Show the mail server settings and the emails waiting",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				s, err := mailer.LoadSettings(ctx, st)
				if err != nil {
					return err
				}
				pending, lastErr, err := st.PendingEmails(ctx)
				if err != nil {
					return err
				}
				v := smtpView{Host: s.Host, Port: s.Port, Security: s.Security, Username: s.Username, Password: "unset",
					From: s.From, LinkBase: s.LinkBase, Pending: pending, LastError: lastErr}
				if v.Port == 0 {
					v.Port = mailer.DefaultPort(s.Security)
				}
				if s.Password != "" {
					v.Password = "set"
				}
				out := cmd.OutOrStdout()
				if asJSON {
					return writeJSON(out, v)
				}
				if !s.Configured() {
					fmt.Fprintln(out, "no mail server is set: frontdesk smtp set --host HOST --security starttls|tls|none --from ADDRESS")
				}
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				port := strconv.Itoa(v.Port)
				if s.Port == 0 {
					port += " (default)"
				}
				for _, kv := range [][2]string{
					{"host", v.Host}, {"port", port}, {"security", v.Security}, {"username", v.Username},
					{"password", v.Password}, {"from", v.From}, {"link base", v.LinkBase},
					{"waiting emails", strconv.Itoa(v.Pending)},
				} {
					fmt.Fprintf(tw, "%s:\t%s\n", kv[0], kv[1])
				}
				if v.LastError != "" {
					fmt.Fprintf(tw, "last error:\t%s\n", oneLine(v.LastError))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				if err := s.Validate(); err != nil && s.Configured() {
					fmt.Fprintf(out, "these settings can't send mail: %s\n", err)
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newSMTPTestCommand(g *globalFlags) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "test ADDRESS",
		Short: "Send a test mail now with the saved settings",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			to, err := mail.ParseAddress(args[0])
			if err != nil {
				return fmt.Errorf("address %q: %w", args[0], err)
			}
			log, err := g.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			return withStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				s, err := mailer.LoadSettings(ctx, st)
				if err != nil {
					return err
				}
				m := mailer.New(st, g.dataDir, log)
				m.Timeout = timeout
				if err := m.SendTest(ctx, to.Address); err != nil {
					return fmt.Errorf("test mail to %s not sent: %w", to.Address, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "test mail sent to %s through %s (%s)\n", to.Address, s.Addr(), s.Security)
				return nil
			})
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "give up after this long")
	return cmd
}
