package ui

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/frontdesk-pbx/frontdesk/store"
	"github.com/frontdesk-pbx/frontdesk/store/secret"
)

// adminUser is a user as the admin API shows it (never the password hash).
type adminUser struct {
	store.User
	Locked bool `json:"locked"`
}

func viewUser(u store.User) adminUser {
	return adminUser{User: u, Locked: u.LockedUntil.After(time.Now())}
}

func (s *Server) adminListUsers(c echo.Context) error {
	us, err := s.store.Users(c.Request().Context())
	if err != nil {
		return s.adminFail(c, "list users", err)
	}
	out := make([]adminUser, 0, len(us))
	for _, u := range us {
		out = append(out, viewUser(u))
	}
	return c.JSON(http.StatusOK, out)
}

// userParam reads the :id of a user route.
func (s *Server) userParam(c echo.Context) (store.User, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return store.User{}, fmt.Errorf("user %q: %w", c.Param("id"), store.ErrNotFound)
	}
	return s.store.UserByID(c.Request().Context(), id)
}

func (s *Server) adminGetUser(c echo.Context) error {
	u, err := s.userParam(c)
	if err != nil {
		return s.adminFail(c, "read user", err)
	}
	return c.JSON(http.StatusOK, viewUser(u))
}

// userRequest is the body of add and edit; absent fields (edit) stay as they are.
type userRequest struct {
	Name               string  `json:"name"`
	Email              *string `json:"email"`
	IsAdmin            *bool   `json:"is_admin"`
	Extension          *string `json:"extension"` // "" unlinks
	Password           string  `json:"password"`  // add: "" generates one
	MustChangePassword *bool   `json:"must_change_password"`
}

// userSaved answers add and password reset; Password is shown only this once.
type userSaved struct {
	User     adminUser `json:"user"`
	Password string    `json:"password,omitempty"`
}

// userFail maps the user store's errors to the fields at fault.
func (s *Server) userFail(c echo.Context, what string, err error) error {
	switch {
	case errors.Is(err, store.ErrLastAdmin):
		return c.JSON(http.StatusConflict, apiError{Error: err.Error(), Fields: map[string]string{"is_admin": err.Error()}})
	case errors.Is(err, store.ErrExists):
		field := "name"
		if strings.HasPrefix(err.Error(), "email") {
			field = "email"
		}
		msg := strings.TrimSuffix(err.Error(), ": "+store.ErrExists.Error())
		return c.JSON(http.StatusConflict, apiError{Error: msg, Fields: map[string]string{field: msg}})
	case errors.Is(err, store.ErrNotFound) && strings.HasPrefix(err.Error(), "extension"):
		return badField(c, "extension", "there is no "+strings.TrimSuffix(err.Error(), ": "+store.ErrNotFound.Error()))
	}
	return s.adminFail(c, what, err)
}

// newPassword checks a given password, or generates one when none is given.
func newPassword(name, given string) (password, hash string, generated bool, err error) {
	if given == "" {
		if given, err = secret.Random(16); err != nil {
			return "", "", false, err
		}
		generated = true
	} else if err := CheckPassword(name, given); err != nil {
		return "", "", false, err
	}
	hash, err = secret.Hash(given)
	return given, hash, generated, err
}

func (s *Server) adminAddUser(c echo.Context) error {
	var r userRequest
	if ok, err := decodeJSON(c, &r); !ok {
		return err
	}
	r.Name = strings.TrimSpace(r.Name)
	if err := CheckUserName(r.Name); err != nil {
		return badField(c, "name", err.Error())
	}
	u := store.User{Name: r.Name, Email: str(r.Email), Extension: str(r.Extension), IsAdmin: r.IsAdmin != nil && *r.IsAdmin}
	if err := CheckEmail(u.Email); err != nil {
		return badField(c, "email", err.Error())
	}
	password, hash, generated, err := newPassword(u.Name, r.Password)
	if err != nil {
		return badField(c, "password", err.Error())
	}
	u.PasswordHash = hash
	// Someone else chose or saw the password: the user picks their own.
	u.MustChangePassword = r.MustChangePassword == nil || *r.MustChangePassword
	u, err = s.store.AddUser(c.Request().Context(), u)
	if err != nil {
		return s.userFail(c, "add user", err)
	}
	s.audit(c, "user.added", "", describeUser(u))
	out := userSaved{User: viewUser(u)}
	if generated {
		out.Password = password
	}
	return c.JSON(http.StatusCreated, out)
}

func describeUser(u store.User) string {
	d := u.Name
	if u.IsAdmin {
		d += " (admin)"
	}
	if u.Extension != "" {
		d += " ext " + u.Extension
	}
	return d
}

