// Package notify sends the notifications that the store queues for
// notification rules: on a new message, on an assignment, and when a
// message stays open longer than its inbox's limit. It runs beside the PBX
// and never holds it up: events are queued in the store's transactions, and
// this package delivers them from the outbox, retrying failures with the
// mailer's backoff for up to two days. Nothing is lost when a target is down.
//
// Channels:
//
//   - email: a plain-text mail through the SMTP server of the voicemail
//     mails (frontdesk smtp set).
//   - slack: a Slack incoming webhook, POST {"text": "..."}.
//   - webhook: POST of the event as JSON, signed (below).
//
// # Webhooks
//
// The body is the event as JSON:
//
//	{"event": "message.new" | "message.assigned" | "message.overdue",
//	 "message": {"id": 12, "box": "600", "box_name": "Sales",
//	             "caller_number": "+31205550123", "caller_name": "Jan",
//	             "time": "2026-01-02T15:04:05Z", "duration_seconds": 23.4,
//	             "transcript": "...", "url": "https://pbx.example.com/messages/12"},
//	 "assignee": "alice", "open_limit_minutes": 30}
//
// (transcript, url, assignee and open_limit_minutes only when there is one)
// with these headers:
//
//	X-Frontdesk-Event:     the event, as in the body
//	X-Frontdesk-Delivery:  the delivery's id; a retry has the same id, so
//	                       receivers can drop duplicates
//	X-Frontdesk-Timestamp: when this attempt was made, in unix seconds
//	X-Frontdesk-Signature: sha256=HEX
//
// where HEX is the lower-case hex HMAC-SHA256, keyed with the rule's secret,
// of the timestamp header's value, a dot, and the raw body:
//
//	HMAC-SHA256(secret, X-Frontdesk-Timestamp + "." + body)
//
// To verify: compute the same over the body as received (before parsing
// it), compare in constant time (hmac.Equal), and refuse timestamps more
// than a few minutes from your clock, which stops replays. Any 2xx answer
// counts as delivered; anything else, or no answer within 10 seconds, is
// retried later. Redirects are followed only to the same host. Targets on
// loopback, private and link-local addresses are refused unless the server
// runs with --notify-allow-private.
package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/frontdesk-pbx/frontdesk/pbx/mailer"
	"github.com/frontdesk-pbx/frontdesk/store"
)

// Defaults of Options.
const (
	DefaultPoll        = 5 * time.Second
	DefaultHTTPTimeout = 10 * time.Second
	DefaultGiveUp      = 48 * time.Hour
)

const batchSize = 50

// Options tune a Notifier; the zero value is right for the server.
type Options struct {
	// Poll is how often overdue messages and the outbox are checked
	// without a Wake.
	Poll time.Duration
	// HTTPTimeout bounds one Slack or webhook delivery.
	HTTPTimeout time.Duration
	// GiveUp: a notification still failing after retrying this long (by
	// the backoff schedule) is given up, and logged.
	GiveUp time.Duration
	// Mailer sends the emails; nil makes one on the store, which reads the
	// SMTP settings at each send.
	Mailer *mailer.Mailer
	// Client, when set, replaces the HTTP client (its redirect policy and
	// timeout are still set here).
	Client *http.Client
	// Location is the time zone of times in emails and Slack; nil is local.
	Location *time.Location
	// Now is the clock (tests).
	Now func() time.Time
	// AllowPrivate lets Slack and webhook deliveries reach loopback,
	// private and link-local addresses. Off by default, so a user's webhook
	// rule can't make the server probe the office network.
	AllowPrivate bool
}

// Notifier delivers queued notifications.
type Notifier struct {
	st     *store.Store
	log    *slog.Logger
	opts   Options
	client *http.Client
	mail   *mailer.Mailer
	wake   chan struct{}
	mu     sync.Mutex // serialises rounds
}

