//go:build bench

package main

// Asterisk, for `make bench-compare`: Debian sid's asterisk package in the
// sid root (packaging/sidroot.sh, with FRONTDESK_SID_EXTRA installing it),
// configured from testdata/asterisk with the same extensions, secrets and
// voicemail box as the Frontdesk it is measured against.

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"
)

// asteriskUser is one extension in pjsip.conf.
type asteriskUser struct{ Name, Secret string }

// asteriskConfig fills the templates in testdata/asterisk.
type asteriskConfig struct {
	Dir             string // the run's directory, as Asterisk sees it (inside the root)
	Multiarch       string // Debian's library directory, e.g. x86_64-linux-gnu
	SIPAddr         string
	RTPLow, RTPHigh int
	Box, PIN        string
	Users           []asteriskUser
}

// asteriskPBX is a running Asterisk in the sid root.
type asteriskPBX struct {
	SIPAddr string
	host    string // the run's directory, as this process sees it
	cfg     asteriskConfig
	cmd     *exec.Cmd
	exited  chan struct{}
	logPath string
}

// benchSidRoot is the Debian sid root packaging/sidroot.sh runs in.
func benchSidRoot() string {
	if r := os.Getenv("FRONTDESK_SIDROOT"); r != "" {
		return r
	}
	return "/var/tmp/frontdesk-sid"
}

// sidrootScript is packaging/sidroot.sh (tests run in this package's
// directory, two levels below the repository's).
func sidrootScript() string {
	p, _ := filepath.Abs(filepath.Join("..", "..", "packaging", "sidroot.sh"))
	return p
}

// startAsterisk writes the configuration, starts Asterisk in the sid root
// and waits until it has fully booted. greeting (8 kHz 16-bit WAV) becomes
// the box's unavailable greeting. It is stopped by t.Cleanup.
func startAsterisk(t *testing.T, users []asteriskUser, box, pin, greeting string) *asteriskPBX {
	t.Helper()
	root := benchSidRoot()
	if _, err := os.Stat(filepath.Join(root, "usr/sbin/asterisk")); err != nil {
		t.Fatalf("no Asterisk in the sid root %s (%v): `make bench-compare` installs it", root, err)
	}
	mods, _ := filepath.Glob(filepath.Join(root, "usr/lib/*/asterisk/modules"))
	if len(mods) != 1 {
		t.Fatalf("Asterisk's module directory in %s: found %v", root, mods)
	}
	inner := fmt.Sprintf("/tmp/frontdesk-bench-asterisk-%d", os.Getpid())
	a := &asteriskPBX{
		SIPAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t))),
		host:    filepath.Join(root, inner),
		exited:  make(chan struct{}),
	}
	a.cfg = asteriskConfig{
		Dir: inner, Multiarch: filepath.Base(filepath.Dir(filepath.Dir(mods[0]))),
		SIPAddr: a.SIPAddr, RTPLow: 40000, RTPHigh: 49999, Box: box, PIN: pin, Users: users,
	}
	if err := os.RemoveAll(a.host); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(a.host) })
	boxDir := a.boxDir()
	for _, d := range []string{"etc", "db", "run", "log", boxDir} {
		if err := os.MkdirAll(filepath.Join(a.host, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tmpls, err := filepath.Glob(filepath.Join("testdata", "asterisk", "*.conf"))
	if err != nil || len(tmpls) == 0 {
		t.Fatalf("Asterisk configuration templates: %v %v", tmpls, err)
	}
	for _, p := range tmpls {
		tm, err := template.ParseFiles(p)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := tm.Execute(&b, a.cfg); err != nil {
			t.Fatalf("rendering %s: %v", p, err)
		}
		if err := os.WriteFile(filepath.Join(a.host, "etc", filepath.Base(p)), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	g, err := os.ReadFile(greeting)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(a.host, boxDir, "unavail.wav"), g, 0o644); err != nil {
		t.Fatal(err)
	}

	a.logPath = filepath.Join(t.TempDir(), "asterisk.log")
	logFile, err := os.Create(a.logPath)
	if err != nil {
		t.Fatal(err)
	}
	a.cmd = exec.Command(sidrootScript(), "asterisk", "-f", "-n", "-C", inner+"/etc/asterisk.conf")
	a.cmd.Env = append(os.Environ(), "FRONTDESK_SIDROOT="+root)
	a.cmd.Stdout, a.cmd.Stderr = logFile, logFile
	// Its own process group: the script, the namespace and Asterisk go
	// together if it has to be killed.
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("starting Asterisk: %v", err)
	}
	go func() {
		_ = a.cmd.Wait()
		logFile.Close()
		close(a.exited)
	}()
	t.Cleanup(func() {
		a.stop()
		if t.Failed() {
			t.Logf("--- Asterisk's output ---\n%s\n--- its messages.log ---\n%s", readFileString(a.logPath),
				readFileString(filepath.Join(a.host, "log", "messages.log")))
		}
	})
	if err := a.waitBooted(90 * time.Second); err != nil {
		t.Fatalf("Asterisk did not start: %v\n%s\n%s", err, readFileString(a.logPath),
			readFileString(filepath.Join(a.host, "log", "messages.log")))
	}
	return a
}

func readFileString(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

// boxDir is the box's spool directory, relative to the run's directory.
func (a *asteriskPBX) boxDir() string {
	return filepath.Join("spool", "voicemail", "default", a.cfg.Box)
}

// rx runs an Asterisk CLI command against the running Asterisk.
func (a *asteriskPBX) rx(ctx context.Context, command string) (string, error) {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", `exec "$0" asterisk -C "$1" -rx "$2"`,
		sidrootScript(), a.cfg.Dir+"/etc/asterisk.conf", command)
	cmd.Env = append(os.Environ(), "FRONTDESK_SIDROOT="+benchSidRoot())
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// waitBooted waits for Asterisk's control socket, then for it to report
// itself fully booted (every module loaded, the dialplan ready).
func (a *asteriskPBX) waitBooted(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		select {
		case <-a.exited:
			return fmt.Errorf("Asterisk exited")
		case <-ctx.Done():
			return fmt.Errorf("not booted after %v", timeout)
		case <-time.After(200 * time.Millisecond):
		}
		if _, err := os.Stat(filepath.Join(a.host, "run", "asterisk.ctl")); err != nil {
			continue
		}
		out, err := a.rx(ctx, "core waitfullybooted")
		if err == nil && strings.Contains(out, "fully booted") {
			return nil
		}
	}
}

// pid is Asterisk's process ID, for its CPU time.
func (a *asteriskPBX) pid(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(a.host, "run", "asterisk.pid"))
	if err != nil {
		t.Fatalf("Asterisk's pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("Asterisk's pid file: %v", err)
	}
	return pid
}

// messages lists the recordings in the box's INBOX.
func (a *asteriskPBX) messages() []string {
	m, _ := filepath.Glob(filepath.Join(a.host, a.boxDir(), "INBOX", "msg*.wav"))
	return m
}

// stop asks Asterisk to stop, then kills its process group if it has not
// gone within 15 s.
func (a *asteriskPBX) stop() {
	select {
	case <-a.exited:
		return
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_, _ = a.rx(ctx, "core stop now")
	select {
	case <-a.exited:
	case <-ctx.Done():
		_ = syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL)
		<-a.exited
	}
}