func (s *Server) adminUpdateUser(c echo.Context) error {
	u, err := s.userParam(c)
	if err != nil {
		return s.adminFail(c, "change user", err)
	}
	var r userRequest
	if ok, err := decodeJSON(c, &r); !ok {
		return err
	}
	if r.Name != "" && r.Name != u.Name {
		return badField(c, "name", "a user's name can't be changed: add a new user instead")
	}
	up := store.UserUpdate{Email: trimmed(r.Email), IsAdmin: r.IsAdmin, Extension: trimmed(r.Extension), MustChangePassword: r.MustChangePassword}
	if up.Email != nil {
		if err := CheckEmail(*up.Email); err != nil {
			return badField(c, "email", err.Error())
		}
	}
	if up.IsAdmin != nil && !*up.IsAdmin && u.ID == currentUser(c).ID && u.IsAdmin {
		return badField(c, "is_admin", "you can't take admin away from yourself: ask another admin")
	}
	if r.Password != "" {
		_, hash, _, err := newPassword(u.Name, r.Password)
		if err != nil {
			return badField(c, "password", err.Error())
		}
		up.PasswordHash = &hash
	}
	ctx := c.Request().Context()
	if err := s.store.UpdateUser(ctx, u.ID, up); err != nil {
		return s.userFail(c, "change user", err)
	}
	if u, err = s.store.UserByID(ctx, u.ID); err != nil {
		return s.adminFail(c, "change user", err)
	}
	s.audit(c, "user.set", "", describeUser(u))
	return c.JSON(http.StatusOK, viewUser(u))
}

func (s *Server) adminRemoveUser(c echo.Context) error {
	u, err := s.userParam(c)
	if err != nil {
		return s.adminFail(c, "remove user", err)
	}
	if u.ID == currentUser(c).ID {
		return jsonError(c, http.StatusConflict, "you can't remove yourself: ask another admin")
	}
	if err := s.store.RemoveUser(c.Request().Context(), u.ID); err != nil {
		return s.userFail(c, "remove user", err)
	}
	s.audit(c, "user.removed", "", u.Name)
	return c.NoContent(http.StatusNoContent)
}

// resetRequest sets a user's password; an empty one is generated.
type resetRequest struct {
	Password string `json:"password"`
}

func (s *Server) adminResetPassword(c echo.Context) error {
	u, err := s.userParam(c)
	if err != nil {
		return s.adminFail(c, "reset password", err)
	}
	var r resetRequest
	if c.Request().ContentLength != 0 {
		if ok, err := decodeJSON(c, &r); !ok {
			return err
		}
	}
	password, hash, generated, err := newPassword(u.Name, r.Password)
	if err != nil {
		return badField(c, "password", err.Error())
	}
	ctx := c.Request().Context()
	must := true
	if err := s.store.UpdateUser(ctx, u.ID, store.UserUpdate{PasswordHash: &hash, MustChangePassword: &must}); err != nil {
		return s.userFail(c, "reset password", err)
	}
	// The old password may be known to someone: its sessions end, and a
	// lockout from guessing it is lifted so the new one works at once.
	if _, err := s.store.DeleteUserSessions(ctx, u.ID, ""); err != nil {
		return s.adminFail(c, "reset password", err)
	}
	if err := s.store.ClearLoginFailures(ctx, u.Name); err != nil {
		return s.adminFail(c, "reset password", err)
	}
	s.audit(c, "user.password_reset", "", u.Name)
	if u, err = s.store.UserByID(ctx, u.ID); err != nil {
		return s.adminFail(c, "reset password", err)
	}
	out := userSaved{User: viewUser(u)}
	if generated {
		out.Password = password
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) adminUnlockUser(c echo.Context) error {
	u, err := s.userParam(c)
	if err != nil {
		return s.adminFail(c, "unlock user", err)
	}
	ctx := c.Request().Context()
	if err := s.store.ClearLoginFailures(ctx, u.Name); err != nil {
		return s.adminFail(c, "unlock user", err)
	}
	s.audit(c, "user.unlocked", "", u.Name)
	if u, err = s.store.UserByID(ctx, u.ID); err != nil {
		return s.adminFail(c, "unlock user", err)
	}
	return c.JSON(http.StatusOK, viewUser(u))
}

func (s *Server) adminLogoutUser(c echo.Context) error {
	u, err := s.userParam(c)
	if err != nil {
		return s.adminFail(c, "log out user", err)
	}
	n, err := s.store.DeleteUserSessions(c.Request().Context(), u.ID, "")
	if err != nil {
		return s.adminFail(c, "log out user", err)
	}
	s.audit(c, "user.logged_out", "", fmt.Sprintf("%s: %d sessions ended", u.Name, n))
	return c.JSON(http.StatusOK, map[string]int{"sessions_ended": n})
}
