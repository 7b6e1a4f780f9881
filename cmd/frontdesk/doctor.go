package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/frontdesk-pbx/frontdesk/media/whisper"
	"github.com/frontdesk-pbx/frontdesk/media/whisper/models"
	"github.com/frontdesk-pbx/frontdesk/pbx/mailer"
	"github.com/frontdesk-pbx/frontdesk/store"
)

// Doctor verdicts.
const (
	checkOK   = "ok"
	checkWarn = "warn"
	checkFail = "FAIL"
)

// checkResult is one line of the doctor's report.
type checkResult struct {
	Name    string `json:"check"`
	Verdict string `json:"verdict"`
	Detail  string `json:"detail"`
}

func newDoctorCommand(g *globalFlags) *cobra.Command {
	var sipListen, httpListen string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check this machine for Frontdesk: ports, data dir, disk, model, SMTP, clock",
		Long: `Check what Frontdesk needs and print a report, one line per check:
the SIP and web ports (free, or taken by a running Frontdesk), the data
directory's ownership and permissions, free disk space, the database, the
transcription engine and model, the SMTP server's reachability and the clock.
Exits 1 when any check FAILs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			results := runDoctor(cmd.Context(), g.dataDir, sipListen, httpListen)
			failed := 0
			for _, r := range results {
				if r.Verdict == checkFail {
					failed++
				}
			}
			if asJSON {
				if err := writeJSON(cmd.OutOrStdout(), results); err != nil {
					return err
				}
			} else {
				printDoctor(cmd.OutOrStdout(), results)
			}
			if failed > 0 {
				return fmt.Errorf("%d check(s) failed", failed)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&sipListen, "sip-listen", "0.0.0.0:5060", "SIP address the server uses")
	fl.StringVar(&httpListen, "http-listen", "0.0.0.0:8080", "web address the server uses")
	fl.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printDoctor(w io.Writer, results []checkResult) {
	for _, r := range results {
		fmt.Fprintf(w, "%-4s  %-14s %s\n", r.Verdict, r.Name, r.Detail)
	}
}

// runDoctor runs every check; none of them changes anything.
func runDoctor(ctx context.Context, dataDir, sipListen, httpListen string) []checkResult {
	var out []checkResult
	add := func(name, verdict, format string, args ...any) {
		out = append(out, checkResult{Name: name, Verdict: verdict, Detail: fmt.Sprintf(format, args...)})
	}
	checkPort(add, "SIP port", "udp", sipListen)
	checkPort(add, "SIP port (TCP)", "tcp", sipListen)
	checkPort(add, "web port", "tcp", httpListen)

	dbOK := checkDataDir(add, dataDir)
	checkDisk(add, dataDir)
	var st *store.Store
	if dbOK {
		var err error
		st, err = store.Open(ctx, dataDir)
		if err != nil {
			add("database", checkFail, "%v", err)
		} else {
			defer st.Close()
			checkDatabase(ctx, add, st)
		}
	}
	checkModel(ctx, add, st)
	checkSMTP(ctx, add, st)
	checkClock(add)
	if _, err := exec.LookPath("espeak-ng"); err != nil {
		add("espeak-ng", checkWarn, "not installed: spoken greetings (vm greeting say) need it (apt install espeak-ng)")
	} else {
		add("espeak-ng", checkOK, "installed")
	}
	return out
}

// checkPort tries to bind addr: free is fine, taken is fine when it is
// Frontdesk's own, a permission error means the capability is missing.
func checkPort(add func(string, string, string, ...any), name, network, addr string) {
	var err error
	if network == "udp" {
		var c net.PacketConn
		if c, err = net.ListenPacket("udp", addr); err == nil {
			c.Close()
		}
	} else {
		var l net.Listener
		if l, err = net.Listen("tcp", addr); err == nil {
			l.Close()
		}
	}
	switch {
	case err == nil:
		add(name, checkOK, "%s %s is free", network, addr)
	case errors.Is(err, syscall.EADDRINUSE):
		add(name, checkWarn, "%s %s is in use: fine if Frontdesk is running (systemctl status frontdesk), otherwise another program has it", network, addr)
	case errors.Is(err, syscall.EACCES):
		add(name, checkFail, "%s %s: permission denied; ports below 1024 need CAP_NET_BIND_SERVICE (the systemd unit grants it)", network, addr)
	default:
		add(name, checkFail, "%s %s: %v", network, addr, err)
	}
}

// checkDataDir reports whether the directory exists, is writable and is
// private; it returns whether a database is there to open.
func checkDataDir(add func(string, string, string, ...any), dir string) bool {
	fi, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		add("data dir", checkWarn, "%s doesn't exist yet: frontdesk serve creates it", dir)
		return false
	}
	if err != nil {
		add("data dir", checkFail, "%v", err)
		return false
	}
	if !fi.IsDir() {
		add("data dir", checkFail, "%s is not a directory", dir)
		return false
	}
	probe, err := os.CreateTemp(dir, ".doctor-*")
	if err != nil {
		add("data dir", checkFail, "%s is not writable by this user (uid %d): %v", dir, os.Getuid(), err)
		return false
	}
	probe.Close()
	os.Remove(probe.Name())
	if perm := fi.Mode().Perm(); perm&0o007 != 0 {
		add("data dir", checkWarn, "%s is readable by everyone (mode %o): voicemail is private; chmod o-rwx %s", dir, perm, dir)
	} else {
		add("data dir", checkOK, "%s writable, mode %o", dir, fi.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(dir, store.FileName)); err != nil {
		add("database", checkWarn, "no database yet in %s: frontdesk serve creates it", dir)
		return false
	}
	return true
}

// checkDisk warns under 1 GiB or 5 % free.
func checkDisk(add func(string, string, string, ...any), dir string) {
	for d := dir; ; d = filepath.Dir(d) {
		var fs syscall.Statfs_t
		if err := syscall.Statfs(d, &fs); err == nil {
			free := fs.Bavail * uint64(fs.Bsize)
			total := fs.Blocks * uint64(fs.Bsize)
			pct := 100 * float64(free) / float64(max(total, 1))
			verdict := checkOK
			if free < 1<<30 || pct < 5 {
				verdict = checkWarn
			}
			if free < 100<<20 {
				verdict = checkFail
			}
			add("disk", verdict, "%.1f GiB free of %.1f GiB (%.0f %%) at %s; an hour of voicemail takes about 115 MB", float64(free)/(1<<30), float64(total)/(1<<30), pct, d)
			return
		}
		if d == filepath.Dir(d) {
			add("disk", checkWarn, "can't read free space for %s", dir)
			return
		}
	}
}

func checkDatabase(ctx context.Context, add func(string, string, string, ...any), st *store.Store) {
	v, err := st.Version(ctx)
	if err != nil {
		add("database", checkFail, "%v", err)
		return
	}
	if err := st.QuickCheck(ctx); err != nil {
		add("database", checkFail, "%s: %v (restore the newest backup: frontdesk restore FILE)", st.Path(), err)
		return
	}
	add("database", checkOK, "%s, schema %d, integrity ok", st.Path(), v)
}

func checkModel(ctx context.Context, add func(string, string, string, ...any), st *store.Store) {
	if !whisper.Available() {
		add("transcription", checkWarn, "engine: %s; messages are kept without transcripts (install the whisper build)", whisper.EngineName())
		return
	}
	path := ""
	if st != nil {
		path, _ = st.Setting(ctx, models.SettingKey)
	}
	if path == "" {
		add("transcription", checkWarn, "engine %s, but no model in use: frontdesk model pull base.en && frontdesk model use base.en", whisper.EngineName())
		return
	}
	if err := models.CheckFile(path); err != nil {
		add("transcription", checkFail, "model %s: %v", path, err)
		return
	}
	add("transcription", checkOK, "engine %s, model %s", whisper.EngineName(), path)
}

// checkSMTP connects and says EHLO, without logging in or sending.
func checkSMTP(ctx context.Context, add func(string, string, string, ...any), st *store.Store) {
	if st == nil {
		return
	}
	s, err := mailer.LoadSettings(ctx, st)
	if err != nil {
		add("smtp", checkFail, "%v", err)
		return
	}
	if !s.Configured() {
		add("smtp", checkWarn, "not set: voicemail isn't emailed (frontdesk smtp set --host ...)")
		return
	}
	conn, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", s.Addr())
	if err != nil {
		add("smtp", checkFail, "can't reach %s: %v", s.Addr(), err)
		return
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if s.Security == mailer.SecurityTLS {
		add("smtp", checkOK, "%s reachable (TLS)", s.Addr())
		return
	}
	host, _, _ := net.SplitHostPort(s.Addr())
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		add("smtp", checkFail, "%s answered, but not as an SMTP server: %v", s.Addr(), err)
		return
	}
	defer c.Close()
	if err := c.Hello("frontdesk-doctor"); err != nil {
		add("smtp", checkFail, "%s: EHLO: %v", s.Addr(), err)
		return
	}
	add("smtp", checkOK, "%s reachable, greets EHLO", s.Addr())
}

// checkClock asks systemd whether the clock is synchronised: message times,
// schedules and TLS all depend on it.
func checkClock(add func(string, string, string, ...any)) {
	if time.Now().Year() < 2025 {
		add("clock", checkFail, "the clock says %s: set the time (timedatectl set-ntp true)", time.Now().Format(time.RFC3339))
		return
	}
	if _, err := os.Stat("/run/systemd/timesync/synchronized"); err == nil {
		add("clock", checkOK, "%s, synchronised (systemd-timesyncd)", time.Now().Format(time.RFC3339))
		return
	}
	if out, err := exec.Command("timedatectl", "show", "-p", "NTPSynchronized", "--value").Output(); err == nil {
		if strings.TrimSpace(string(out)) == "yes" {
			add("clock", checkOK, "%s, synchronised", time.Now().Format(time.RFC3339))
		} else {
			add("clock", checkWarn, "%s, not synchronised by NTP: schedules and message times may drift (timedatectl set-ntp true)", time.Now().Format(time.RFC3339))
		}
		return
	}
	add("clock", checkWarn, "%s; can't tell whether NTP keeps it right (no timedatectl)", time.Now().Format(time.RFC3339))
}