// New makes a Notifier for the store.
func New(st *store.Store, log *slog.Logger, opts Options) *Notifier {
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "notify")
	if opts.Poll <= 0 {
		opts.Poll = DefaultPoll
	}
	if opts.HTTPTimeout <= 0 {
		opts.HTTPTimeout = DefaultHTTPTimeout
	}
	if opts.GiveUp <= 0 {
		opts.GiveUp = DefaultGiveUp
	}
	if opts.Mailer == nil {
		opts.Mailer = mailer.New(st, "", log)
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	client := &http.Client{}
	if opts.Client != nil {
		c := *opts.Client
		client = &c
	} else if !opts.AllowPrivate {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.Proxy = nil
		// The check runs on the address actually dialled, after DNS, so a
		// name that resolves (or re-resolves) to a private address is caught.
		t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, Control: publicOnly}).DialContext
		client.Transport = t
	}
	client.Timeout = opts.HTTPTimeout
	client.CheckRedirect = sameHostRedirects
	return &Notifier{st: st, log: log, opts: opts, client: client, mail: opts.Mailer, wake: make(chan struct{}, 1)}
}

// ErrPrivateTarget refuses a webhook to a loopback, private or link-local address.
var ErrPrivateTarget = errors.New("webhook target is a private or loopback address; start the server with --notify-allow-private to allow it")

// carrierNAT is 100.64.0.0/10 (RFC 6598), private in all but name.
var carrierNAT = netip.MustParsePrefix("100.64.0.0/10")

// publicOnly is a net.Dialer Control refusing non-public addresses.
func publicOnly(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return err
	}
	ip = ip.Unmap()
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsUnspecified() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast() || carrierNAT.Contains(ip) {
		return fmt.Errorf("%s: %w", ip, ErrPrivateTarget)
	}
	return nil
}

// sameHostRedirects follows at most 3 redirects, and only on the same host:
// a webhook must not be bounced to somewhere its owner did not name.
func sameHostRedirects(req *http.Request, via []*http.Request) error {
	if len(via) >= 3 {
		return errors.New("too many redirects")
	}
	if req.URL.Host != via[0].URL.Host {
		return fmt.Errorf("redirect to another host (%s) refused", req.URL.Host)
	}
	if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
		return errors.New("redirect from https to http refused")
	}
	return nil
}

// Wake asks Run to look at the queue now. It never blocks.
func (n *Notifier) Wake() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// Run queues overdue notices and sends due notifications on every Wake and
// every Poll until ctx ends.
func (n *Notifier) Run(ctx context.Context) {
	t := time.NewTicker(n.opts.Poll)
	defer t.Stop()
	for {
		n.round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-n.wake:
		case <-t.C:
		}
	}
}

// round does one pass: overdue messages, then every due notification.
func (n *Notifier) round(ctx context.Context) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if c, err := n.st.NotifyOverdue(ctx, n.opts.Now()); err != nil {
		if ctx.Err() == nil {
			n.log.Error("queue overdue notifications", "err", err)
		}
	} else if c > 0 {
		n.log.Info("messages open too long: notifications queued", "messages", c)
	}
	for ctx.Err() == nil {
		due, err := n.st.DueNotifications(ctx, n.opts.Now(), batchSize)
		if err != nil {
			if ctx.Err() == nil {
				n.log.Error("read the notification queue", "err", err)
			}
			return
		}
		// down: a target that failed in this round; its other notifications
		// wait for their retry instead of hammering it (or waiting out its
		// timeout) once each.
		down := map[string]error{}
		for _, d := range due {
			if ctx.Err() != nil {
				return
			}
			key := d.Channel + " " + d.Target
			err, skip := down[key]
			if !skip {
				err = n.deliver(ctx, d)
			}
			if ctx.Err() != nil {
				return // shutting down: not the target's fault; the row stays due
			}
			bg := context.WithoutCancel(ctx)
			if err == nil {
				if serr := n.st.NotificationSent(bg, d.ID, n.opts.Now()); serr != nil {
					n.log.Error("mark a sent notification", "id", d.ID, "err", serr)
					return // rather than send it again and again
				}
				n.log.Info("notification sent", "id", d.ID, "event", d.Event, "message", d.MessageID,
					"channel", d.Channel, "to", redact(d), "attempt", d.Attempts+1)
				continue
			}
			down[key] = err
			if !n.failed(bg, d, err) {
				return
			}
		}
		if len(due) < batchSize {
			return
		}
	}
}

