package main

import (
	"encoding/json"
	"testing"
	"time"
)

// boxMessage is one row of `vm messages --json`.
type boxMessage struct {
	ID           int64   `json:"id"`
	CallerNumber string  `json:"caller_number"`
	CallerName   string  `json:"caller_name"`
	CalledNumber string  `json:"called_number"`
	Duration     float64 `json:"duration_seconds"`
	Played       bool    `json:"played"`
	Status       string  `json:"status"`
}

func boxMessages(t *testing.T, dataDir, box string) []boxMessage {
	t.Helper()
	var msgs []boxMessage
	out := runCLI(t, dataDir, "vm", "messages", box, "--json")
	if err := json.Unmarshal([]byte(out), &msgs); err != nil {
		t.Fatalf("vm messages --json: %v\n%s", err, out)
	}
	return msgs
}

func TestVoicemailDepositSmoke(t *testing.T) {
	srv := startServer(t, "")
	runCLI(t, srv.DataDir, "ext", "add", "101", "--name", "Alice", "--secret", "alice-secret-1")
	runCLI(t, srv.DataDir, "vm", "add", "600", "--name", "Sales", "--pin", "4321", "--members", "101")
	alice := startBaresip(t, phoneConfig{Name: "alice", User: "101", Password: "alice-secret-1", Registrar: srv.SIPAddr, ToneHz: 440})
	alice.WaitRegistered()
	alice.Dial("sip:600@" + srv.SIPAddr)
	alice.WaitEstablished()
	time.Sleep(12 * time.Second)
	alice.Hangup()
	alice.WaitClosed()
	deadline := time.Now().Add(5 * time.Second)
	var msgs []boxMessage
	for time.Now().Before(deadline) {
		if msgs = boxMessages(t, srv.DataDir, "600"); len(msgs) > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(msgs) != 1 {
		t.Fatalf("box 600 has %d messages, want 1", len(msgs))
	}
	t.Logf("message: %+v", msgs[0])
}
