// Package mailer owns voicemail email notifications: it sends the mails that
// store.AddMessage queues in the email outbox when a message arrives, one per
// address of the box, with the recording attached (or a notice, with a link
// when a link base is set).
//
// The SMTP server is set in the store's settings (see Settings), so the CLI
// can change it while the server runs. Delivery never touches the message:
// a failed attempt is logged and retried with exponential backoff, and the
// message stays in its box whatever the mail server does.
package mailer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/frontdesk-pbx/frontdesk/pbx"
	"github.com/frontdesk-pbx/frontdesk/store"
)

// Retry timing: the first retry after FirstRetry, each next one twice as
// late, never later than MaxRetry.
const (
	FirstRetry = 10 * time.Second
	MaxRetry   = 30 * time.Minute
)

const (
	defaultPoll    = 5 * time.Second
	defaultTimeout = 60 * time.Second
	batchSize      = 20
)

// Backoff is the wait after the nth failed attempt at one mail (n >= 1).
func Backoff(failures int) time.Duration {
	d := FirstRetry
	for i := 1; i < failures && d < MaxRetry; i++ {
		d *= 2
	}
	return min(d, MaxRetry)
}

// Mailer sends queued notifications.
type Mailer struct {
	st      *store.Store
	dataDir string
	log     *slog.Logger
	wake    chan struct{}

	// Poll is how often the queue is checked without a Wake.
	Poll time.Duration
	// Timeout bounds one delivery attempt: connecting, talking, sending.
	Timeout time.Duration
	// TLSConfig, when set, is the base of the client TLS configuration
	// (e.g. RootCAs for a private CA); the server name is filled in.
	TLSConfig *tls.Config

	now func() time.Time
	loc *time.Location // for the time in the mail

	mu     sync.Mutex // serialises rounds
	hinted string     // the configuration problem last logged
}

// New makes a Mailer for the store and data directory (where the messages'
// audio lives).
func New(st *store.Store, dataDir string, log *slog.Logger) *Mailer {
	if log == nil {
		log = slog.Default()
	}
	return &Mailer{
		st: st, dataDir: dataDir, log: log.With("component", "mailer"),
		wake: make(chan struct{}, 1), Poll: defaultPoll, Timeout: defaultTimeout,
		now: time.Now, loc: time.Local,
	}
}

// Wake asks Run to look at the queue now. It never blocks.
func (m *Mailer) Wake() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Run sends due mails on every Wake and every Poll until ctx ends.
func (m *Mailer) Run(ctx context.Context) {
	t := time.NewTicker(m.Poll)
	defer t.Stop()
	for {
		m.sendDue(ctx)
		select {
		case <-ctx.Done():
			return
		case <-m.wake:
		case <-t.C:
		}
	}
}

// hint logs a configuration problem once (until it changes or goes away).
func (m *Mailer) hint(problem string, pending int) {
	if problem == m.hinted {
		return
	}
	m.hinted = problem
	if problem != "" {
		m.log.Warn("voicemail emails are waiting and can't be sent: "+problem+
			"; set the mail server with: frontdesk smtp set --host HOST --security starttls|tls|none --from ADDRESS", "pending", pending)
	}
}

// sendDue sends every mail whose attempt is due.
func (m *Mailer) sendDue(ctx context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := LoadSettings(ctx, m.st)
	if err == nil {
		err = s.Validate()
	}
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		pending, _, perr := m.st.PendingEmails(ctx)
		if perr == nil && pending > 0 {
			m.hint(err.Error(), pending)
		}
		return
	}
	m.hint("", 0)
	from, _ := mail.ParseAddress(s.From) // Validate checked it
	for ctx.Err() == nil {
		due, err := m.st.DueEmails(ctx, m.now(), batchSize)
		if err != nil {
			if ctx.Err() == nil {
				m.log.Error("read the email queue", "err", err)
			}
			return
		}
		var audio audioCache
		var down error // the server failed for everyone
		for _, e := range due {
			if ctx.Err() != nil {
				return
			}
			err := down
			if err == nil {
				err = m.deliver(ctx, s, from, e, &audio)
			}
			if errors.Is(err, errNotMarked) {
				return // sent, but the store failed: stop rather than send it again
			}
			if ctx.Err() != nil {
				return // shutting down: not the mail's fault, try again at the next start
			}
			if err != nil && isServerError(err) {
				down = err
			}
			if err != nil && !m.failed(ctx, e, err) {
				return
			}
		}
		if len(due) < batchSize || down != nil {
			return
		}
	}
}