// failed records a failed attempt: a retry after the backoff, or giving up
// once retrying has lasted GiveUp. False when even that could not be stored.
func (n *Notifier) failed(ctx context.Context, d store.Notification, err error) bool {
	failures := d.Attempts + 1
	var next time.Time
	if waited(failures) < n.opts.GiveUp {
		wait := mailer.Backoff(failures)
		next = n.opts.Now().Add(wait)
		n.log.Warn("notification not sent, will retry", "id", d.ID, "event", d.Event, "message", d.MessageID,
			"channel", d.Channel, "to", redact(d), "attempt", failures, "retry_in", wait.String(), "err", err)
	} else {
		n.log.Error("notification given up after retrying for two days", "id", d.ID, "event", d.Event, "message", d.MessageID,
			"channel", d.Channel, "to", redact(d), "attempts", failures, "err", err)
	}
	if serr := n.st.NotificationFailed(ctx, d.ID, next, err.Error()); serr != nil {
		n.log.Error("record a failed notification", "id", d.ID, "err", serr)
		return false
	}
	return true
}

// waited is how long a notification has been retried after its nth failure,
// by the backoff schedule.
func waited(failures int) time.Duration {
	var sum time.Duration
	for i := 1; i < failures; i++ {
		sum += mailer.Backoff(i)
	}
	return sum
}

// redact is the target for the log: a URL's path and query often hold its
// credentials (a Slack webhook's whole path is the secret), so only the
// host is logged.
func redact(d store.Notification) string {
	if d.Channel == store.NotifyChannelEmail {
		return d.Target
	}
	if i := strings.Index(d.Target, "://"); i >= 0 {
		rest := d.Target[i+3:]
		if j := strings.IndexAny(rest, "/?#"); j >= 0 {
			rest = rest[:j]
		}
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			rest = rest[at+1:]
		}
		return d.Target[:i+3] + rest + "/..."
	}
	return "?"
}

// deliver sends one notification.
func (n *Notifier) deliver(ctx context.Context, d store.Notification) error {
	var p store.NotifyPayload
	if err := json.Unmarshal(d.Payload, &p); err != nil {
		return fmt.Errorf("bad payload: %w", err)
	}
	body := d.Payload
	// A new message is usually queued before its transcription is done: add
	// the transcript when it has come since.
	if p.Message.Transcript == "" && d.MessageID != 0 {
		if t, err := n.st.Transcript(ctx, d.MessageID); err == nil && strings.TrimSpace(t.Text) != "" {
			p.Message.Transcript = strings.TrimSpace(t.Text)
			if b, err := json.Marshal(p); err == nil {
				body = b
			}
		}
	}
	switch d.Channel {
	case store.NotifyChannelEmail:
		subject, text := emailText(p, n.opts.Location)
		return n.mail.SendText(ctx, d.Target, subject, text)
	case store.NotifyChannelSlack:
		b, _ := json.Marshal(map[string]string{"text": slackText(p, n.opts.Location)})
		return n.post(ctx, d.Target, b, nil)
	case store.NotifyChannelWebhook:
		ts := strconv.FormatInt(n.opts.Now().Unix(), 10)
		h := http.Header{}
		h.Set("X-Frontdesk-Event", d.Event)
		h.Set("X-Frontdesk-Delivery", strconv.FormatInt(d.ID, 10))
		h.Set("X-Frontdesk-Timestamp", ts)
		h.Set("X-Frontdesk-Signature", Sign(d.Secret, ts, body))
		return n.post(ctx, d.Target, body, h)
	}
	return fmt.Errorf("unknown channel %q", d.Channel)
}

// Sign is the X-Frontdesk-Signature of a webhook body sent at timestamp
// (unix seconds, as in X-Frontdesk-Timestamp): "sha256=" and the hex
// HMAC-SHA256 of timestamp + "." + body, keyed with the rule's secret.
func Sign(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a webhook's signature header against its timestamp and raw
// body, in constant time. (Receivers should also refuse old timestamps.)
func Verify(secret, timestamp, signature string, body []byte) bool {
	return hmac.Equal([]byte(Sign(secret, timestamp, body)), []byte(signature))
}

// post sends body as JSON; any 2xx answer is success.
func (n *Notifier) post(ctx context.Context, target string, body []byte, h http.Header) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("bad URL: %w", err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Frontdesk-Notify/1")
	resp, err := n.client.Do(req)
	if err != nil {
		// The URL may hold a secret (Slack): say what failed without it.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("POST failed: %w", err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg := strings.Join(strings.Fields(string(snippet)), " ")
		if len(msg) > 200 {
			msg = msg[:200] + "..."
		}
		if msg != "" {
			return fmt.Errorf("HTTP %s: %s", resp.Status, msg)
		}
		return fmt.Errorf("HTTP %s", resp.Status)
	}
	return nil
}
