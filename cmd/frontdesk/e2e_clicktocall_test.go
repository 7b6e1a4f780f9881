package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"testing"
	"time"
)

// adminPassword reads the one-time admin password a first start prints.
func adminPassword(t *testing.T, srv *frontdeskServer) string {
	t.Helper()
	m := regexp.MustCompile(`one-time password (\S+)`).FindStringSubmatch(srv.Log())
	if m == nil {
		t.Fatalf("no one-time admin password in the server output:\n%s", srv.Log())
	}
	return m[1]
}

// clickToCall posts to the API and returns the HTTP status and body.
func clickToCall(t *testing.T, srv *frontdeskServer, user, password, ext, number string) (int, map[string]any) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"extension": ext, "number": number})
	req, _ := http.NewRequest(http.MethodPost, srv.HTTPURL+"/api/v1/click-to-call", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

// Click-to-call rings the user's extension first and, when it answers, the
// number; the two then talk, and the call log has the call.
func TestClickToCallRingsExtensionThenNumber(t *testing.T) {
	srv := startServer(t, "")
	password := changePassword(t, srv, "admin", adminPassword(t, srv))
	runCLI(t, srv.DataDir, "ext", "add", "101", "--name", "Alice", "--secret", "alice-secret-1", "--no-voicemail")
	runCLI(t, srv.DataDir, "ext", "add", "102", "--name", "Bob", "--secret", "bob-secret-1", "--no-voicemail")
	alice := startBaresip(t, phoneConfig{Name: "alice", User: "101", Password: "alice-secret-1", Registrar: srv.SIPAddr, ToneHz: aliceToneHz})
	bob := startBaresip(t, phoneConfig{Name: "bob", User: "102", Password: "bob-secret-1", Registrar: srv.SIPAddr, ToneHz: bobToneHz})
	alice.WaitRegistered()
	bob.WaitRegistered()

	failures := []struct {
		name, user, pass, ext, number string
		want                          int
	}{
		{"no credentials", "", "", "101", "102", http.StatusUnauthorized},
		{"wrong password", "admin", "wrong", "101", "102", http.StatusUnauthorized},
		{"unknown number", "admin", password, "101", "999", http.StatusNotFound},
		{"missing number", "admin", password, "101", "", http.StatusBadRequest},
	}
	for _, tc := range failures {
		if code, body := clickToCall(t, srv, tc.user, tc.pass, tc.ext, tc.number); code != tc.want {
			t.Fatalf("%s: status %d (%v), want %d", tc.name, code, body, tc.want)
		}
	}

	code, body := clickToCall(t, srv, "admin", password, "101", "102")
	if code != http.StatusAccepted {
		t.Fatalf("click-to-call: status %d (%v), want 202", code, body)
	}
	started := time.Now()
	in := alice.WaitIncoming() // the user's own phone rings first
	t.Logf("first leg: %v", in)
	// Bob's phone must not ring before Alice answers.
	time.Sleep(500 * time.Millisecond)
	for _, m := range bob.SIPTrace() {
		if m.IsRequest("INVITE") {
			t.Fatalf("the number rang before the extension answered (%.1fs in)", time.Since(started).Seconds())
		}
	}
	alice.Accept()
	alice.WaitEstablished()
	bob.WaitIncoming()
	bob.Accept()
	bob.WaitEstablished()
	time.Sleep(2500 * time.Millisecond)
	alice.Hangup()
	alice.WaitClosed()
	bob.WaitClosed()
	assertHeardTone(t, "alice", alice.RecordedWAV(), bobToneHz, []float64{aliceToneHz}, time.Second)
	assertHeardTone(t, "bob", bob.RecordedWAV(), aliceToneHz, []float64{bobToneHz}, time.Second)

	var calls []struct {
		FromNumber string `json:"from_number"`
		ToNumber   string `json:"to_number"`
		Status     string `json:"status"`
		SIPCallID  string `json:"sip_call_id"`
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := json.Unmarshal([]byte(runCLI(t, srv.DataDir, "calls", "--json")), &calls); err != nil {
			t.Fatal(err)
		}
		if len(calls) > 0 && calls[0].Status == "answered" || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(calls) == 0 || calls[0].SIPCallID != "click-to-call" || calls[0].FromNumber != "101" || calls[0].ToNumber != "102" || calls[0].Status != "answered" {
		t.Fatalf("call log = %+v, want an answered click-to-call from 101 to 102", calls)
	}
	if out := runCLI(t, srv.DataDir, "audit", "--json"); !bytes.Contains([]byte(out), []byte(`"call.click_to_call"`)) || !bytes.Contains([]byte(out), []byte(`"user:admin"`)) {
		t.Fatalf("audit log has no click-to-call by user:admin:\n%s", out)
	}
}
