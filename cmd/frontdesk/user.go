package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/frontdesk-pbx/frontdesk/store"
	"github.com/frontdesk-pbx/frontdesk/store/secret"
	"github.com/frontdesk-pbx/frontdesk/ui"
)

func newUserCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Manage web users (who logs in to the team inbox and admin portal)",
	}
	cmd.AddCommand(newUserAddCommand(g), newUserListCommand(g), newUserSetCommand(g), newUserRmCommand(g))
	return cmd
}

// generatedPasswordLength: about 94 bits from secret.Random's alphabet.
const generatedPasswordLength = 16

// readPassword reads one line from r (--password-stdin) and checks it.
func readPassword(r io.Reader, name string) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password from stdin: %w", err)
	}
	password := strings.TrimRight(line, "\r\n")
	if err := ui.CheckPassword(name, password); err != nil {
		return "", err
	}
	return password, nil
}

// newPassword returns a password from stdin, or a generated one (which the
// user must change at first login), with its hash.
func newPassword(cmd *cobra.Command, name string, fromStdin bool) (password, hash string, generated bool, err error) {
	if fromStdin {
		password, err = readPassword(cmd.InOrStdin(), name)
	} else {
		password, err = secret.Random(generatedPasswordLength)
		generated = true
	}
	if err != nil {
		return "", "", false, err
	}
	hash, err = secret.Hash(password)
	return password, hash, generated, err
}

// userError words store errors about users for the CLI.
func userError(err error) error {
	if errors.Is(err, store.ErrLastAdmin) {
		return err
	}
	return friendly(err)
}

func newUserAddCommand(g *globalFlags) *cobra.Command {
	var email, extension string
	var admin, fromStdin bool
	cmd := &cobra.Command{
		Use:   "add NAME [--admin] [--email E] [--extension N] [--password-stdin]",
		Short: "Add a web user; prints a generated one-time password unless --password-stdin",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := ui.CheckUserName(name); err != nil {
				return err
			}
			if err := ui.CheckEmail(email); err != nil {
				return err
			}
			password, hash, generated, err := newPassword(cmd, name, fromStdin)
			if err != nil {
				return err
			}
			return withStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				u, err := st.AddUser(ctx, store.User{Name: name, Email: email, PasswordHash: hash, IsAdmin: admin,
					Extension: extension, MustChangePassword: generated})
				if err != nil {
					return userError(err)
				}
				role := "member"
				if u.IsAdmin {
					role = "admin"
				}
				_ = st.Audit(ctx, "cli", "user.add", "", 0, name+" ("+role+")")
				out := cmd.OutOrStdout()
				fmt.Fprintf(out, "user %s (%s) added\n", name, role)
				if generated {
					fmt.Fprintf(out, "One-time password: %s\n(shown once; %s must change it at first login)\n", password, name)
				}
				if !u.IsAdmin {
					warnNoAdmin(ctx, st, out)
				}
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&admin, "admin", false, "may do everything, in every inbox")
	fl.StringVar(&email, "email", "", "email address (also logs in, and gets notifications)")
	fl.StringVar(&extension, "extension", "", "the user's own extension (their desk phone, personal box and box memberships)")
	fl.BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of stdin instead of generating one")
	return cmd
}

// warnNoAdmin points out that nobody can run the admin portal yet (the
// first start only makes an admin when there are no users at all).
func warnNoAdmin(ctx context.Context, st *store.Store, out io.Writer) {
	users, err := st.Users(ctx)
	if err != nil {
		return
	}
	for _, u := range users {
		if u.IsAdmin {
			return
		}
	}
	fmt.Fprintln(out, "note: there is no admin yet; add one with: frontdesk user add NAME --admin")
}

func newUserListCommand(g *globalFlags) *cobra.Command {
	return listCommand(g, "List web users",
		func(st *store.Store, ctx context.Context) ([]store.User, error) { return st.Users(ctx) },
		"NAME\tROLE\tEMAIL\tEXTENSION\tSTATE",
		func(u store.User) string {
			role, state := "member", "ok"
			if u.IsAdmin {
				role = "admin"
			}
			switch {
			case u.LockedUntil.After(time.Now()):
				state = "locked until " + u.LockedUntil.Local().Format("2006-01-02 15:04")
			case u.MustChangePassword:
				state = "must change password"
			}
			return strings.Join([]string{u.Name, role, dash(u.Email), dash(u.Extension), state}, "\t")
		})
}

// boxAccess is one --box BOX=ACCESS.
type boxAccess struct {
	box    string
	access store.Access
}

func parseBoxAccess(v string) (boxAccess, error) {
	box, level, ok := strings.Cut(v, "=")
	if !ok || box == "" {
		return boxAccess{}, fmt.Errorf("--box %q: want BOX=ACCESS, e.g. 600=listen (none removes)", v)
	}
	if level == "none" {
		return boxAccess{box: box, access: store.AccessNone}, nil
	}
	a, err := store.ParseAccess(level)
	if err != nil {
		return boxAccess{}, fmt.Errorf("--box %s: %w, or none", v, err)
	}
	return boxAccess{box: box, access: a}, nil
}

