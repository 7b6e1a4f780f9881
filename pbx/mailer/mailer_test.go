package mailer

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"io"
	"log/slog"
	"math"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/frontdesk-pbx/frontdesk/media"
	"github.com/frontdesk-pbx/frontdesk/pbx"
	"github.com/frontdesk-pbx/frontdesk/store"
)

const testFrom = "Frontdesk <pbx@example.test>"

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fakeClock is the mailer's clock, moved by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is a store with box 600 holding one message whose mails are queued.
type fixture struct {
	st    *store.Store
	dir   string
	msg   store.Message
	wav   []byte
	logs  *syncBuffer
	clock *fakeClock
	m     *Mailer
}

var testZone = time.FixedZone("CET", 3600)

func newFixture(t *testing.T, attach bool, emails ...string) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.AddBox(ctx, store.Box{Number: "600", Name: "Sales", Kind: store.BoxShared, Emails: emails, EmailAttach: attach}); err != nil {
		t.Fatal(err)
	}
	samples := make([]int16, media.SampleRate*3/2)
	for i := range samples {
		samples[i] = int16(8000 * math.Sin(2*math.Pi*440*float64(i)/media.SampleRate))
	}
	msgDir := filepath.Join(dir, pbx.MessagesDir)
	if err := os.MkdirAll(msgDir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := media.WriteWAVFileAtomic(filepath.Join(msgDir, "m1.wav"), media.Audio{Rate: media.SampleRate, Samples: samples}); err != nil {
		t.Fatal(err)
	}
	wav, err := os.ReadFile(filepath.Join(msgDir, "m1.wav"))
	if err != nil {
		t.Fatal(err)
	}
	msg := store.Message{Box: "600", CallerNumber: "101", CallerName: "Alice", CalledNumber: "600",
		StartedAt: time.Date(2026, 3, 4, 9, 5, 6, 0, time.UTC), Duration: 23.4, Audio: "m1.wav"}
	if msg.ID, err = st.AddMessage(ctx, msg, emails); err != nil {
		t.Fatal(err)
	}
	if msg, err = st.Message(ctx, msg.ID); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	clock := &fakeClock{t: time.Now()}
	m := New(st, dir, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	m.Poll = time.Hour // only Wake sends
	m.Timeout = 5 * time.Second
	m.now = clock.now
	m.loc = testZone
	return &fixture{st: st, dir: dir, msg: msg, wav: wav, logs: logs, clock: clock, m: m}
}

// run runs the mailer until the test ends.
func (f *fixture) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		f.m.Run(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
}

func (f *fixture) settings(t *testing.T, s Settings) {
	t.Helper()
	if s.From == "" {
		s.From = testFrom
	}
	if err := SaveSettings(context.Background(), f.st, s); err != nil {
		t.Fatal(err)
	}
}

// outbox returns the message's queued mails.
func (f *fixture) outbox(t *testing.T) []store.OutboxEmail {
	t.Helper()
	es, err := f.st.OutboxEmails(context.Background(), f.msg.ID)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// waitOutbox polls until ok holds for the message's mails.
func (f *fixture) waitOutbox(t *testing.T, what string, ok func([]store.OutboxEmail) bool) []store.OutboxEmail {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		es := f.outbox(t)
		if ok(es) {
			return es
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: outbox is %+v\nlog:\n%s", what, es, f.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// messageUntouched checks the message row and its audio are as deposited.
func (f *fixture) messageUntouched(t *testing.T) {
	t.Helper()
	got, err := f.st.Message(context.Background(), f.msg.ID)
	if err != nil {
		t.Fatalf("the message is gone: %v", err)
	}
	if got.Played != f.msg.Played || got.Status != f.msg.Status || got.DeletedAt != nil || got.Audio != f.msg.Audio ||
		got.Duration != f.msg.Duration || !got.StartedAt.Equal(f.msg.StartedAt) {
		t.Errorf("message changed: %+v, was %+v", got, f.msg)
	}
	wav, err := os.ReadFile(filepath.Join(f.dir, pbx.MessagesDir, f.msg.Audio))
	if err != nil || !bytes.Equal(wav, f.wav) {
		t.Errorf("the message's audio changed or went (%v)", err)
	}
	msgs, err := f.st.Messages(context.Background(), "600")
	if err != nil || len(msgs) != 1 {
		t.Errorf("box 600 has %d messages (%v), want 1", len(msgs), err)
	}
}

// parsedMail is a received mail taken apart.
type parsedMail struct {
	Header     mail.Header
	Subject    string
	Text       string
	Attachment []byte
	AttachType string
	AttachName string
}

func parseMail(t *testing.T, data []byte) parsedMail {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("received mail does not parse: %v\n%s", err, data)
	}
	p := parsedMail{Header: msg.Header}
	if p.Subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		t.Fatalf("Subject: %v", err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	switch mt {
	case "text/plain":
		if params["charset"] != "utf-8" || msg.Header.Get("Content-Transfer-Encoding") != "quoted-printable" {
			t.Errorf("text mail: Content-Type %q, Content-Transfer-Encoding %q", msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"))
		}
		b, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
		if err != nil {
			t.Fatal(err)
		}
		p.Text = string(b)
	case "multipart/mixed":
		mr := multipart.NewReader(msg.Body, params["boundary"])
		for i := 0; ; i++ {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("part %d: %v", i, err)
			}
			pt, pparams, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
			switch {
			case i == 0 && pt == "text/plain":
				// multipart.Reader decodes quoted-printable itself.
				b, _ := io.ReadAll(part)
				p.Text = string(b)
			case i == 1:
				p.AttachType = pt
				if cte := part.Header.Get("Content-Transfer-Encoding"); cte != "base64" {
					t.Errorf("attachment Content-Transfer-Encoding %q, want base64", cte)
				}
				if d, dparams, _ := mime.ParseMediaType(part.Header.Get("Content-Disposition")); d != "attachment" || dparams["filename"] != pparams["name"] {
					t.Errorf("attachment Content-Disposition %q", part.Header.Get("Content-Disposition"))
				}
				p.AttachName = part.FileName()
				if p.Attachment, err = io.ReadAll(base64.NewDecoder(base64.StdEncoding, part)); err != nil {
					t.Fatalf("attachment: %v", err)
				}
			default:
				t.Errorf("unexpected part %d: %s", i, part.Header.Get("Content-Type"))
			}
		}
	default:
		t.Fatalf("Content-Type %q", mt)
	}
	return p
}

// checkNotice checks what every notification of the fixture's message says.
func checkNotice(t *testing.T, f *fixture, r received, to string) parsedMail {
	t.Helper()
	if r.From != "pbx@example.test" {
		t.Errorf("MAIL FROM %q", r.From)
	}
	if len(r.To) != 1 || r.To[0] != to {
		t.Errorf("RCPT TO %q, want %q", r.To, to)
	}
	p := parseMail(t, r.Data)
	h := p.Header
	if a, err := mail.ParseAddress(h.Get("From")); err != nil || a.Address != "pbx@example.test" || a.Name != "Frontdesk" {
		t.Errorf("From %q", h.Get("From"))
	}
	if a, err := mail.ParseAddress(h.Get("To")); err != nil || a.Address != to {
		t.Errorf("To %q, want %s", h.Get("To"), to)
	}
	if d, err := h.Date(); err != nil || d.Sub(f.clock.now()).Abs() > time.Second {
		t.Errorf("Date %q (%v), want about %v", h.Get("Date"), err, f.clock.now())
	}
	if id := h.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@example.test>") {
		t.Errorf("Message-ID %q", id)
	}
	if v := h.Get("MIME-Version"); v != "1.0" {
		t.Errorf("MIME-Version %q", v)
	}
	if want := "Voicemail from 101 Alice (0:23) to Sales 600"; p.Subject != want {
		t.Errorf("Subject %q, want %q", p.Subject, want)
	}
	for _, want := range []string{
		"Caller:        101\n",
		"Caller name:   Alice\n",
		"Called number: 600\n",
		"Box:           Sales 600\n",
		"Time:          Wednesday 4 March 2026 10:05:06 CET\n",
		"Duration:      0:23\n",
	} {
		if !strings.Contains(p.Text, want) {
			t.Errorf("body lacks %q:\n%s", want, p.Text)
		}
	}
	return p
}

func TestDelivery(t *testing.T) {
	cert, pool := testCert(t)
	tests := []struct {
		name     string
		server   smtpConfig
		security string
		user     string
		pass     string
		attach   bool
		linkBase string
		wantTLS  bool
	}{
		{name: "plain", security: SecurityNone, attach: true},
		{name: "plain, notice only", security: SecurityNone},
		{name: "plain, notice with link", security: SecurityNone, linkBase: "https://pbx.example.test/"},
		{name: "plain with auth on loopback", server: smtpConfig{user: "mailer", pass: "s3cret"}, security: SecurityNone, user: "mailer", pass: "s3cret", attach: true},
		{name: "starttls", server: smtpConfig{starttls: true}, security: SecurityStartTLS, attach: true, wantTLS: true},
		{name: "starttls with auth", server: smtpConfig{starttls: true, user: "mailer", pass: "s3cret"}, security: SecurityStartTLS, user: "mailer", pass: "s3cret", attach: true, wantTLS: true},
		{name: "implicit tls", server: smtpConfig{implicitTLS: true}, security: SecurityTLS, attach: true, wantTLS: true},
		{name: "implicit tls with auth, notice only", server: smtpConfig{implicitTLS: true, user: "mailer", pass: "s3cret"}, security: SecurityTLS, user: "mailer", pass: "s3cret", wantTLS: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addrs := []string{"anna@example.test", "ben@example.test"}
			f := newFixture(t, tc.attach, addrs...)
			tc.server.cert = cert
			srv := startSMTP(t, "127.0.0.1:0", tc.server)
			f.settings(t, Settings{Host: "127.0.0.1", Port: srv.Port, Security: tc.security, Username: tc.user, Password: tc.pass, LinkBase: tc.linkBase})
			f.m.TLSConfig = &tls.Config{RootCAs: pool}
			f.run(t)
			f.m.Wake()

			got := map[string]received{}
			for range addrs {
				r := srv.wait(t, 10*time.Second)
				got[r.To[0]] = r
			}
			for _, to := range addrs {
				r, ok := got[to]
				if !ok {
					t.Fatalf("no mail to %s (got %v)", to, got)
				}
				if r.TLS != tc.wantTLS {
					t.Errorf("mail over TLS: %v, want %v", r.TLS, tc.wantTLS)
				}
				if r.AuthUser != tc.user {
					t.Errorf("authenticated as %q, want %q", r.AuthUser, tc.user)
				}
				p := checkNotice(t, f, r, to)
				switch {
				case tc.attach:
					if p.AttachType != "audio/wav" || p.AttachName != "voicemail-600-"+strconv.FormatInt(f.msg.ID, 10)+".wav" {
						t.Errorf("attachment %s %q", p.AttachType, p.AttachName)
					}
					if !bytes.Equal(p.Attachment, f.wav) {
						t.Errorf("attachment is %d bytes, differs from the stored %d-byte WAV", len(p.Attachment), len(f.wav))
					}
					if !strings.Contains(p.Text, "The recording is attached (voicemail-600-") {
						t.Errorf("body does not mention the attachment:\n%s", p.Text)
					}
				default:
					if p.Attachment != nil || p.Header.Get("Content-Type") == "" || !strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain") {
						t.Errorf("notice-only mail is %q with %d attached bytes", p.Header.Get("Content-Type"), len(p.Attachment))
					}
					link := "https://pbx.example.test/messages/" + strconv.FormatInt(f.msg.ID, 10)
					if tc.linkBase != "" && !strings.Contains(p.Text, "Listen to it at "+link+"\n") {
						t.Errorf("body lacks the link %s:\n%s", link, p.Text)
					}
					if tc.linkBase == "" && strings.Contains(p.Text, "http") {
						t.Errorf("body has a link though no link base is set:\n%s", p.Text)
					}
				}
			}
			es := f.waitOutbox(t, "both mails marked sent", func(es []store.OutboxEmail) bool {
				return len(es) == 2 && es[0].SentAt != nil && es[1].SentAt != nil
			})
			for _, e := range es {
				if e.Attempts != 1 || e.LastError != "" {
					t.Errorf("sent mail %+v: want 1 attempt, no error", e)
				}
			}
			if n, _, err := f.st.PendingEmails(context.Background()); err != nil || n != 0 {
				t.Errorf("PendingEmails = %d, %v; want 0", n, err)
			}
			// The audit row follows the sent mark: wait for both.
			var audit []store.AuditEntry
			sent := 0
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				audit, _ = f.st.AuditLog(context.Background(), 10)
				sent = 0
				for _, a := range audit {
					if a.Action == "email.sent" && a.MessageID == f.msg.ID {
						sent++
					}
				}
				if sent >= 2 || time.Now().After(deadline) {
					break
				}
			}
			if sent != 2 {
				t.Errorf("%d email.sent audit rows, want 2: %+v", sent, audit)
			}
			f.messageUntouched(t)
		})
	}
}

