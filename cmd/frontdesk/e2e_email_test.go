package main

// End-to-end voicemail email: a message deposited by a real phone while the
// mail server is down stays in its box, and its mail (WAV attached) goes out
// once the server is up. The mail server is a minimal SMTP listener here on
// loopback (pbx/mailer's tests have a fuller one with STARTTLS and AUTH).

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// e2eMail is one mail the loopback SMTP server accepted.
type e2eMail struct {
	From, To string
	Data     []byte
}

// startLoopbackSMTP serves plain SMTP on 127.0.0.1:port until the test ends
// and sends every accepted mail to the returned channel.
func startLoopbackSMTP(t *testing.T, port int) <-chan e2eMail {
	t.Helper()
	return startFlakySMTP(t, port, 0).got
}

// flakySMTP is a loopback SMTP server whose first fail sessions are
// turned down with 451 at MAIL FROM; later ones take the mail.
type flakySMTP struct {
	mu       sync.Mutex
	sessions int
	refused  int
	mails    []e2eMail
	got      chan e2eMail
}

func startFlakySMTP(t *testing.T, port, fail int) *flakySMTP {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("SMTP server on port %d: %v", port, err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &flakySMTP{got: make(chan e2eMail, 8)}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.sessions++
			refuse := s.sessions <= fail
			s.mu.Unlock()
			go s.serve(conn, refuse)
		}
	}()
	return s
}

func (s *flakySMTP) serve(conn net.Conn, refuse bool) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	tp := textproto.NewConn(conn)
	tp.PrintfLine("220 test ESMTP")
	var m e2eMail
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			tp.PrintfLine("250-test\r\n250 8BITMIME")
		case "MAIL":
			if refuse {
				s.mu.Lock()
				s.refused++
				s.mu.Unlock()
				tp.PrintfLine("451 4.3.0 mailbox temporarily unavailable, try again later")
				continue
			}
			from, _, _ := strings.Cut(strings.TrimPrefix(arg, "FROM:"), " ")
			m = e2eMail{From: strings.Trim(from, "<>")}
			tp.PrintfLine("250 ok")
		case "RCPT":
			m.To = strings.Trim(strings.TrimPrefix(arg, "TO:"), "<>")
			tp.PrintfLine("250 ok")
		case "DATA":
			tp.PrintfLine("354 go ahead")
			if m.Data, err = tp.ReadDotBytes(); err != nil {
				return
			}
			s.mu.Lock()
			s.mails = append(s.mails, m)
			s.mu.Unlock()
			s.got <- m
			tp.PrintfLine("250 queued")
		case "QUIT":
			tp.PrintfLine("221 bye")
			return
		default:
			tp.PrintfLine("250 ok")
		}
	}
}

func (s *flakySMTP) counts() (sessions, refused, mails int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions, s.refused, len(s.mails)
}

// smtpShow is `smtp show --json`.
func smtpShow(t *testing.T, dataDir string) smtpView {
	t.Helper()
	var v smtpView
	out := runCLI(t, dataDir, "smtp", "show", "--json")
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("smtp show --json: %v\n%s", err, out)
	}
	return v
}

// receiveVoicemailMail waits up to within for the mail got delivers and
// checks it is the voicemail email of the data dir's one stored message:
// the envelope the tests configure, the message's WAV attached byte for
// byte. It returns the subject, and when the mail came.
func receiveVoicemailMail(t *testing.T, srv *frontdeskServer, got <-chan e2eMail, within time.Duration) (subject string, at time.Time) {
	t.Helper()
	var m e2eMail
	select {
	case m = <-got:
	case <-time.After(within):
		t.Fatalf("no mail within %v; smtp show %+v", within, smtpShow(t, srv.DataDir))
	}
	at = time.Now()
	if m.From != "pbx@example.test" || m.To != "x@example.test" {
		t.Errorf("envelope from %q to %q", m.From, m.To)
	}
	subject, wav := wavAttachment(t, m.Data)
	wavs, _ := filepath.Glob(filepath.Join(srv.DataDir, "messages", "*.wav"))
	if len(wavs) != 1 {
		t.Fatalf("message files %v, want one WAV", wavs)
	}
	if stored, err := os.ReadFile(wavs[0]); err != nil || !bytes.Equal(stored, wav) {
		t.Errorf("attached WAV (%d bytes) differs from the stored message (%d bytes, %v)", len(wav), len(stored), err)
	}
	if !waitFor(10*time.Second, func() bool { return smtpShow(t, srv.DataDir).Pending == 0 }) {
		t.Errorf("after delivery: smtp show %+v, want nothing waiting", smtpShow(t, srv.DataDir))
	}
	return subject, at
}

