package trunk

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/frontdesk-pbx/frontdesk/store"
)

// defaultExpires is asked for when a trunk has no expiry set.
const defaultExpires = 300

// session is one trunk's registration as SIP sees it: every REGISTER for
// it carries the same Call-ID and From tag and a higher CSeq (RFC 3261 10.2.4).
type session struct {
	name      string  // trunk name, for messages
	host      string  // provider as configured, for messages
	user      string  // address-of-record user
	authUser  string  // digest username
	password  string  // digest password
	recipient sip.Uri // Request-URI: sip:HOST[:PORT]
	aor       sip.Uri // To and From: sip:USER@HOST
	contact   sip.Uri // where the provider sends calls
	transport string  // "UDP" or "TCP"
	callID    string
	tag       string
	cseq      uint32
	expires   int // asked for, in seconds
	userAgent string
}

func newSession(t store.Trunk, contactHost string, contactPort int, userAgent string) (*session, error) {
	host, port, err := SplitHost(t.Host)
	if err != nil {
		return nil, fmt.Errorf("trunk %s: %w", t.Name, err)
	}
	transport := strings.ToUpper(cmp.Or(t.Transport, "udp"))
	if transport != "UDP" && transport != "TCP" {
		return nil, fmt.Errorf("trunk %s: transport %q: want udp or tcp", t.Name, t.Transport)
	}
	if t.Username == "" {
		return nil, fmt.Errorf("trunk %s: no username to register", t.Name)
	}
	s := &session{
		name:      t.Name,
		host:      t.Host,
		user:      t.Username,
		authUser:  cmp.Or(t.AuthUsername, t.Username),
		password:  t.Password,
		recipient: sip.Uri{Scheme: "sip", Host: host, Port: port},
		aor:       sip.Uri{Scheme: "sip", User: t.Username, Host: host},
		contact:   sip.Uri{Scheme: "sip", User: t.Username, Host: contactHost, Port: contactPort},
		transport: transport,
		callID:    randomHex(16) + "@frontdesk",
		tag:       randomHex(8),
		expires:   t.Expires,
		userAgent: userAgent,
	}
	if s.expires <= 0 {
		s.expires = defaultExpires
	}
	if transport == "TCP" {
		s.recipient.UriParams = sip.HeaderParams{{K: "transport", V: "tcp"}}
		s.contact.UriParams = sip.HeaderParams{{K: "transport", V: "tcp"}}
	}
	return s, nil
}

// request builds the next REGISTER asking for expires seconds (0: remove
// our binding).
func (s *session) request(expires int) *sip.Request {
	s.cseq++
	req := sip.NewRequest(sip.REGISTER, s.recipient)
	req.SetTransport(s.transport)
	from := &sip.FromHeader{Address: s.aor, Params: sip.NewParams()}
	from.Params.Add("tag", s.tag)
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: s.aor, Params: sip.NewParams()})
	callID := sip.CallIDHeader(s.callID)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: s.cseq, MethodName: sip.REGISTER})
	contact := &sip.ContactHeader{Address: s.contact, Params: sip.NewParams()}
	if expires == 0 {
		contact.Params.Add("expires", "0")
	}
	req.AppendHeader(contact)
	exp := sip.ExpiresHeader(uint32(expires))
	req.AppendHeader(&exp)
	req.AppendHeader(sip.NewHeader("User-Agent", s.userAgent))
	return req
}

// failure is a REGISTER that did not succeed, in words for the log and Status.
type failure struct {
	msg        string
	retryAfter time.Duration // the provider's Retry-After, if any
	// unanswered: no response came at all (timeout, transport error), as
	// opposed to the provider answering with an error.
	unanswered bool
}

func (f *failure) Error() string { return f.msg }

func failf(format string, args ...any) error { return &failure{msg: fmt.Sprintf(format, args...)} }

// unanswered says whether a REGISTER failed without any answer from the
// provider (see Status.Unreachable).
func unanswered(err error) bool {
	var f *failure
	return errors.As(err, &f) && f.unanswered
}

// retryAfter is the wait the provider asked for, or 0.
func retryAfter(err error) time.Duration {
	var f *failure
	if errors.As(err, &f) {
		return f.retryAfter
	}
	return 0
}

// register sends one REGISTER (answering challenges) and returns the time
// the provider granted.
func (k *Keeper) register(ctx context.Context, s *session) (time.Duration, error) {
	res, authed, err := k.exchange(ctx, s, s.expires)
	if err != nil {
		return 0, err
	}
	if res.StatusCode == sip.StatusIntervalToBrief {
		// 423: ask again for at least the provider's minimum (RFC 3261 10.2.8).
		if m := headerInt(res, "Min-Expires"); m > s.expires && m <= 24*3600 {
			k.log.Info("trunk expiry raised to the provider's minimum", "trunk", s.name, "expires", m)
			s.expires = m
			if res, authed, err = k.exchange(ctx, s, s.expires); err != nil {
				return 0, err
			}
		}
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return 0, s.refusal(res, authed)
	}
	return time.Duration(grantedExpiry(res, s.contact, s.expires)) * time.Second, nil
}

// unregister removes our binding at the provider (Expires: 0).
func (k *Keeper) unregister(ctx context.Context, s *session) error {
	res, authed, err := k.exchange(ctx, s, 0)
	if err != nil {
		return err
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return s.refusal(res, authed)
	}
	return nil
}