func TestDeliveryFailures(t *testing.T) {
	cert, pool := testCert(t)
	tests := []struct {
		name     string
		server   smtpConfig
		settings Settings
		trust    bool
		want     string
	}{
		{name: "auth required, no username", server: smtpConfig{user: "mailer", pass: "s3cret"},
			settings: Settings{Security: SecurityNone}, want: "530 5.7.0 authentication required"},
		{name: "wrong password", server: smtpConfig{user: "mailer", pass: "s3cret"},
			settings: Settings{Security: SecurityNone, Username: "mailer", Password: "wrong"}, want: "535 5.7.8"},
		{name: "STARTTLS not offered", settings: Settings{Security: SecurityStartTLS},
			want: "does not offer STARTTLS"},
		{name: "untrusted certificate", server: smtpConfig{starttls: true}, settings: Settings{Security: SecurityStartTLS},
			trust: false, want: "certificate"},
		{name: "plain SMTP to a TLS port", server: smtpConfig{implicitTLS: true}, settings: Settings{Security: SecurityNone},
			want: "greeting"},
		{name: "no AUTH offered", settings: Settings{Security: SecurityNone, Username: "mailer", Password: "x"},
			want: "offers no AUTH"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, true, "anna@example.test")
			tc.server.cert = cert
			srv := startSMTP(t, "127.0.0.1:0", tc.server)
			s := tc.settings
			s.Host, s.Port = "127.0.0.1", srv.Port
			f.settings(t, s)
			if tc.trust {
				f.m.TLSConfig = &tls.Config{RootCAs: pool}
			}
			f.m.Timeout = 2 * time.Second
			f.run(t)
			f.m.Wake()
			es := f.waitOutbox(t, "a failed attempt", func(es []store.OutboxEmail) bool { return len(es) == 1 && es[0].Attempts == 1 })
			e := es[0]
			if e.SentAt != nil || !strings.Contains(e.LastError, tc.want) {
				t.Errorf("outbox %+v: want unsent, last error containing %q", e, tc.want)
			}
			if want := f.clock.now().Add(FirstRetry); e.NextAttempt.Sub(want).Abs() > time.Millisecond {
				t.Errorf("next attempt %v, want %v", e.NextAttempt, want)
			}
			if !strings.Contains(f.logs.String(), "voicemail email not sent") {
				t.Errorf("no warning logged:\n%s", f.logs.String())
			}
			select {
			case r := <-srv.got:
				t.Errorf("a mail arrived anyway: %+v", r)
			default:
			}
			f.messageUntouched(t)
		})
	}
}

