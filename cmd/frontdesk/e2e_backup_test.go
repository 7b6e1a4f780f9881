package main

// End-to-end backup and restore: a baresip phone leaves a message while the
// server runs, `frontdesk backup` archives the live data directory, and
// `frontdesk restore` brings it back in a new data directory with the same
// message and the same audio, byte for byte. A damaged archive is refused.

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestBackupRestore(t *testing.T) {
	srv := startServer(t, "")
	runCLI(t, srv.DataDir, "ext", "add", "101", "--name", "Alice", "--secret", "alice-secret-1")
	runCLI(t, srv.DataDir, "vm", "add", "600", "--name", "Sales", "--pin", vmPIN, "--members", "101")
	vmSetShortGreeting(t, srv.DataDir, "600")
	alice := startBaresip(t, phoneConfig{Name: "alice", User: "101", Password: "alice-secret-1", Registrar: srv.SIPAddr, ToneHz: 440})
	alice.WaitRegistered()
	vmLeaveMessage(alice, "sip:600@"+srv.SIPAddr, 2*time.Second)
	msgs := vmWaitMessages(t, srv.DataDir, "600", 1)
	wavs, _ := messageFiles(t, srv.DataDir)
	if len(wavs) != 1 {
		t.Fatalf("DATA/messages holds %v, want one WAV", wavs)
	}
	wantSum := fileSHA256(t, wavs[0])

	// Back up while the server runs.
	archive := filepath.Join(t.TempDir(), "frontdesk-backup.tar.gz")
	out := runCLI(t, srv.DataDir, "backup", "--out", archive)
	t.Logf("backup: %s", strings.TrimSpace(out))
	if !strings.Contains(out, "1 messages") || !strings.Contains(out, "1 greetings") || !strings.Contains(out, "sha256 ") {
		t.Errorf("backup output %q: want the counts and the archive's sha256", out)
	}
	if _, err := os.Stat(archive + ".partial"); !os.IsNotExist(err) {
		t.Errorf("backup left %s.partial", archive)
	}
	srv.Stop()

	// Restore into a data directory that doesn't exist yet.
	newDir := filepath.Join(t.TempDir(), "restored")
	out = runCLI(t, newDir, "restore", archive)
	t.Logf("restore: %s", strings.TrimSpace(out))
	if got := boxMessages(t, newDir, "600"); !reflect.DeepEqual(got, msgs) {
		t.Errorf("restored messages %+v, want %+v", got, msgs)
	}
	restored, _ := messageFiles(t, newDir)
	if len(restored) != 1 || filepath.Base(restored[0]) != filepath.Base(wavs[0]) {
		t.Fatalf("restored DATA/messages holds %v, want %s", restored, filepath.Base(wavs[0]))
	}
	if got := fileSHA256(t, restored[0]); got != wantSum {
		t.Errorf("restored WAV sha256 %s, want %s", got, wantSum)
	}

	// A damaged copy is refused with one clear line, and nothing is made.
	b, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x55
	damaged := filepath.Join(t.TempDir(), "damaged.tar.gz")
	if err := os.WriteFile(damaged, b, 0o600); err != nil {
		t.Fatal(err)
	}
	otherDir := filepath.Join(t.TempDir(), "other")
	stdout, stderr, err := tryCLI(t, otherDir, "restore", damaged)
	if err == nil {
		t.Fatalf("restore of a damaged archive succeeded: %s", stdout)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "frontdesk: ") || !strings.Contains(lines[0], "damaged archive") {
		t.Errorf("stderr %q: want one line saying the archive is damaged", stderr)
	}
	t.Logf("refused: %s", lines[0])
	if _, err := os.Stat(otherDir); !os.IsNotExist(err) {
		t.Errorf("refused restore created %s", otherDir)
	}
	// Restoring over the restored dir keeps it aside.
	out = runCLI(t, newDir, "restore", archive)
	if !strings.Contains(out, "old data is kept in "+newDir+".old-") {
		t.Errorf("restore over existing data printed %q", out)
	}
	if got := boxMessages(t, newDir, "600"); !reflect.DeepEqual(got, msgs) {
		t.Errorf("re-restored messages %+v, want %+v", got, msgs)
	}
}
