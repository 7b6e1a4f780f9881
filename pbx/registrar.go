package pbx

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/frontdesk-pbx/frontdesk/pbx/sipauth"
	"github.com/frontdesk-pbx/frontdesk/store"
)

// Registration expiry limits (seconds).
const (
	minExpires     = 60
	maxExpires     = 3600
	defaultExpires = 3600
)

// registrar answers REGISTER requests (RFC 3261 section 10).
type registrar struct {
	store *store.Store
	auth  *sipauth.Authenticator
	log   *slog.Logger
	now   func() time.Time
	// slots bounds the REGISTERs handled at once.
	slots    chan struct{}
	counters *counters
	// abuse counts wrong credentials and unknown users per source.
	abuse *abuseGuard
}

// maxConcurrentRegisters bounds REGISTER work in flight; beyond it phones get
// 503 with Retry-After instead of answers that arrive too late.
const maxConcurrentRegisters = 64

func (r *registrar) handle(req *sip.Request, tx sip.ServerTransaction) {
	// Overload: answer 503 at once rather than queue work that will time out.
	select {
	case r.slots <- struct{}{}:
		defer func() { <-r.slots }()
	default:
		res := sip.NewResponseFromRequest(req, sip.StatusServiceUnavailable, "Overloaded", nil)
		res.AppendHeader(sip.NewHeader("Retry-After", "5"))
		_ = tx.Respond(res)
		r.counters.register(503)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res := r.register(ctx, req)
	r.counters.register(res.StatusCode)
	r.log.Debug("REGISTER", "source", req.Source(), "transport", req.Transport(), "status", res.StatusCode)
	if err := tx.Respond(res); err != nil {
		r.log.Debug("send REGISTER response", "error", err)
	}
}

// register decides the response to one REGISTER.
func (r *registrar) register(ctx context.Context, req *sip.Request) *sip.Response {
	to := req.To()
	if to == nil || to.Address.User == "" {
		return sip.NewResponseFromRequest(req, sip.StatusBadRequest, "Missing To user", nil)
	}
	ext := to.Address.User

	user, err := r.auth.Verify(headerValue(req, "Authorization"), string(req.Method), secretsLookup(ctx, r.store))
	switch {
	case errors.Is(err, sipauth.ErrNoCredentials), errors.Is(err, sipauth.ErrStale):
		if errors.Is(err, sipauth.ErrNoCredentials) && r.abuse.tracks(req.Source()) {
			// Scanners probe for extensions: the answer is the same
			// challenge, but the probe counts against the source.
			if exists, err := r.store.ExtensionExists(ctx, ext); err == nil && !exists {
				r.abuse.fail(req.Source(), failUnknownUser)
			}
		}
		return challenge(req, r.auth, sip.StatusUnauthorized, "WWW-Authenticate", errors.Is(err, sipauth.ErrStale))
	case err != nil || user != ext:
		// The same answer for an unknown extension and a wrong secret.
		r.abuse.fail(req.Source(), failWrongCredentials)
		r.log.Info("registration refused", "extension", ext, "source", req.Source())
		return sip.NewResponseFromRequest(req, sip.StatusForbidden, "Forbidden", nil)
	}

	now := r.now()
	if err := r.applyContacts(ctx, req, ext, now); err != nil {
		var tooBrief errIntervalTooBrief
		if errors.As(err, &tooBrief) {
			res := sip.NewResponseFromRequest(req, sip.StatusIntervalToBrief, "Interval Too Brief", nil)
			res.AppendHeader(sip.NewHeader("Min-Expires", strconv.Itoa(minExpires)))
			return res
		}
		if errors.Is(err, errBadContact) || errors.Is(err, errBadExpires) {
			return sip.NewResponseFromRequest(req, sip.StatusBadRequest, err.Error(), nil)
		}
		r.log.Error("registration not saved", "extension", ext, "error", err)
		return sip.NewResponseFromRequest(req, sip.StatusInternalServerError, "Server Error", nil)
	}

	// 200 OK lists every current binding of the extension (RFC 3261 10.3 step 8).
	bindings, err := r.store.BindingContacts(ctx, ext, now)
	if err != nil {
		r.log.Error("list registrations", "extension", ext, "error", err)
		return sip.NewResponseFromRequest(req, sip.StatusInternalServerError, "Server Error", nil)
	}
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	for _, b := range bindings {
		secs := int(b.ExpiresAt.Sub(now).Seconds())
		res.AppendHeader(sip.NewHeader("Contact", "<"+b.Contact+">;expires="+strconv.Itoa(secs)))
	}
	res.AppendHeader(sip.NewHeader("Date", now.UTC().Format(time.RFC1123)))
	return res
}

type errIntervalTooBrief struct{}

func (errIntervalTooBrief) Error() string { return "interval too brief" }

var (
	errBadContact = errors.New("bad Contact")
	errBadExpires = errors.New("bad Expires")
)

// applyContacts adds, refreshes or removes the bindings a REGISTER names.
func (r *registrar) applyContacts(ctx context.Context, req *sip.Request, ext string, now time.Time) error {
	headerExpires := defaultExpires
	if h := req.GetHeader("Expires"); h != nil {
		v, err := strconv.Atoi(strings.TrimSpace(h.Value()))
		if err != nil || v < 0 {
			return errBadExpires
		}
		headerExpires = v
	}
	contacts := req.GetHeaders("Contact")
	if len(contacts) == 0 {
		return nil // a query: just list the bindings
	}
	cseq := uint32(0)
	if c := req.CSeq(); c != nil {
		cseq = c.SeqNo
	}
	callID := ""
	if c := req.CallID(); c != nil {
		callID = c.Value()
	}
	userAgent := headerValue(req, "User-Agent")
	transport := strings.ToLower(req.Transport())
	for _, h := range contacts {
		c, ok := h.(*sip.ContactHeader)
		if !ok {
			return errBadContact
		}
		expires := headerExpires
		if v, ok := c.Params.Get("expires"); ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return errBadExpires
			}
			expires = n
		}
		if c.Address.Wildcard {
			// "Contact: *" is only valid alone with Expires: 0: drop every device.
			if expires != 0 || len(contacts) != 1 {
				return errBadContact
			}
			return r.store.RemoveBindings(ctx, ext)
		}
		uri := c.Address.String()
		if expires == 0 {
			if err := r.store.RemoveBinding(ctx, ext, uri); err != nil {
				return err
			}
			continue
		}
		if expires < minExpires {
			return errIntervalTooBrief{}
		}
		expires = min(expires, maxExpires)
		err := r.store.SaveBinding(ctx, store.Binding{
			Extension: ext,
			Contact:   uri,
			Transport: transport,
			Source:    req.Source(),
			CallID:    callID,
			CSeq:      cseq,
			UserAgent: userAgent,
			ExpiresAt: now.Add(time.Duration(expires) * time.Second),
		})
		if err != nil {
			return err
		}
		r.log.Debug("registered", "extension", ext, "contact", uri, "source", req.Source(), "expires", expires)
	}
	return nil
}