// A refused recipient fails alone: the box's other address gets its mail.
func TestRecipientRefused(t *testing.T) {
	f := newFixture(t, true, "nobody@example.test", "ben@example.test")
	srv := startSMTP(t, "127.0.0.1:0", smtpConfig{})
	f.settings(t, Settings{Host: "127.0.0.1", Port: srv.Port, Security: SecurityNone})
	f.run(t)
	f.m.Wake()
	r := srv.wait(t, 10*time.Second)
	checkNotice(t, f, r, "ben@example.test")
	es := f.waitOutbox(t, "one sent, one failed", func(es []store.OutboxEmail) bool {
		return len(es) == 2 && es[0].Attempts == 1 && es[1].SentAt != nil
	})
	if es[0].SentAt != nil || !strings.Contains(es[0].LastError, "550 5.1.1 no such user") || !strings.Contains(es[0].LastError, "RCPT TO:<nobody@example.test>") {
		t.Errorf("refused mail: %+v", es[0])
	}
	f.messageUntouched(t)
}

// The story the users asked for: the mail server is down when the message
// arrives; the message is safe, the failure is logged and retried later and
// later, and when the server is back the mail goes out.
func TestBackoffUntilServerReturns(t *testing.T) {
	f := newFixture(t, true, "anna@example.test")
	// A port nobody listens on: connection refused.
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	f.settings(t, Settings{Host: "127.0.0.1", Port: port, Security: SecurityNone})
	f.run(t)

	f.m.Wake()
	t0 := f.clock.now()
	e := f.waitOutbox(t, "the first failed attempt", func(es []store.OutboxEmail) bool { return es[0].Attempts == 1 })[0]
	if e.SentAt != nil || !strings.Contains(e.LastError, "connection refused") || !strings.Contains(e.LastError, "connect") {
		t.Errorf("after the first attempt: %+v", e)
	}
	if !e.NextAttempt.Equal(t0.Add(10 * time.Second).Truncate(time.Millisecond)) {
		t.Errorf("next attempt at %v, want %v", e.NextAttempt, t0.Add(10*time.Second))
	}
	if logs := f.logs.String(); !strings.Contains(logs, "voicemail email not sent") || !strings.Contains(logs, "connection refused") {
		t.Errorf("the failure is not logged with its error:\n%s", logs)
	}
	f.messageUntouched(t)

	// Not due yet: a Wake does nothing.
	f.m.Wake()
	time.Sleep(200 * time.Millisecond)
	if e := f.outbox(t)[0]; e.Attempts != 1 {
		t.Fatalf("retried before its time: %+v", e)
	}

	// Due, still down: the wait doubles.
	f.clock.add(11 * time.Second)
	t1 := f.clock.now()
	f.m.Wake()
	e = f.waitOutbox(t, "the second failed attempt", func(es []store.OutboxEmail) bool { return es[0].Attempts == 2 })[0]
	if want := t1.Add(20 * time.Second).Truncate(time.Millisecond); !e.NextAttempt.Equal(want) {
		t.Errorf("next attempt at %v, want %v (20 s later)", e.NextAttempt, want)
	}
	f.messageUntouched(t)

	// The server comes back on its port; once the retry is due, the mail goes.
	srv := startSMTP(t, "127.0.0.1:"+strconv.Itoa(port), smtpConfig{})
	f.clock.add(21 * time.Second)
	f.m.Wake()
	r := srv.wait(t, 10*time.Second)
	p := checkNotice(t, f, r, "anna@example.test")
	if !bytes.Equal(p.Attachment, f.wav) {
		t.Errorf("attachment differs from the stored WAV (%d vs %d bytes)", len(p.Attachment), len(f.wav))
	}
	e = f.waitOutbox(t, "the mail marked sent", func(es []store.OutboxEmail) bool { return es[0].SentAt != nil })[0]
	if e.Attempts != 3 || e.LastError != "" {
		t.Errorf("sent mail: %+v, want 3 attempts and no error", e)
	}
	f.messageUntouched(t)
}

