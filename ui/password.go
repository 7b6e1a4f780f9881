package ui

import (
	"context"

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
