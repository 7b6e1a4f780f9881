package notify

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/frontdesk-pbx/frontdesk/pbx/mailer"
	"github.com/frontdesk-pbx/frontdesk/store"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type fixture struct {
	st    *store.Store
	n     *Notifier
	clock *clock
	msg   int64
	carol int64
}

// newFixture: box 600 "Sales" with one message from +3120555 Jan, a user
// carol, and a Notifier on a test clock.
func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.AddBox(ctx, store.Box{Number: "600", Name: "Sales", Kind: store.BoxShared}); err != nil {
		t.Fatal(err)
	}
	carol, err := st.AddUser(ctx, store.User{Name: "carol", Email: "carol@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := st.AddMessage(ctx, store.Message{Box: "600", CallerNumber: "+3120555", CallerName: "Jan", CalledNumber: "600",
		StartedAt: time.Now(), Duration: 23, Audio: "x.wav"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Ahead of the real clock, by which the store queues rows as due.
	c := &clock{t: time.Now().Add(2 * time.Second)}
	opts.Now = c.Now
	opts.AllowPrivate = true // the test servers are on loopback
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(&testWriter{t}, nil))
	}
	return &fixture{st: st, n: New(st, log, opts), clock: c, msg: msg, carol: carol.ID}
}

type testWriter struct{ t *testing.T }