// Without a mail server the mails wait, and the log says once what to do.
func TestNoServerConfigured(t *testing.T) {
	f := newFixture(t, true, "anna@example.test")
	f.run(t)
	for range 3 {
		f.m.Wake()
		time.Sleep(50 * time.Millisecond)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(f.logs.String(), "frontdesk smtp set") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if n := strings.Count(f.logs.String(), "frontdesk smtp set"); n != 1 {
		t.Errorf("the hint is logged %d times, want once:\n%s", n, f.logs.String())
	}
	if e := f.outbox(t)[0]; e.Attempts != 0 || e.SentAt != nil {
		t.Errorf("outbox %+v: want untouched", e)
	}
	if n, _, _ := f.st.PendingEmails(context.Background()); n != 1 {
		t.Errorf("PendingEmails = %d, want 1", n)
	}
	f.messageUntouched(t)

	// Once a server is set, the waiting mail goes out.
	srv := startSMTP(t, "127.0.0.1:0", smtpConfig{})
	f.settings(t, Settings{Host: "127.0.0.1", Port: srv.Port, Security: SecurityNone})
	f.m.Wake()
	checkNotice(t, f, srv.wait(t, 10*time.Second), "anna@example.test")
}

// Mails of a deleted message go with it.
func TestDeletedMessage(t *testing.T) {
	f := newFixture(t, true, "anna@example.test")
	srv := startSMTP(t, "127.0.0.1:0", smtpConfig{})
	f.settings(t, Settings{Host: "127.0.0.1", Port: srv.Port, Security: SecurityNone})
	if err := f.st.RemoveBox(context.Background(), "600"); err != nil {
		t.Fatal(err)
	}
	f.run(t)
	f.m.Wake()
	time.Sleep(300 * time.Millisecond)
	select {
	case r := <-srv.got:
		t.Errorf("mail for a deleted message: %+v", r)
	default:
	}
	if n, _, _ := f.st.PendingEmails(context.Background()); n != 0 {
		t.Errorf("PendingEmails = %d, want 0", n)
	}
	if strings.Contains(f.logs.String(), "level=WARN") || strings.Contains(f.logs.String(), "level=ERROR") {
		t.Errorf("unexpected warnings:\n%s", f.logs.String())
	}
}

// A missing audio file still gives a notice (retrying can't bring it back).
func TestMissingAudio(t *testing.T) {
	f := newFixture(t, true, "anna@example.test")
	os.Remove(filepath.Join(f.dir, pbx.MessagesDir, f.msg.Audio))
	srv := startSMTP(t, "127.0.0.1:0", smtpConfig{})
	f.settings(t, Settings{Host: "127.0.0.1", Port: srv.Port, Security: SecurityNone})
	f.run(t)
	f.m.Wake()
	p := checkNotice(t, f, srv.wait(t, 10*time.Second), "anna@example.test")
	if p.Attachment != nil || !strings.Contains(p.Text, "audio file is missing") {
		t.Errorf("mail for a missing file: %d bytes attached, body:\n%s", len(p.Attachment), p.Text)
	}
}

func TestSendTest(t *testing.T) {
	f := newFixture(t, true)
	if err := f.m.SendTest(context.Background(), "anna@example.test"); err == nil || !strings.Contains(err.Error(), "no SMTP host") {
		t.Errorf("SendTest without settings: %v", err)
	}
	srv := startSMTP(t, "127.0.0.1:0", smtpConfig{})
	f.settings(t, Settings{Host: "127.0.0.1", Port: srv.Port, Security: SecurityNone})
	if err := f.m.SendTest(context.Background(), "anna@example.test"); err != nil {
		t.Fatal(err)
	}
	p := parseMail(t, srv.wait(t, time.Second).Data)
	if p.Subject != "Frontdesk test mail" || !strings.Contains(p.Text, "test mail from Frontdesk") {
		t.Errorf("test mail %q:\n%s", p.Subject, p.Text)
	}
	srv.Close()
	err := f.m.SendTest(context.Background(), "anna@example.test")
	if err == nil || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), "127.0.0.1:"+strconv.Itoa(srv.Port)) {
		t.Errorf("SendTest to a closed port: %v", err)
	}
}