// failed records a failed attempt and when to try again; false when even
// that could not be stored.
func (m *Mailer) failed(ctx context.Context, e store.Email, err error) bool {
	wait := Backoff(e.Attempts + 1)
	next := m.now().Add(wait)
	m.log.Warn("voicemail email not sent, will retry", "message", e.MessageID, "to", e.Address,
		"attempt", e.Attempts+1, "retry_in", wait.String(), "err", err)
	if serr := m.st.EmailFailed(context.WithoutCancel(ctx), e.ID, err.Error(), next); serr != nil {
		m.log.Error("record a failed email", "message", e.MessageID, "to", e.Address, "err", serr)
		return false
	}
	return true
}

// errGone: the message was deleted, so its mails go with it.
var errGone = errors.New("message is gone")

// errNotMarked: a mail went out but could not be marked sent.
var errNotMarked = errors.New("sent mail not marked sent")

// audioCache keeps the last recording read: a message's mails to several
// addresses are due together.
type audioCache struct {
	id   int64
	data []byte
}

// deliver sends one queued mail and marks it sent.
func (m *Mailer) deliver(ctx context.Context, s Settings, from *mail.Address, e store.Email, audio *audioCache) error {
	n, err := m.notice(ctx, s, e, audio)
	if errors.Is(err, errGone) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := m.send(ctx, s, e.Address, n.build(from, m.now())); err != nil {
		return err
	}
	// Once the server has the mail, record it even if we are shutting down:
	// a mail sent twice is better avoided.
	bg := context.WithoutCancel(ctx)
	if err := m.st.EmailSent(bg, e.ID, m.now()); err != nil {
		m.log.Error("mark a sent email", "message", e.MessageID, "to", e.Address, "err", err)
		return errNotMarked
	}
	detail := "to " + e.Address
	if n.audio != nil {
		detail += " with the audio"
	}
	_ = m.st.Audit(bg, "system", "email.sent", n.box.Number, e.MessageID, detail)
	m.log.Info("voicemail email sent", "message", e.MessageID, "box", n.box.Number, "to", e.Address,
		"attempt", e.Attempts+1, "attached", n.audio != nil)
	return nil
}

// notice gathers what the mail for e says; errGone when the message went.
func (m *Mailer) notice(ctx context.Context, s Settings, e store.Email, audio *audioCache) (notice, error) {
	msg, err := m.st.Message(ctx, e.MessageID)
	if errors.Is(err, store.ErrNotFound) {
		return notice{}, errGone
	}
	if err != nil {
		return notice{}, err
	}
	box, err := m.st.Box(ctx, msg.Box)
	if errors.Is(err, store.ErrNotFound) {
		return notice{}, errGone
	}
	if err != nil {
		return notice{}, err
	}
	n := notice{msg: msg, box: box, to: e.Address, loc: m.loc, forwarded: e.Forwarded}
	if t, err := m.st.Transcript(ctx, msg.ID); err == nil {
		n.transcript = t.Text
	}
	if !box.EmailAttach && !e.Forwarded {
		if s.LinkBase != "" {
			n.link = s.LinkBase + "/messages/" + strconv.FormatInt(msg.ID, 10)
		}
		return n, nil
	}
	if audio.data != nil && audio.id == msg.ID {
		n.audio = audio.data
		return n, nil
	}
	path := filepath.Join(m.dataDir, pbx.MessagesDir, msg.Audio)
	a, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		// Retrying can't bring it back: tell them there is a message anyway.
		m.log.Warn("voicemail email without its audio: the file is missing", "message", msg.ID, "file", path)
		n.audioMissing = true
	case err != nil:
		return notice{}, fmt.Errorf("read the recording: %w", err)
	default:
		*audio = audioCache{id: msg.ID, data: a}
		n.audio = a
	}
	return n, nil
}

// SendTest sends a test mail to one address now, with the stored settings.
func (m *Mailer) SendTest(ctx context.Context, to string) error {
	s, err := LoadSettings(ctx, m.st)
	if err != nil {
		return err
	}
	if err := s.Validate(); err != nil {
		return err
	}
	addr, err := mail.ParseAddress(to)
	if err != nil {
		return fmt.Errorf("address %q: %w", to, err)
	}
	from, _ := mail.ParseAddress(s.From)
	now := m.now()
	host, _ := os.Hostname()
	text := fmt.Sprintf("This is a test mail from Frontdesk on %s, sent %s.\n\n"+
		"Voicemail notifications will reach this address through %s (%s).\n", host,
		now.In(m.loc).Format("Monday 2 January 2006 15:04:05 MST"), s.Addr(), s.Security)
	return m.send(ctx, s, addr.Address, compose(from, addr.Address, "Frontdesk test mail", text, now, "", nil))
}
