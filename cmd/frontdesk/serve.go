package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/emiago/diago/media"
	"github.com/emiago/sipgo/sip"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/frontdesk-pbx/frontdesk/media/whisper"
	"github.com/frontdesk-pbx/frontdesk/packaging/sdnotify"
	"github.com/frontdesk-pbx/frontdesk/pbx"
	"github.com/frontdesk-pbx/frontdesk/pbx/mailer"
	"github.com/frontdesk-pbx/frontdesk/pbx/notify"
	"github.com/frontdesk-pbx/frontdesk/pbx/retention"
	"github.com/frontdesk-pbx/frontdesk/pbx/sipauth"
	"github.com/frontdesk-pbx/frontdesk/pbx/transcriber"
	"github.com/frontdesk-pbx/frontdesk/store"
	"github.com/frontdesk-pbx/frontdesk/store/backup"
	"github.com/frontdesk-pbx/frontdesk/ui"
)

type serveFlags struct {
	sipListen      string
	httpListen     string
	rtpPorts       string
	publicIP       string
	sipDigest      string
	soundsDir      string
	mwiUnsolicited bool
	pinLockout     time.Duration
	scheduleClock  string
	// transcribeThreads bounds the CPU threads one transcription uses.
	transcribeThreads int
	drainTimeout      time.Duration
	backupEvery       time.Duration
	backupKeep        int
	backupDir         string
	tlsCert, tlsKey   string // HTTPS for the web UI
	// The SIP abuse guard (pbx/abuse.go).
	blockAfter            int
	blockWindow, blockFor time.Duration
	allow                 []string
	sipRate               float64
	sipBurst              int
	// notifyAllowPrivate lets webhooks reach private addresses.
	notifyAllowPrivate bool
}

func newServeCommand(g *globalFlags) *cobra.Command {
	f := &serveFlags{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the phone system (SIP registrar and B2BUA, web UI)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), g, f, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.sipListen, "sip-listen", "0.0.0.0:5060", "SIP address (UDP and TCP)")
	fl.StringVar(&f.httpListen, "http-listen", "0.0.0.0:8080", "web UI and API address")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate (chain) file: serve the web UI over HTTPS (with --tls-key)")
	fl.StringVar(&f.tlsKey, "tls-key", "", "PEM private key file for --tls-cert")
	fl.StringVar(&f.rtpPorts, "rtp-ports", "10000-20000", "UDP port range for call audio (LO-HI)")
	fl.StringVar(&f.publicIP, "public-ip", "", "address phones reach this server at, when it is behind NAT")
	fl.StringVar(&f.soundsDir, "sounds-dir", "", "directory of WAV prompts that replace built-in ones by name (e.g. en/vm-goodbye.wav)")
	fl.BoolVar(&f.mwiUnsolicited, "mwi-unsolicited", false, "also send message-waiting NOTIFYs to phones that never subscribe")
	fl.DurationVar(&f.pinLockout, "pin-lockout", pbx.DefaultPINLockout, "window for counting wrong voicemail PINs, and how long a box then stays locked")
	fl.StringVar(&f.scheduleClock, "schedule-clock", "", "judge business hours as if it were this time (RFC 3339), moving on from there: for testing schedules")
	_ = fl.MarkHidden("schedule-clock")
	fl.IntVar(&f.transcribeThreads, "transcribe-threads", 0, "CPU threads for transcription (default: cores less one, at least one)")
	fl.BoolVar(&f.notifyAllowPrivate, "notify-allow-private", false, "let Slack and webhook notifications reach loopback and private addresses (an intranet helpdesk)")
	fl.DurationVar(&f.drainTimeout, "drain-timeout", pbx.DefaultDrainTimeout, "on SIGTERM, how long calls and voicemail deposits in progress may finish")
	fl.DurationVar(&f.backupEvery, "backup-every", 0, "write a backup this often (e.g. 24h; 0: no scheduled backups)")
	fl.IntVar(&f.backupKeep, "backup-keep", 14, "scheduled backups to keep (the oldest go first)")
	fl.StringVar(&f.backupDir, "backup-dir", "", "where scheduled backups go (default DATA/backups)")
	fl.IntVar(&f.blockAfter, "block-after", pbx.DefaultBlockAfter, "block a SIP source after this many failed logins, unknown users or malformed requests in --block-window (0: never)")
	fl.DurationVar(&f.blockWindow, "block-window", pbx.DefaultBlockWindow, "window for counting a SIP source's failures")
	fl.DurationVar(&f.blockFor, "block-for", pbx.DefaultBlockFor, "how long a blocked SIP source's requests are dropped unanswered")
	fl.StringSliceVar(&f.allow, "allow", []string{"127.0.0.1", "::1"}, "addresses or networks (CIDR) never blocked nor rate limited, e.g. the office network (repeat or comma-separate; trunks' providers are always allowed)")
	fl.Float64Var(&f.sipRate, "sip-rate", pbx.DefaultRate, "SIP requests per second one source may send (0: no limit)")
	fl.IntVar(&f.sipBurst, "sip-burst", pbx.DefaultBurst, "SIP requests one source may send at once above --sip-rate")
	fl.StringVar(&f.sipDigest, "sip-digest", "MD5", "digest algorithms offered to phones, in order: MD5, SHA-256 or SHA-256,MD5 (many phones fail when offered SHA-256)")
	return cmd
}