// A server that never answers costs one timeout, not a hang.
func TestAttemptTimeout(t *testing.T) {
	f := newFixture(t, true, "anna@example.test")
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // silent: no greeting
		}
	}()
	f.settings(t, Settings{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, Security: SecurityNone})
	f.m.Timeout = 300 * time.Millisecond
	f.run(t)
	f.m.Wake()
	e := f.waitOutbox(t, "a timed-out attempt", func(es []store.OutboxEmail) bool { return es[0].Attempts == 1 })[0]
	if !strings.Contains(e.LastError, "no answer within 300ms") {
		t.Errorf("last error %q, want a deadline", e.LastError)
	}
}

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		failures int
		want     time.Duration
	}{
		{1, 10 * time.Second}, {2, 20 * time.Second}, {3, 40 * time.Second}, {8, 1280 * time.Second},
		{9, 30 * time.Minute}, {1000, 30 * time.Minute},
	} {
		if got := Backoff(tc.failures); got != tc.want {
			t.Errorf("Backoff(%d) = %v, want %v", tc.failures, got, tc.want)
		}
	}
}

func TestSubject(t *testing.T) {
	box := store.Box{Number: "600", Name: "Sales"}
	for _, tc := range []struct {
		msg  store.Message
		want string
	}{
		{store.Message{CallerNumber: "101", CallerName: "Alice", Duration: 23.4}, "Voicemail from 101 Alice (0:23) to Sales 600"},
		{store.Message{CallerNumber: "101", Duration: 65}, "Voicemail from 101 (1:05) to Sales 600"},
		{store.Message{Duration: 3600}, "Voicemail from an unknown caller (1:00:00) to Sales 600"},
		{store.Message{CallerNumber: "101", CallerName: "Evil\r\nBcc: x@example.test", Duration: 1}, "Voicemail from 101 Evil Bcc: x@example.test (0:01) to Sales 600"},
		{store.Message{CallerNumber: "102", CallerName: "Zoë Ünal", Duration: 9.6}, "Voicemail from 102 Zoë Ünal (0:10) to Sales 600"},
	} {
		n := notice{msg: tc.msg, box: box, to: "anna@example.test", loc: time.UTC}
		if got := n.subject(); got != tc.want {
			t.Errorf("subject %q, want %q", got, tc.want)
		}
		// Whatever the caller's name, the header stays one header.
		p := parseMail(t, n.build(&mail.Address{Address: "pbx@example.test"}, time.Now()))
		if p.Subject != tc.want || p.Header.Get("Bcc") != "" {
			t.Errorf("Subject header decodes to %q (Bcc %q), want %q", p.Subject, p.Header.Get("Bcc"), tc.want)
		}
	}
}

