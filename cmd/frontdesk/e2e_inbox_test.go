package main

// End-to-end through the real binary, real phones and a real SMTP
// conversation: a member's email notification on a new message, forwarding
// the message by email with its audio, and calling the caller back from the
// member's desk phone, which marks the message done when answered.

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// apiCall sends a JSON request with HTTP Basic and decodes the answer into out.
func apiCall(t *testing.T, srv *frontdeskServer, user, password, method, path string, body, out any) int {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, srv.HTTPURL+"/api/v1"+path, r)
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(user, password)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
	if res.StatusCode >= 300 {
		t.Logf("%s %s: %s %s", method, path, res.Status, data)
	}
	return res.StatusCode
}

// waitMail returns the next mail to addr, failing after timeout.
func waitMail(t *testing.T, mails <-chan e2eMail, addr string, timeout time.Duration) e2eMail {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m := <-mails:
			if strings.Contains(m.To, addr) {
				return m
			}
		case <-deadline:
			t.Fatalf("no mail to %s within %v", addr, timeout)
		}
	}
}

func TestInboxNotifyForwardAndCallBack(t *testing.T) {
	srv := startServer(t, "")
	admin := changePassword(t, srv, "admin", adminPassword(t, srv))
	runCLI(t, srv.DataDir, "ext", "add", "101", "--name", "Maria", "--secret", "maria-secret-1", "--no-voicemail")
	runCLI(t, srv.DataDir, "ext", "add", "102", "--name", "Carol", "--secret", "carol-secret-1", "--no-voicemail")
	runCLI(t, srv.DataDir, "vm", "add", "600", "--name", "Sales", "--pin", vmPIN, "--members", "101")
	vmSetShortGreeting(t, srv.DataDir, "600")
	const mariaPassword = "maria-web-password"
	runCLIInput(t, srv.DataDir, mariaPassword+"\n", "user", "add", "maria", "--email", "maria@example.test", "--extension", "101", "--password-stdin")
	runCLI(t, srv.DataDir, "user", "set", "maria", "--box", "600=download")
	smtpPort := freePort(t)
	mails := startLoopbackSMTP(t, smtpPort)
	runCLI(t, srv.DataDir, "smtp", "set", "--host", "127.0.0.1", "--port", strconv.Itoa(smtpPort),
		"--security", "none", "--from", "Frontdesk <pbx@example.test>")

	// Maria asks for an email on each new message; the inbox marks a message
	// done when a callback is answered.
	if code := apiCall(t, srv, "maria", mariaPassword, http.MethodPost, "/notify-rules",
		map[string]any{"box": "600", "channel": "email", "target": "maria@example.test", "on_new": true}, nil); code != http.StatusCreated {
		t.Fatalf("add notification rule: %d", code)
	}
	if code := apiCall(t, srv, "admin", admin, http.MethodPut, "/admin/boxes/600/inbox",
		map[string]any{"conversation_minutes": 1440, "assign_mode": "none", "done_on_callback": true, "trash_days": 30}, nil); code != http.StatusOK {
		t.Fatalf("inbox settings: %d", code)
	}

	maria := startBaresip(t, phoneConfig{Name: "maria", User: "101", Password: "maria-secret-1", Registrar: srv.SIPAddr, ToneHz: aliceToneHz})
	carol := startBaresip(t, phoneConfig{Name: "carol", User: "102", Password: "carol-secret-1", Registrar: srv.SIPAddr, ToneHz: bobToneHz})
	maria.WaitRegistered()
	carol.WaitRegistered()
	vmLeaveMessage(carol, "sip:600@"+srv.SIPAddr, 2*time.Second)
	msgs := vmWaitMessages(t, srv.DataDir, "600", 1)
	id := strconv.FormatInt(msgs[0].ID, 10)

	// The notification.
	note := waitMail(t, mails, "maria@example.test", 20*time.Second)
	if !bytes.Contains(note.Data, []byte("102")) || !bytes.Contains(note.Data, []byte("Sales")) {
		t.Errorf("notification mail doesn't name the caller and the inbox:\n%s", note.Data)
	}

	// Forward by email: the recording goes along, byte for byte.
	if code := apiCall(t, srv, "maria", mariaPassword, http.MethodPost, "/messages/"+id+"/forward",
		map[string]string{"address": "boss@example.test"}, nil); code != http.StatusOK {
		t.Fatalf("forward: %d", code)
	}
	fwd := waitMail(t, mails, "boss@example.test", 20*time.Second)
	subject, wav := wavAttachment(t, fwd.Data)
	if !strings.HasPrefix(subject, "Fwd: Voicemail from 102") {
		t.Errorf("forwarded mail's subject %q", subject)
	}
	files, _ := filepath.Glob(filepath.Join(srv.DataDir, "messages", "*.wav"))
	if len(files) != 1 {
		t.Fatalf("messages dir holds %v", files)
	}
	if stored, err := os.ReadFile(files[0]); err != nil || !bytes.Equal(stored, wav) {
		t.Errorf("forwarded attachment (%d bytes) differs from the recording (%d bytes, %v)", len(wav), len(stored), err)
	}

	// Call back: Maria's desk phone rings first, then Carol's; when Carol
	// answers, the message is done.
	if code := apiCall(t, srv, "maria", mariaPassword, http.MethodPost, "/messages/"+id+"/callback", map[string]any{}, nil); code != http.StatusOK {
		t.Fatalf("callback: %d", code)
	}
	maria.WaitIncoming()
	maria.Accept()
	maria.WaitEstablished()
	carol.WaitIncoming()
	carol.Accept()
	carol.WaitEstablished()
	var detail struct {
		Message struct {
			Status string `json:"status"`
		} `json:"message"`
		Timeline []struct {
			Actor, Action, Detail string
		} `json:"timeline"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		apiCall(t, srv, "maria", mariaPassword, http.MethodGet, "/messages/"+id, nil, &detail)
		if detail.Message.Status == "done" || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if detail.Message.Status != "done" {
		t.Errorf("message status %q after the answered callback, want done", detail.Message.Status)
	}
	actions := map[string]string{}
	for _, e := range detail.Timeline {
		actions[e.Action] = e.Actor
	}
	for action, actor := range map[string]string{"message.forwarded": "user:maria", "message.callback": "user:maria", "message.done": "system"} {
		if actions[action] != actor {
			t.Errorf("timeline: %s by %q, want by %s (timeline %+v)", action, actions[action], actor, detail.Timeline)
		}
	}
	maria.Hangup()
	maria.WaitClosed()
	carol.WaitClosed()
}