func newUserSetCommand(g *globalFlags) *cobra.Command {
	var email, extension string
	var admin, noAdmin, reset, fromStdin, unlock, logoutAll bool
	var boxes []string
	cmd := &cobra.Command{
		Use: "set NAME [--email E] [--admin|--no-admin] [--extension N|\"\"] [--reset-password [--password-stdin]] " +
			"[--unlock] [--logout-everywhere] [--box BOX=ACCESS ...]",
		Short: "Change a web user",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			fl := cmd.Flags()
			var up store.UserUpdate
			var changes []string
			if fl.Changed("email") {
				if err := ui.CheckEmail(email); err != nil {
					return err
				}
				up.Email = &email
				changes = append(changes, "email="+email)
			}
			if admin && noAdmin {
				return fmt.Errorf("use --admin or --no-admin, not both")
			}
			if admin || noAdmin {
				up.IsAdmin = &admin
				changes = append(changes, fmt.Sprintf("admin=%v", admin))
			}
			if fl.Changed("extension") {
				up.Extension = &extension
				changes = append(changes, "extension="+extension)
			}
			if fromStdin && !reset {
				return fmt.Errorf("--password-stdin goes with --reset-password")
			}
			var access []boxAccess
			for _, b := range boxes {
				ba, err := parseBoxAccess(b)
				if err != nil {
					return err
				}
				access = append(access, ba)
			}
			if up == (store.UserUpdate{}) && !reset && !unlock && !logoutAll && len(access) == 0 {
				return fmt.Errorf("nothing to change: give --email, --admin, --no-admin, --extension, --reset-password, --unlock, --logout-everywhere or --box")
			}
			return withStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				u, err := st.UserByName(ctx, name)
				if err != nil {
					return userError(err)
				}
				out := cmd.OutOrStdout()
				var password string
				var generated bool
				if reset {
					var hash string
					if password, hash, generated, err = newPassword(cmd, u.Name, fromStdin); err != nil {
						return err
					}
					up.PasswordHash, up.MustChangePassword = &hash, &generated
					changes = append(changes, "password reset")
				}
				if up != (store.UserUpdate{}) {
					if err := st.UpdateUser(ctx, u.ID, up); err != nil {
						return userError(err)
					}
				}
				if unlock {
					if err := st.ClearLoginFailures(ctx, strings.ToLower(u.Name)); err != nil {
						return err
					}
					changes = append(changes, "unlocked")
				}
				// A new password ends the old sessions too: whoever knew the
				// old one must not stay logged in.
				if logoutAll || reset {
					n, err := st.DeleteUserSessions(ctx, u.ID, "")
					if err != nil {
						return err
					}
					changes = append(changes, "logged out everywhere")
					fmt.Fprintf(out, "%d session(s) of %s logged out\n", n, u.Name)
				}
				for _, ba := range access {
					if err := st.SetBoxUser(ctx, ba.box, u.ID, ba.access); err != nil {
						return fmt.Errorf("--box %s=%s: %w", ba.box, ba.access, userError(err))
					}
					changes = append(changes, "box "+ba.box+"="+ba.access.String())
				}
				_ = st.Audit(ctx, "cli", "user.set", "", 0, u.Name+": "+strings.Join(changes, ", "))
				fmt.Fprintf(out, "user %s updated\n", u.Name)
				if generated {
					fmt.Fprintf(out, "One-time password: %s\n(shown once; %s must change it at next login)\n", password, u.Name)
				}
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&email, "email", "", "email address (empty removes it)")
	fl.BoolVar(&admin, "admin", false, "make an admin")
	fl.BoolVar(&noAdmin, "no-admin", false, "make a member (the last admin can't be)")
	fl.StringVar(&extension, "extension", "", "link the user's own extension (\"\" unlinks)")
	fl.BoolVar(&reset, "reset-password", false, "set a new password (generated and printed once, or --password-stdin) and log out every session")
	fl.BoolVar(&fromStdin, "password-stdin", false, "with --reset-password: read the password from the first line of stdin")
	fl.BoolVar(&unlock, "unlock", false, "lift a lockout after failed logins")
	fl.BoolVar(&logoutAll, "logout-everywhere", false, "end all the user's browser sessions")
	fl.StringArrayVar(&boxes, "box", nil, "direct access to a voicemail box, BOX=listen|download|delete|manage|none (repeatable)")
	return cmd
}

func newUserRmCommand(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "rm NAME",
		Short: "Remove a web user (their messages become unassigned; the last admin can't be removed)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				u, err := st.UserByName(ctx, args[0])
				if err != nil {
					return userError(err)
				}
				if err := st.RemoveUser(ctx, u.ID); err != nil {
					return userError(err)
				}
				_ = st.Audit(ctx, "cli", "user.rm", "", 0, u.Name)
				fmt.Fprintf(cmd.OutOrStdout(), "user %s removed\n", u.Name)
				return nil
			})
		},
	}
}