func TestSettings(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := LoadSettings(ctx, st)
	if err != nil || s.Configured() || s.Security != SecurityStartTLS || s.Addr() != ":587" {
		t.Errorf("empty settings: %+v, %v", s, err)
	}
	want := Settings{Host: "smtp.example.test", Port: 2525, Security: SecurityTLS, Username: "u", Password: "p",
		From: "Frontdesk <pbx@example.test>", LinkBase: "https://pbx.example.test"}
	if err := SaveSettings(ctx, st, want); err != nil {
		t.Fatal(err)
	}
	if s, err = LoadSettings(ctx, st); err != nil || s != want {
		t.Errorf("LoadSettings = %+v, %v; want %+v", s, err, want)
	}
	want.Port = 0
	if err := SaveSettings(ctx, st, want); err != nil {
		t.Fatal(err)
	}
	if s, _ = LoadSettings(ctx, st); s.Port != 0 || s.Addr() != "smtp.example.test:465" {
		t.Errorf("default port: %+v, %s", s, s.Addr())
	}

	ok := Settings{Host: "smtp.example.test", Security: SecurityStartTLS, From: "pbx@example.test"}
	for _, tc := range []struct {
		name   string
		change func(*Settings)
		want   string
	}{
		{"valid", func(*Settings) {}, ""},
		{"no host", func(s *Settings) { s.Host = "" }, "no SMTP host"},
		{"bad host", func(s *Settings) { s.Host = "smtp.example.test:25" }, "host name"},
		{"bad port", func(s *Settings) { s.Port = 70000 }, "port"},
		{"bad security", func(s *Settings) { s.Security = "ssl" }, "want none, starttls or tls"},
		{"password in clear", func(s *Settings) { s.Security, s.Username = SecurityNone, "u" }, "unencrypted"},
		{"password in clear to loopback", func(s *Settings) { s.Host, s.Security, s.Username = "127.0.0.1", SecurityNone, "u" }, ""},
		{"password without user", func(s *Settings) { s.Password = "p" }, "needs a username"},
		{"no from", func(s *Settings) { s.From = "" }, "no sender"},
		{"bad from", func(s *Settings) { s.From = "not an address" }, "sender address"},
		{"bad link", func(s *Settings) { s.LinkBase = "pbx.example.test" }, "link base"},
	} {
		s := ok
		tc.change(&s)
		err := s.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: Validate() = %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestForwardCarriesAudioAndTranscript: a message forwarded from the inbox
// goes with its audio even when the box sends notices without it, and every
// mail carries the transcript.
func TestForwardCarriesAudioAndTranscript(t *testing.T) {
	f := newFixture(t, false)
	ctx := context.Background()
	if err := f.st.SaveTranscript(ctx, store.Transcript{MessageID: f.msg.ID, Language: "en", Model: "test",
		Text: "Please call me back about the invoice."}); err != nil {
		t.Fatal(err)
	}
	if err := f.st.QueueEmail(ctx, f.msg.ID, "carol@example.test"); err != nil {
		t.Fatal(err)
	}
	srv := startSMTP(t, "127.0.0.1:0", smtpConfig{})
	f.settings(t, Settings{Host: "127.0.0.1", Port: srv.Port, Security: SecurityNone})
	f.clock.add(time.Second) // QueueEmail stamped it with the real clock
	f.run(t)
	f.m.Wake()
	r := srv.wait(t, 10*time.Second)
	p := parseMail(t, r.Data)
	if want := "Fwd: Voicemail from 101 Alice (0:23) to Sales 600"; p.Subject != want {
		t.Errorf("Subject %q, want %q", p.Subject, want)
	}
	if !bytes.Equal(p.Attachment, f.wav) {
		t.Errorf("forwarded mail's attachment is %d bytes, want the %d-byte recording", len(p.Attachment), len(f.wav))
	}
	if !strings.Contains(p.Text, "Transcript:\nPlease call me back about the invoice.\n") {
		t.Errorf("body lacks the transcript:\n%s", p.Text)
	}
}
