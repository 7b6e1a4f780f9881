package ui

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/frontdesk-pbx/frontdesk/store"
	"github.com/frontdesk-pbx/frontdesk/store/secret"
)

// FirstAdminName is the user created at first start.
const FirstAdminName = "admin"

// EnsureFirstAdmin creates the first admin with a generated one-time password
// when no user exists yet, and returns that password ("" if nothing was made).
// There is never a fixed default password.
func EnsureFirstAdmin(ctx context.Context, st *store.Store) (string, error) {
	n, err := st.CountUsers(ctx)
	if err != nil || n > 0 {
		return "", err
	}
	password, err := secret.Random(16)
	if err != nil {
		return "", err
	}
	hash, err := secret.Hash(password)
	if err != nil {
		return "", err
	}
	added, err := st.AddUserIfNone(ctx, store.User{Name: FirstAdminName, PasswordHash: hash, IsAdmin: true, MustChangePassword: true})
	if err != nil || !added {
		return "", err
	}
	return password, nil
}

// MinPasswordLength is the shortest web password accepted.
const MinPasswordLength = 10

// CheckPassword says what is wrong with a new password for user name, if
// anything. The CLI and the API share it, so both set the same rules.
func CheckPassword(name, password string) error {
	switch {
	case utf8.RuneCountInString(password) < MinPasswordLength:
		return fmt.Errorf("the password is too short: use at least %d characters", MinPasswordLength)
	case len(password) > 1024:
		return errors.New("the password is too long: use at most 1024 characters")
	case strings.EqualFold(strings.TrimSpace(password), name):
		return errors.New("the password can't be the user name")
	}
	return nil
}

// userName: letters, digits and . _ - (no @, so a name never looks like
// an email, which logs in too).
var userName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// CheckUserName says what is wrong with a new user's name, if anything.
func CheckUserName(name string) error {
	if !userName.MatchString(name) {
		return fmt.Errorf("user name %q: use 1 to 64 letters, digits, dots, dashes or underscores, starting with a letter or digit", name)
	}
	return nil
}

// CheckEmail says what is wrong with a user's email address ("" is fine:
// email is optional).
func CheckEmail(email string) error {
	if email == "" {
		return nil
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" {
		return fmt.Errorf("email %q: want a plain address like name@example.com", email)
	}
	return nil
}