// exchange sends one REGISTER and answers the provider's digest challenge;
// authed says whether the final response answers a request with credentials.
func (k *Keeper) exchange(ctx context.Context, s *session, expires int) (res *sip.Response, authed bool, err error) {
	res, err = k.do(ctx, s, s.request(expires))
	for round := 0; err == nil && (res.StatusCode == sip.StatusUnauthorized || res.StatusCode == sip.StatusProxyAuthRequired); round++ {
		// A second challenge after credentials means they were wrong, unless
		// it only says the nonce went stale (answered once more).
		if authed && (round > 1 || !stale(res)) {
			return nil, true, failf("%s refused the credentials of %s: %d %s (wrong username or password?)",
				s.host, s.authUser, res.StatusCode, res.Reason)
		}
		if s.password == "" {
			return nil, false, failf("%s asks for a password, but trunk %s has none", s.host, s.name)
		}
		name, value, aerr := s.authorization(res)
		if aerr != nil {
			return nil, false, aerr
		}
		req := s.request(expires)
		req.AppendHeader(sip.NewHeader(name, value))
		authed = true
		res, err = k.do(ctx, s, req)
	}
	return res, authed, err
}

// do sends one request and waits for its final response.
func (k *Keeper) do(ctx context.Context, s *session, req *sip.Request) (*sip.Response, error) {
	res, err := k.client.Do(ctx, req, sipgo.ClientRequestBuild, localPort)
	switch {
	case err == nil:
		return res, nil
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, sip.ErrTransactionTimeout):
		return nil, &failure{msg: fmt.Sprintf("no answer from %s over %s", s.host, strings.ToLower(s.transport)), unanswered: true}
	case ctx.Err() != nil:
		return nil, ctx.Err()
	}
	return nil, &failure{msg: fmt.Sprintf("send REGISTER to %s: %v", s.host, err), unanswered: true}
}

// localPort lets a TCP connection to the provider be dialled from the PBX's
// address but another port: a client bound to the SIP port (so UDP REGISTERs
// leave from it) cannot dial from the port its own TCP listener holds.
func localPort(_ *sipgo.Client, req *sip.Request) error {
	if strings.EqualFold(req.Transport(), "TCP") {
		req.Laddr.Port = 0
	}
	return nil
}

// authorization answers the first digest challenge in res that can be
// answered (providers list the one they prefer first, RFC 8760).
func (s *session) authorization(res *sip.Response) (header, value string, err error) {
	challengeHeader, header := "WWW-Authenticate", "Authorization"
	if res.StatusCode == sip.StatusProxyAuthRequired {
		challengeHeader, header = "Proxy-Authenticate", "Proxy-Authorization"
	}
	var offered []string
	for _, h := range res.GetHeaders(challengeHeader) {
		chal, err := digest.ParseChallenge(h.Value())
		if err != nil {
			offered = append(offered, strings.SplitN(h.Value(), " ", 2)[0])
			continue
		}
		chal.Algorithm = strings.ToUpper(chal.Algorithm)
		if !digest.CanDigest(chal) {
			offered = append(offered, "Digest "+chal.Algorithm)
			continue
		}
		cred, err := digest.Digest(chal, digest.Options{
			Method: string(sip.REGISTER), URI: s.recipient.String(),
			Username: s.authUser, Password: s.password, Count: 1,
		})
		if err != nil {
			offered = append(offered, "Digest "+chal.Algorithm)
			continue
		}
		return header, cred.String(), nil
	}
	if len(offered) == 0 {
		return "", "", failf("%s answered %d %s without a challenge", s.host, res.StatusCode, res.Reason)
	}
	return "", "", failf("%s asks for authentication Frontdesk cannot answer (%s)", s.host, strings.Join(offered, ", "))
}

// stale says whether a challenge only asks to repeat with a fresh nonce.
func stale(res *sip.Response) bool {
	for _, name := range []string{"WWW-Authenticate", "Proxy-Authenticate"} {
		for _, h := range res.GetHeaders(name) {
			if c, err := digest.ParseChallenge(h.Value()); err == nil && c.Stale {
				return true
			}
		}
	}
	return false
}

// refusal describes a final non-2xx answer.
func (s *session) refusal(res *sip.Response, authed bool) error {
	f := &failure{retryAfter: time.Duration(headerInt(res, "Retry-After")) * time.Second}
	switch {
	case res.StatusCode == sip.StatusForbidden && authed:
		f.msg = fmt.Sprintf("%s refused the credentials of %s: %d %s (wrong username or password?)", s.host, s.authUser, res.StatusCode, res.Reason)
	default:
		f.msg = fmt.Sprintf("%s answered %d %s", s.host, res.StatusCode, res.Reason)
	}
	return f
}

// grantedExpiry reads the time the provider granted our binding: the
// expires parameter of our Contact in the 200 (or of the only Contact), else
// the Expires header, else what we asked for.
func grantedExpiry(res *sip.Response, contact sip.Uri, asked int) int {
	contacts := res.GetHeaders("Contact")
	for _, h := range contacts {
		c, ok := h.(*sip.ContactHeader)
		if !ok || (len(contacts) > 1 && !sameContact(c.Address, contact)) {
			continue
		}
		if v, ok := c.Params.Get("expires"); ok {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
				return n
			}
		}
	}
	if n := headerInt(res, "Expires"); n > 0 {
		return n
	}
	return asked
}

func sameContact(a, b sip.Uri) bool {
	port := func(u sip.Uri) int { return cmp.Or(u.Port, 5060) }
	return a.User == b.User && strings.EqualFold(a.Host, b.Host) && port(a) == port(b)
}

// headerInt reads a header holding a number of seconds (Retry-After may
// carry a comment after it); 0 if absent or not a number.
func headerInt(res *sip.Response, name string) int {
	h := res.GetHeader(name)
	if h == nil {
		return 0
	}
	f := strings.Fields(strings.SplitN(h.Value(), ";", 2)[0])
	if len(f) == 0 {
		return 0
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n < 0 {
		return 0
	}
	return n
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
