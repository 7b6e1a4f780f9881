package main

// End-to-end tests of the appliance: a SIGTERM while a caller is leaving a
// message lets the message finish and be saved; a backup taken while a
// message is being recorded restores every message, transcript, user and
// setting, with every recording byte for byte.

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/frontdesk-pbx/frontdesk/store"
)

func TestSIGTERMDuringDeposit(t *testing.T) {
	srv := startServer(t, "", "--drain-timeout", "30s")
	runCLI(t, srv.DataDir, "ext", "add", "101", "--name", "Alice", "--secret", "alice-secret-1")
	runCLI(t, srv.DataDir, "vm", "add", "600", "--name", "Sales", "--pin", vmPIN, "--members", "101")
	vmSetShortGreeting(t, srv.DataDir, "600")
	alice := startBaresip(t, phoneConfig{Name: "alice", User: "101", Password: "alice-secret-1", Registrar: srv.SIPAddr, ToneHz: 440})
	alice.WaitRegistered()

	alice.Dial("sip:600@" + srv.SIPAddr)
	alice.WaitEstablished()
	time.Sleep(vmRecording + time.Second)
	// The server is told to stop while the caller is still talking.
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	select {
	case <-srv.exited:
		t.Fatalf("the server exited during the deposit, before the caller hung up")
	default:
	}
	alice.Hangup()
	alice.WaitClosed()
	select {
	case <-srv.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("the server did not exit after the call ended")
	}
	if !strings.Contains(srv.Log(), "waiting for calls in progress") {
		t.Errorf("the server log doesn't say it waited for the call:\n%s", srv.Log())
	}
	msgs := boxMessages(t, srv.DataDir, "600")
	if len(msgs) != 1 {
		t.Fatalf("box 600 holds %d messages after SIGTERM mid-deposit, want 1", len(msgs))
	}
	if msgs[0].Duration < 2.5 {
		t.Errorf("message is %.1f s: the recording was cut at SIGTERM instead of going on to the hangup", msgs[0].Duration)
	}
}