func serve(ctx context.Context, g *globalFlags, f *serveFlags, stdout, stderr io.Writer) error {
	log, err := g.logger(stderr)
	if err != nil {
		return err
	}
	// The SIP and media libraries log through their package defaults too.
	sip.SetDefaultLogger(log)
	media.SetDefaultLogger(log)
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return fmt.Errorf("--tls-cert and --tls-key go together: give both, or neither for plain HTTP")
	}
	lo, hi, err := pbx.ParsePortRange(f.rtpPorts)
	if err != nil {
		return err
	}
	digestAlgorithms, err := sipauth.ParseAlgorithms(f.sipDigest)
	if err != nil {
		return fmt.Errorf("--sip-digest: %w", err)
	}
	allow, err := pbx.ParseAllowList(f.allow)
	if err != nil {
		return fmt.Errorf("--allow: %w", err)
	}
	if f.blockWindow <= 0 || f.blockFor <= 0 || f.sipBurst <= 0 {
		return fmt.Errorf("--block-window, --block-for and --sip-burst must be positive")
	}
	abuse := pbx.AbuseConfig{BlockAfter: f.blockAfter, BlockWindow: f.blockWindow, BlockFor: f.blockFor,
		Allow: allow, Rate: f.sipRate, Burst: f.sipBurst}
	if f.blockAfter <= 0 {
		abuse.BlockAfter = -1
	}
	if f.sipRate <= 0 {
		abuse.Rate = -1
	}
	var scheduleClock func() time.Time
	if f.scheduleClock != "" {
		start, err := time.Parse(time.RFC3339, f.scheduleClock)
		if err != nil {
			return fmt.Errorf("--schedule-clock: %w", err)
		}
		began := time.Now()
		scheduleClock = func() time.Time { return start.Add(time.Since(began)) }
	}
	unlock, err := store.LockDataDir(g.dataDir)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := g.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()

	mail := mailer.New(st, g.dataDir, log)
	notifier := notify.New(st, log, notify.Options{Mailer: mail, AllowPrivate: f.notifyAllowPrivate})
	transcripts := transcriber.New(st, g.dataDir, log, f.transcribeThreads, whisper.Load, whisper.Available())
	phones, err := pbx.New(pbx.Config{
		SIPListen: f.sipListen, PublicIP: f.publicIP, RTPPortMin: lo, RTPPortMax: hi, Logger: log,
		DigestAlgorithms: digestAlgorithms,
		DataDir:          g.dataDir, SoundsDir: f.soundsDir, MWIUnsolicited: f.mwiUnsolicited, PINLockout: f.pinLockout,
		ScheduleClock: scheduleClock, DrainTimeout: f.drainTimeout, Abuse: abuse,
		OnBoxChanged: func(string) {
			mail.Wake()
			transcripts.Wake()
			notifier.Wake()
		},
	}, st)
	if err != nil {
		return err
	}
	web := ui.New(st, log, version, ui.Options{DataDir: g.dataDir, Wake: func() { mail.Wake(); notifier.Wake() }, Engine: whisper.EngineName(),
		TLSCert: f.tlsCert, TLSKey: f.tlsKey, Stats: phones.Stats})
	web.SetDialer(phones)

	password, err := ui.EnsureFirstAdmin(ctx, st)
	if err != nil {
		return fmt.Errorf("create the first admin: %w", err)
	}
	exts, err := st.Extensions(ctx)
	if err != nil {
		return err
	}
	log.Info("Frontdesk starting", "version", version, "data", g.dataDir, "database", st.Path(),
		"transcription", whisper.EngineName())

	group, ctx := errgroup.WithContext(ctx)
	group.Go(func() error { return web.Run(ctx, f.httpListen) })
	group.Go(func() error { mail.Run(ctx); return nil })
	group.Go(func() error { notifier.Run(ctx); return nil })
	group.Go(func() error { transcripts.Run(ctx); return nil })
	group.Go(func() error { retention.New(st, g.dataDir, log).Run(ctx); return nil })
	backupDir := f.backupDir
	if backupDir == "" {
		backupDir = filepath.Join(g.dataDir, "backups")
	}
	backups := &backup.Scheduler{Store: st, DataDir: g.dataDir, Dir: backupDir, Every: f.backupEvery, Keep: f.backupKeep, Log: log}
	group.Go(func() error { backups.Run(ctx); return nil })
	systemd := sdnotify.FromEnv()
	group.Go(func() error {
		systemd.Watchdog(ctx, sdnotify.WatchdogInterval(), func(ctx context.Context) error {
			_, err := st.Version(ctx)
			return err
		})
		return nil
	})
	group.Go(func() error {
		<-ctx.Done()
		_ = systemd.Stopping("finishing calls in progress")
		return nil
	})
	// SIGHUP (systemctl reload frontdesk) reloads settings without a restart.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	group.Go(func() error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-hup:
				phones.Reload()
				mail.Wake()
				notifier.Wake()
				transcripts.Wake()
			}
		}
	})
	group.Go(func() error {
		return phones.Run(ctx, func() {
			web.SetReady()
			if err := systemd.Ready(); err != nil {
				log.Warn("systemd notify", "error", err)
			}
			printWelcome(stdout, g.dataDir, f.httpListen, password, len(exts) == 0)
		})
	})
	return group.Wait()
}

// printWelcome tells a new installer what to do next.
func printWelcome(w io.Writer, dataDir, httpListen, password string, noExtensions bool) {
	if password == "" && !noExtensions {
		return
	}
	host, port, _ := net.SplitHostPort(httpListen)
	if host == "" || host == "0.0.0.0" || host == "::" {
		if h, err := os.Hostname(); err == nil {
			host = h
		}
	}
	fmt.Fprintln(w, "Frontdesk is running.")
	if noExtensions {
		fmt.Fprintf(w, "  Add an extension:  frontdesk --data %s ext add 101 --name \"Front desk\"\n", dataDir)
		fmt.Fprintln(w, "                     (prints the SIP password for the phone; username is the number)")
	}
	if password != "" {
		fmt.Fprintf(w, "  Web admin:          http://%s/  user %q, one-time password %s\n",
			net.JoinHostPort(host, port), ui.FirstAdminName, password)
		fmt.Fprintln(w, "                     (shown once; you'll be asked to change it at first login)")
	}
}