// wavAttachment returns the subject and the audio/wav attachment of a mail.
func wavAttachment(t *testing.T, data []byte) (subject string, wav []byte) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("mail does not parse: %v", err)
	}
	subject, _ = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("mail Content-Type %q (%v), want multipart/mixed", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); pt == "audio/wav" {
			if wav, err = io.ReadAll(base64.NewDecoder(base64.StdEncoding, p)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if wav == nil {
		t.Fatalf("no audio/wav part in the mail")
	}
	return subject, wav
}

func TestEmailNotificationSurvivesSMTPOutage(t *testing.T) {
	srv := startServer(t, "")
	runCLI(t, srv.DataDir, "ext", "add", "101", "--name", "Alice", "--secret", "alice-secret-1")
	runCLI(t, srv.DataDir, "vm", "add", "600", "--name", "Sales", "--pin", "4321", "--members", "101", "--email", "x@example.test")
	smtpPort := freePort(t) // nobody listens there yet
	runCLI(t, srv.DataDir, "smtp", "set", "--host", "127.0.0.1", "--port", strconv.Itoa(smtpPort),
		"--security", "none", "--from", "Frontdesk <pbx@example.test>")
	if v := smtpShow(t, srv.DataDir); v.Host != "127.0.0.1" || v.Port != smtpPort || v.Security != "none" || v.Password != "unset" {
		t.Fatalf("smtp show: %+v", v)
	}
	// The test command says clearly why it can't send.
	_, stderr, err := tryCLI(t, srv.DataDir, "smtp", "test", "x@example.test")
	if err == nil || !strings.Contains(stderr, "connection refused") {
		t.Fatalf("smtp test with the server down: %v, stderr %q", err, stderr)
	}

	// A 1 s greeting instead of the ~10 s spoken one: recording starts
	// about 1.4 s after the answer (greeting and beep).
	greeting := filepath.Join(t.TempDir(), "greeting.wav")
	if err := writeToneWAV(greeting, 500, 8000, time.Second); err != nil {
		t.Fatal(err)
	}
	runCLI(t, srv.DataDir, "vm", "greeting", "set", "600", greeting)

	alice := startBaresip(t, phoneConfig{Name: "alice", User: "101", Password: "alice-secret-1", Registrar: srv.SIPAddr, ToneHz: 440})
	alice.WaitRegistered()
	alice.Dial("sip:600@" + srv.SIPAddr)
	alice.WaitEstablished()
	time.Sleep(5 * time.Second)
	alice.Hangup()
	alice.WaitClosed()

	// The message is in the box although its mail failed.
	var msgs []boxMessage
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if msgs = boxMessages(t, srv.DataDir, "600"); len(msgs) > 0 {
			break
		}
	}
	if len(msgs) != 1 {
		t.Fatalf("box 600 has %d messages, want 1", len(msgs))
	}
	var v smtpView
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if v = smtpShow(t, srv.DataDir); v.Pending == 1 && strings.Contains(v.LastError, "connection refused") {
			break
		}
	}
	if v.Pending != 1 || !strings.Contains(v.LastError, "connection refused") {
		t.Fatalf("after the failed attempt: smtp show %+v, want 1 waiting email and the error", v)
	}
	if !strings.Contains(srv.Log(), "voicemail email not sent") {
		t.Errorf("the failure is not in the server log")
	}

	// The mail server comes up; the retry delivers.
	got := startLoopbackSMTP(t, smtpPort)
	start := time.Now()
	subject, at := receiveVoicemailMail(t, srv, got, 40*time.Second)
	t.Logf("mail arrived %v after the SMTP server started", at.Sub(start).Round(time.Second))
	if !strings.HasPrefix(subject, "Voicemail from 101 Alice (") || !strings.HasSuffix(subject, ") to Sales 600") {
		t.Errorf("subject %q", subject)
	}
	if msgs := boxMessages(t, srv.DataDir, "600"); len(msgs) != 1 {
		t.Errorf("box 600 has %d messages after the mail, want 1", len(msgs))
	}
}