// deviceURI is where a binding is reached: the Contact's user and parameters
// at the address the REGISTER came from. Phones behind NAT put a private
// address in Contact; the source address (with rport) is the one that works.
func deviceURI(b store.Binding) (sip.Uri, error) {
	var u sip.Uri
	if err := sip.ParseUri(b.Contact, &u); err != nil {
		return sip.Uri{}, err
	}
	host, port, err := net.SplitHostPort(b.Source)
	if err != nil {
		return sip.Uri{}, err
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return sip.Uri{}, err
	}
	u.Host, u.Port = host, p
	if u.UriParams != nil {
		u.UriParams.Remove("transport")
	}
	return u, nil
}

// secretsLookup adapts the store for sipauth.
func secretsLookup(ctx context.Context, st *store.Store) sipauth.Lookup {
	return func(user string) (sipauth.Secrets, bool) {
		c, err := st.ExtensionCredentials(ctx, user)
		if err != nil {
			return sipauth.Secrets{}, false
		}
		return sipauth.Secrets{HA1MD5: c.HA1MD5, HA1SHA256: c.HA1SHA256}, true
	}
}

// challenge builds a 401 or 407 with one challenge per algorithm.
func challenge(req *sip.Request, auth *sipauth.Authenticator, code int, header string, stale bool) *sip.Response {
	reason := "Unauthorized"
	if code == sip.StatusProxyAuthRequired {
		reason = "Proxy Authentication Required"
	}
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, v := range auth.Challenges(stale) {
		res.AppendHeader(sip.NewHeader(header, v))
	}
	return res
}

func headerValue(req *sip.Request, name string) string {
	if h := req.GetHeader(name); h != nil {
		return h.Value()
	}
	return ""
}