func (w *testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func (f *fixture) rule(t *testing.T, r store.NotifyRule) store.NotifyRule {
	t.Helper()
	if r.Box == "" {
		r.Box = "600"
	}
	if !r.OnNew && !r.OnAssign && !r.OnOverdue {
		r.OnNew, r.OnAssign, r.OnOverdue = true, true, true
	}
	r, err := f.st.AddNotifyRule(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (f *fixture) queue(t *testing.T, ev store.NotifyEvent) {
	t.Helper()
	if ev.MessageID == 0 {
		ev.MessageID, ev.Box = f.msg, "600"
	}
	if err := f.st.QueueNotification(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) states(t *testing.T) []store.NotificationState {
	t.Helper()
	s, err := f.st.NotificationsOf(context.Background(), f.msg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// hookServer records the requests it gets and answers with codes in turn
// (the last one for good).
type hookServer struct {
	*httptest.Server
	mu    sync.Mutex
	reqs  []recorded
	codes []int
}

type recorded struct {
	header http.Header
	body   []byte
	path   string
}

func newHookServer(t *testing.T, codes ...int) *hookServer {
	h := &hookServer{codes: codes}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.reqs = append(h.reqs, recorded{r.Header.Clone(), b, r.URL.Path})
		code := http.StatusOK
		if len(h.codes) > 0 {
			code = h.codes[0]
			if len(h.codes) > 1 {
				h.codes = h.codes[1:]
			}
		}
		h.mu.Unlock()
		w.WriteHeader(code)
		if code >= 300 {
			io.WriteString(w, "something broke\n")
		}
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) got() []recorded {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]recorded(nil), h.reqs...)
}

func TestWebhookSignedAndSlackText(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	if err := f.st.SetSetting(ctx, store.SettingWebBaseURL, "https://pbx.example.com"); err != nil {
		t.Fatal(err)
	}
	srv := newHookServer(t)
	hook := f.rule(t, store.NotifyRule{Channel: store.NotifyChannelWebhook, Target: srv.URL + "/hook", Secret: "s3cret"})
	f.rule(t, store.NotifyRule{Channel: store.NotifyChannelSlack, Target: srv.URL + "/slack/T0/B0/xyz"})
	f.queue(t, store.NotifyEvent{Event: store.NotifyNew})
	f.n.round(ctx)

	reqs := srv.got()
	if len(reqs) != 2 {
		t.Fatalf("requests = %d, want 2", len(reqs))
	}
	byPath := map[string]recorded{}
	for _, r := range reqs {
		byPath[r.path] = r
	}
	wh := byPath["/hook"]
	ts := wh.header.Get("X-Frontdesk-Timestamp")
	if ts != strconv.FormatInt(f.clock.Now().Unix(), 10) {
		t.Errorf("timestamp = %q", ts)
	}
	sig := wh.header.Get("X-Frontdesk-Signature")
	if !Verify(hook.Secret, ts, sig, wh.body) || !strings.HasPrefix(sig, "sha256=") {
		t.Errorf("signature %q does not verify over %s", sig, wh.body)
	}
	if Verify("wrong", ts, sig, wh.body) || Verify(hook.Secret, ts, sig, append(wh.body, ' ')) {
		t.Error("signature verifies with the wrong key or body")
	}
	states := f.states(t)
	var hookID int64
	for _, s := range states {
		if s.Channel == store.NotifyChannelWebhook {
			hookID = s.ID
		}
		if s.SentAt == nil {
			t.Errorf("not marked sent: %+v", s)
		}
	}
	if wh.header.Get("X-Frontdesk-Event") != store.NotifyNew || wh.header.Get("X-Frontdesk-Delivery") != strconv.FormatInt(hookID, 10) ||
		wh.header.Get("Content-Type") != "application/json" {
		t.Errorf("headers = %v", wh.header)
	}
	var p store.NotifyPayload
	if err := json.Unmarshal(wh.body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Event != store.NotifyNew || p.Message.ID != f.msg || p.Message.BoxName != "Sales" || p.Message.CallerNumber != "+3120555" ||
		p.Message.URL != "https://pbx.example.com/messages/"+strconv.FormatInt(f.msg, 10) {
		t.Errorf("payload = %s", wh.body)
	}

	sl := byPath["/slack/T0/B0/xyz"]
	var slack map[string]string
	if err := json.Unmarshal(sl.body, &slack); err != nil || len(slack) != 1 {
		t.Fatalf("slack body = %s, %v", sl.body, err)
	}
	for _, want := range []string{"*New voicemail from +3120555 Jan in Sales (600)*", "(0:23, ", "|Open it>"} {
		if !strings.Contains(slack["text"], want) {
			t.Errorf("slack text %q lacks %q", slack["text"], want)
		}
	}

	// Sent is sent: another round sends nothing.
	f.clock.Add(time.Hour)
	f.n.round(ctx)
	if n := len(srv.got()); n != 2 {
		t.Errorf("requests after a second round = %d", n)
	}
}

func TestRetryAfterServerErrorThenSuccess(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	srv := newHookServer(t, 500, 200)
	f.rule(t, store.NotifyRule{Channel: store.NotifyChannelWebhook, Target: srv.URL})
	f.queue(t, store.NotifyEvent{Event: store.NotifyNew})
	f.n.round(ctx)
	s := f.states(t)
	if len(srv.got()) != 1 || len(s) != 1 || s[0].SentAt != nil || s[0].Attempts != 1 || !strings.Contains(s[0].LastError, "500") {
		t.Fatalf("after a 500: requests %d, state %+v", len(srv.got()), s)
	}
	if want := f.clock.Now().Add(mailer.Backoff(1)); s[0].NextAttempt == nil || s[0].NextAttempt.Sub(want).Abs() > time.Millisecond {
		t.Errorf("next attempt = %v, want %v", s[0].NextAttempt, want)
	}
	f.clock.Add(mailer.Backoff(1) / 2)
	f.n.round(ctx)
	if len(srv.got()) != 1 {
		t.Fatalf("retried before the backoff: %d requests", len(srv.got()))
	}
	f.clock.Add(mailer.Backoff(1))
	f.n.round(ctx)
	s = f.states(t)
	reqs := srv.got()
	if len(reqs) != 2 || s[0].SentAt == nil || s[0].Attempts != 2 || s[0].LastError != "" {
		t.Fatalf("after the retry: requests %d, state %+v", len(reqs), s)
	}
	if reqs[0].header.Get("X-Frontdesk-Delivery") != reqs[1].header.Get("X-Frontdesk-Delivery") {
		t.Error("a retry has a new delivery id")
	}
}

func TestGivesUpAndRefusesForeignRedirects(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{GiveUp: 30 * time.Second})
	other := newHookServer(t)
	redirect := httptest.NewServer(http.RedirectHandler(other.URL+"/elsewhere", http.StatusTemporaryRedirect))
	t.Cleanup(redirect.Close)
	f.rule(t, store.NotifyRule{Channel: store.NotifyChannelWebhook, Target: redirect.URL})
	f.queue(t, store.NotifyEvent{Event: store.NotifyNew})
	for range 10 {
		f.n.round(ctx)
		f.clock.Add(time.Hour)
	}
	if n := len(other.got()); n != 0 {
		t.Errorf("followed a redirect to another host %d times", n)
	}
	s := f.states(t)
	// Backoff 10 s, 20 s: the third failure has waited 30 s, the limit.
	if len(s) != 1 || s[0].Attempts != 3 || s[0].NextAttempt != nil || s[0].SentAt != nil ||
		!strings.HasPrefix(s[0].LastError, "gave up: ") || !strings.Contains(s[0].LastError, "another host") {
		t.Errorf("state = %+v", s)
	}
}

func TestOverdueFiresOnce(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	if err := f.st.SetInboxSettings(ctx, "600", store.InboxSettings{OpenLimitMinutes: 30, TrashDays: 30, AssignMode: "none"}); err != nil {
		t.Fatal(err)
	}
	srv := newHookServer(t)
	f.rule(t, store.NotifyRule{Channel: store.NotifyChannelSlack, Target: srv.URL, OnOverdue: true})
	f.n.round(ctx)
	if n := len(srv.got()); n != 0 {
		t.Fatalf("notified before the limit: %d", n)
	}
	f.clock.Add(31 * time.Minute)
	for range 3 {
		f.n.round(ctx)
		f.clock.Add(time.Hour)
	}
	reqs := srv.got()
	if len(reqs) != 1 {
		t.Fatalf("overdue notices = %d, want 1", len(reqs))
	}
	if !strings.Contains(string(reqs[0].body), "Still open after 30 minutes: voicemail from +3120555 Jan in Sales (600)") {
		t.Errorf("slack body = %s", reqs[0].body)
	}
}

func TestEmailThroughSMTP(t *testing.T) {
	ctx := context.Background()
	smtp := startSMTP(t)
	f := newFixture(t, Options{})
	host, port, _ := net.SplitHostPort(smtp.addr)
	for k, v := range map[string]string{
		mailer.KeyHost: host, mailer.KeyPort: port, mailer.KeySecurity: mailer.SecurityNone,
		mailer.KeyFrom: "Frontdesk <pbx@example.com>", store.SettingWebBaseURL: "https://pbx.example.com",
	} {
		if err := f.st.SetSetting(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.st.SaveTranscript(ctx, store.Transcript{MessageID: f.msg, Language: "en", Model: "m", Text: "Please call me back about the invoice."}); err != nil {
		t.Fatal(err)
	}
	f.rule(t, store.NotifyRule{UserID: f.carol, Channel: store.NotifyChannelEmail, Target: "carol@example.com", OnAssign: true})
	f.queue(t, store.NotifyEvent{Event: store.NotifyAssigned, Assignee: f.carol})
	f.n.round(ctx)

	got := smtp.mails()
	if len(got) != 1 {
		t.Fatalf("mails = %d, want 1 (states %+v)", len(got), f.states(t))
	}
	m := got[0]
	if m.from != "pbx@example.com" || m.to != "carol@example.com" {
		t.Errorf("envelope = %s -> %s", m.from, m.to)
	}
	msg, err := mail.ReadMessage(strings.NewReader(m.data))
	if err != nil {
		t.Fatal(err)
	}
	if subj := msg.Header.Get("Subject"); subj != "Assigned to you: voicemail from +3120555 Jan in Sales (600)" {
		t.Errorf("subject = %q", subj)
	}
	body, _ := io.ReadAll(quotedprintable.NewReader(msg.Body))
	for _, want := range []string{"Assigned:  carol", "Please call me back about the invoice.", "Open it: https://pbx.example.com/messages/" + strconv.FormatInt(f.msg, 10)} {
		if !strings.Contains(string(body), want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
	if s := f.states(t); len(s) != 1 || s[0].SentAt == nil {
		t.Errorf("state = %+v", s)
	}
}

func TestRunWakes(t *testing.T) {
	f := newFixture(t, Options{Poll: time.Hour})
	srv := newHookServer(t)
	f.rule(t, store.NotifyRule{Channel: store.NotifyChannelWebhook, Target: srv.URL})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.n.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	time.Sleep(50 * time.Millisecond) // the first round has run
	f.queue(t, store.NotifyEvent{Event: store.NotifyNew})
	f.n.Wake()
	deadline := time.Now().Add(5 * time.Second)
	for len(srv.got()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if len(srv.got()) != 1 {
		t.Fatal("Wake did not send the queued notification")
	}
}

// A tiny SMTP server on 127.0.0.1: EHLO, MAIL, RCPT, DATA, QUIT.
type smtpServer struct {
	addr string
	mu   sync.Mutex
	got  []smtpMail
}

type smtpMail struct{ from, to, data string }

func startSMTP(t *testing.T) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &smtpServer{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *smtpServer) mails() []smtpMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]smtpMail(nil), s.got...)
}

func (s *smtpServer) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	say := func(line string) { io.WriteString(c, line+"\r\n") }
	say("220 test ESMTP")
	var m smtpMail
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		cmd := strings.ToUpper(line)
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			say("250 test")
		case strings.HasPrefix(cmd, "MAIL FROM:"):
			m = smtpMail{from: strings.Trim(line[len("MAIL FROM:"):], "<> ")}
			say("250 ok")
		case strings.HasPrefix(cmd, "RCPT TO:"):
			m.to = strings.Trim(line[len("RCPT TO:"):], "<> ")
			say("250 ok")
		case cmd == "DATA":
			say("354 go on")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(strings.TrimPrefix(l, "."))
			}
			m.data = b.String()
			s.mu.Lock()
			s.got = append(s.got, m)
			s.mu.Unlock()
			say("250 queued")
		case cmd == "QUIT":
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}

func TestPublicOnly(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{"8.8.8.8:443", true},
		{"[2001:4860:4860::8888]:443", true},
		{"127.0.0.1:80", false},
		{"[::1]:80", false},
		{"10.1.2.3:80", false},
		{"192.168.1.10:8080", false},
		{"172.16.0.1:80", false},
		{"169.254.169.254:80", false}, // cloud metadata
		{"100.64.1.1:80", false},
		{"0.0.0.0:80", false},
		{"[::ffff:127.0.0.1]:80", false},
		{"[fe80::1]:80", false},
		{"[fd00::1]:80", false},
	}
	for _, tt := range tests {
		err := publicOnly("tcp", tt.addr, nil)
		if (err == nil) != tt.ok {
			t.Errorf("publicOnly(%s) = %v, want allowed %v", tt.addr, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrPrivateTarget) {
			t.Errorf("publicOnly(%s) = %v, want ErrPrivateTarget", tt.addr, err)
		}
	}
}

// TestWebhookToLoopbackRefused: without AllowPrivate a webhook to this
// machine is not delivered, and the outbox row says why.
func TestWebhookToLoopbackRefused(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer srv.Close()
	n := New(nil, slog.New(slog.DiscardHandler), Options{Mailer: &mailer.Mailer{}})
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("{}"))
	_, err := n.client.Do(req)
	if !errors.Is(err, ErrPrivateTarget) {
		t.Errorf("POST to %s: %v, want ErrPrivateTarget", srv.URL, err)
	}
	if hits != 0 {
		t.Errorf("the loopback server was reached %d times", hits)
	}
}
