package ui

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/frontdesk-pbx/frontdesk/pbx"
	"github.com/frontdesk-pbx/frontdesk/store"
)

// adminExtension is an extension as the admin API shows it (never its secret).
type adminExtension struct {
	store.Extension
	Devices int `json:"registered_devices"`
}

// adminExtensionDetail adds the registered devices.
type adminExtensionDetail struct {
	adminExtension
	Bindings []store.Binding `json:"bindings"`
}

func (s *Server) adminListExtensions(c echo.Context) error {
	ctx := c.Request().Context()
	exts, err := s.store.Extensions(ctx)
	if err != nil {
		return s.adminFail(c, "list extensions", err)
	}
	counts, err := s.store.RegisteredCounts(ctx, time.Now())
	if err != nil {
		return s.adminFail(c, "list extensions", err)
	}
	out := make([]adminExtension, 0, len(exts))
	for _, e := range exts {
		out = append(out, adminExtension{Extension: e, Devices: counts[e.Number]})
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) adminGetExtension(c echo.Context) error {
	ctx := c.Request().Context()
	e, err := s.store.Extension(ctx, c.Param("number"))
	if err != nil {
		return s.adminFail(c, "read extension", err)
	}
	bs, err := s.store.Bindings(ctx, e.Number, time.Now())
	if err != nil {
		return s.adminFail(c, "read extension", err)
	}
	if bs == nil {
		bs = []store.Binding{}
	}
	return c.JSON(http.StatusOK, adminExtensionDetail{adminExtension{e, len(bs)}, bs})
}

// extensionRequest is the body of add and edit; absent fields (edit) stay
// as they are.
type extensionRequest struct {
	Number             string  `json:"number"`
	Name               *string `json:"name"`
	Secret             *string `json:"secret"`     // add: "" generates one; edit: "" keeps it
	NewSecret          bool    `json:"new_secret"` // edit: generate a new one
	PIN                string  `json:"pin"`        // add: "" generates one
	Voicemail          *bool   `json:"voicemail"`  // add: default on
	Outbound           *string `json:"outbound"`
	RingSeconds        *int    `json:"ring_seconds"`
	ForwardNoAnswer    *string `json:"forward_no_answer"`
	ForwardBusy        *string `json:"forward_busy"`
	ForwardUnavailable *string `json:"forward_unavailable"`
}

// extensionSaved answers add and edit: the values shown only once.
type extensionSaved struct {
	Extension adminExtension `json:"extension"`
	Secret    string         `json:"secret,omitempty"` // generated SIP password
	PIN       string         `json:"pin,omitempty"`    // generated voicemail PIN
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return strings.TrimSpace(*p)
}

func (s *Server) adminAddExtension(c echo.Context) error {
	var r extensionRequest
	if ok, err := decodeJSON(c, &r); !ok {
		return err
	}
	ctx := c.Request().Context()
	ne := pbx.NewExtension{Number: strings.TrimSpace(r.Number), Name: str(r.Name), PIN: strings.TrimSpace(r.PIN),
		Voicemail: r.Voicemail == nil || *r.Voicemail, Outbound: str(r.Outbound),
		ForwardNoAnswer: str(r.ForwardNoAnswer), ForwardBusy: str(r.ForwardBusy), ForwardUnavailable: str(r.ForwardUnavailable)}
	if r.Secret != nil {
		ne.Secret = *r.Secret
	}
	if r.RingSeconds != nil {
		ne.RingSeconds = *r.RingSeconds
		if ne.RingSeconds == 0 {
			return badField(c, "ring_seconds", "ring seconds 0: want 1 to 600")
		}
	}
	p, err := ne.Prepare(ctx, s.store)
	if err != nil {
		return s.adminFail(c, "add extension", err)
	}
	if err := s.store.AddExtension(ctx, p.Extension, p.PINHash); err != nil {
		return s.adminFail(c, "add extension", err)
	}
	s.audit(c, "ext.added", "", fmt.Sprintf("%s (%s)", ne.Number, ne.Name))
	e, err := s.store.Extension(ctx, ne.Number)
	if err != nil {
		return s.adminFail(c, "add extension", err)
	}
	out := extensionSaved{Extension: adminExtension{Extension: e}}
	if p.SecretCreated {
		out.Secret = p.Secret
	}
	if p.PINCreated {
		out.PIN = p.PIN
	}
	return c.JSON(http.StatusCreated, out)
}

func (s *Server) adminUpdateExtension(c echo.Context) error {
	number := c.Param("number")
	var r extensionRequest
	if ok, err := decodeJSON(c, &r); !ok {
		return err
	}
	ctx := c.Request().Context()
	cur, err := s.store.Extension(ctx, number)
	if err != nil {
		return s.adminFail(c, "change extension", err)
	}
	ch := pbx.ExtensionChange{Name: r.Name, RingSeconds: r.RingSeconds, NewSecret: r.NewSecret, Outbound: r.Outbound,
		ForwardNoAnswer: trimmed(r.ForwardNoAnswer), ForwardBusy: trimmed(r.ForwardBusy), ForwardUnavailable: trimmed(r.ForwardUnavailable)}
	if r.Secret != nil && *r.Secret != "" {
		ch.Secret = r.Secret // the edit form's empty secret keeps the old one
	}
	u, generated, err := ch.Update(ctx, s.store, number)
	if err != nil {
		return s.adminFail(c, "change extension", err)
	}
	var changed []string
	if u != (store.ExtensionUpdate{}) {
		if err := s.store.UpdateExtension(ctx, number, u); err != nil {
			return s.adminFail(c, "change extension", err)
		}
		if u.Credentials != nil {
			changed = append(changed, "new secret")
		}
		changed = append(changed, "settings")
	}
	out := extensionSaved{Secret: generated}
	if r.Voicemail != nil && *r.Voicemail != cur.Voicemail {
		pin, hash, _, err := pbx.PINOrGenerated("")
		if err != nil {
			return s.adminFail(c, "change extension", err)
		}
		created, err := s.store.SetVoicemail(ctx, number, *r.Voicemail, hash)
		if err != nil {
			return s.adminFail(c, "change extension", err)
		}
		if created {
			out.PIN = pin
		}
		changed = append(changed, fmt.Sprintf("voicemail %v", *r.Voicemail))
	}
	if len(changed) > 0 {
		s.audit(c, "ext.set", "", number+": "+strings.Join(changed, ", "))
	}
	e, err := s.store.Extension(ctx, number)
	if err != nil {
		return s.adminFail(c, "change extension", err)
	}
	out.Extension = adminExtension{Extension: e}
	return c.JSON(http.StatusOK, out)
}

func trimmed(p *string) *string {
	if p == nil {
		return nil
	}
	v := strings.TrimSpace(*p)
	return &v
}

func (s *Server) adminRemoveExtension(c echo.Context) error {
	number := c.Param("number")
	if err := s.store.RemoveExtension(c.Request().Context(), number); err != nil {
		return s.adminFail(c, "remove extension", err)
	}
	s.audit(c, "ext.removed", "", number)
	return c.NoContent(http.StatusNoContent)
}