func TestBackupWhileRecordingRestoresEverything(t *testing.T) {
	srv := startServer(t, "")
	runCLI(t, srv.DataDir, "ext", "add", "101", "--name", "Alice", "--secret", "alice-secret-1")
	runCLI(t, srv.DataDir, "vm", "add", "600", "--name", "Sales", "--pin", vmPIN, "--members", "101")
	runCLI(t, srv.DataDir, "user", "add", "maria", "--email", "maria@example.test", "--extension", "101")
	runCLI(t, srv.DataDir, "user", "set", "maria", "--box", "600=delete")
	runCLI(t, srv.DataDir, "retention", "--audio-days", "90")
	vmSetShortGreeting(t, srv.DataDir, "600")
	alice := startBaresip(t, phoneConfig{Name: "alice", User: "101", Password: "alice-secret-1", Registrar: srv.SIPAddr, ToneHz: 440})
	alice.WaitRegistered()
	vmLeaveMessage(alice, "sip:600@"+srv.SIPAddr, 2*time.Second)
	msgs := vmWaitMessages(t, srv.DataDir, "600", 1)

	// The transcriber's work, done here (the default build has no engine):
	// the store is a real SQLite file the server has open too.
	ctx := context.Background()
	st, err := store.Open(ctx, srv.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SaveTranscript(ctx, store.Transcript{MessageID: msgs[0].ID, Language: "en", Model: "test",
		Text: "please call me back about the invoice"}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	// A second caller is mid-message when the backup runs.
	alice.Dial("sip:600@" + srv.SIPAddr)
	alice.WaitEstablished()
	time.Sleep(vmRecording + time.Second)
	archive := filepath.Join(t.TempDir(), "backup.tar.gz")
	runCLI(t, srv.DataDir, "backup", "--out", archive)
	time.Sleep(time.Second)
	alice.Hangup()
	alice.WaitClosed()
	vmWaitMessages(t, srv.DataDir, "600", 2)
	wavs, _ := messageFiles(t, srv.DataDir)
	sums := map[string]string{}
	for _, w := range wavs {
		sums[filepath.Base(w)] = fileSHA256(t, w)
	}
	// Restoring over a running server's data is refused, and changes nothing.
	if _, stderr, err := tryCLI(t, srv.DataDir, "restore", archive); err == nil || !strings.Contains(stderr, "server is running") {
		t.Errorf("restore over a running server: %v %q; want a refusal", err, stderr)
	}
	if got := boxMessages(t, srv.DataDir, "600"); len(got) != 2 {
		t.Errorf("after the refused restore box 600 holds %d messages, want 2", len(got))
	}
	srv.Stop()

	dir := filepath.Join(t.TempDir(), "restored")
	runCLI(t, dir, "restore", archive)
	got := boxMessages(t, dir, "600")
	if !reflect.DeepEqual(got, msgs) {
		t.Errorf("restored box 600 %+v, want the message stored before the backup %+v", got, msgs)
	}
	restored, _ := messageFiles(t, dir)
	if len(restored) != len(msgs) {
		t.Errorf("restored %d recordings, want %d: nothing half-recorded may be in a backup", len(restored), len(msgs))
	}
	for _, w := range restored {
		if want := sums[filepath.Base(w)]; fileSHA256(t, w) != want {
			t.Errorf("restored %s differs from the original", filepath.Base(w))
		}
	}
	st, err = store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if tr, err := st.Transcript(ctx, msgs[0].ID); err != nil || tr.Text != "please call me back about the invoice" {
		t.Errorf("restored transcript %+v, %v", tr, err)
	}
	if u, err := st.UserByName(ctx, "maria"); err != nil || u.Email != "maria@example.test" || u.Extension != "101" {
		t.Errorf("restored user %+v, %v", u, err)
	}
	if days, err := st.AudioRetentionDays(ctx); err != nil || days != 90 {
		t.Errorf("restored audio retention %d, %v; want 90", days, err)
	}
	if err := st.QuickCheck(ctx); err != nil {
		t.Errorf("restored database: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "greetings")); err != nil {
		t.Errorf("greetings not restored: %v", err)
	}
}

func TestDoctorReport(t *testing.T) {
	srv := startServer(t, "")
	runCLI(t, srv.DataDir, "ext", "add", "101", "--name", "Alice", "--secret", "alice-secret-1")
	type check struct{ Check, Verdict, Detail string }
	run := func(args ...string) ([]check, error) {
		stdout, _, err := tryCLI(t, srv.DataDir, append([]string{"doctor", "--json"}, args...)...)
		var out []check
		if jerr := json.Unmarshal([]byte(stdout), &out); jerr != nil {
			t.Fatalf("doctor --json: %v\n%s", jerr, stdout)
		}
		return out, err
	}
	if err := os.Chmod(srv.DataDir, 0o750); err != nil { // t.TempDir makes it 0755
		t.Fatal(err)
	}
	checks, err := run("--sip-listen", srv.SIPAddr, "--http-listen", strings.TrimPrefix(srv.HTTPURL, "http://"))
	if err != nil {
		t.Errorf("doctor failed on a healthy server: %v %+v", err, checks)
	}
	got := map[string]check{}
	for _, c := range checks {
		got[c.Check] = c
	}
	for name, verdict := range map[string]string{
		"SIP port": "warn", // in use: by the running server
		"web port": "warn",
		"data dir": "ok",
		"database": "ok",
		"smtp":     "warn", // not set
	} {
		if c, ok := got[name]; !ok || c.Verdict != verdict {
			t.Errorf("check %q = %+v, want verdict %s", name, c, verdict)
		}
	}
	for _, name := range []string{"disk", "transcription", "clock"} {
		if _, ok := got[name]; !ok {
			t.Errorf("no %q check in %+v", name, checks)
		}
	}
	// A world-readable data dir is flagged.
	if err := os.Chmod(srv.DataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	checks, _ = run("--sip-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0")
	for _, c := range checks {
		if c.Check == "data dir" && (c.Verdict != "warn" || !strings.Contains(c.Detail, "readable by everyone")) {
			t.Errorf("world-readable data dir: %+v", c)
		}
	}
}

// TestSIGHUPKeepsCalls: a settings reload in the middle of a message
// neither drops the call nor stops the server.
func TestSIGHUPKeepsCalls(t *testing.T) {
	srv := startServer(t, "")
	runCLI(t, srv.DataDir, "ext", "add", "101", "--name", "Alice", "--secret", "alice-secret-1")
	runCLI(t, srv.DataDir, "vm", "add", "600", "--name", "Sales", "--pin", vmPIN, "--members", "101")
	vmSetShortGreeting(t, srv.DataDir, "600")
	alice := startBaresip(t, phoneConfig{Name: "alice", User: "101", Password: "alice-secret-1", Registrar: srv.SIPAddr, ToneHz: 440})
	alice.WaitRegistered()
	alice.Dial("sip:600@" + srv.SIPAddr)
	alice.WaitEstablished()
	time.Sleep(vmRecording + time.Second)
	if err := srv.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	alice.Hangup()
	alice.WaitClosed()
	msgs := vmWaitMessages(t, srv.DataDir, "600", 1)
	if msgs[0].Duration < 2.5 {
		t.Errorf("message is %.1f s: the reload cut the call", msgs[0].Duration)
	}
	if err := srv.waitHealthy(2 * time.Second); err != nil {
		t.Errorf("server after SIGHUP: %v", err)
	}
	if !strings.Contains(srv.Log(), "settings reloaded") {
		t.Errorf("the server log doesn't mention the reload")
	}
}
