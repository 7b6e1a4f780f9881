package pbx

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/diago"
	dmedia "github.com/emiago/diago/media"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/frontdesk-pbx/frontdesk/embed"
	"github.com/frontdesk-pbx/frontdesk/media"
	"github.com/frontdesk-pbx/frontdesk/pbx/sipauth"
	"github.com/frontdesk-pbx/frontdesk/pbx/trunk"
	"github.com/frontdesk-pbx/frontdesk/store"
)

// Config is what the SIP side needs to start.
type Config struct {
	// SIPListen is host:port for SIP over UDP and TCP.
	SIPListen string
	// PublicIP, when set, is the address phones reach the PBX at: written in
	// Contact and SDP instead of the local one (a PBX behind NAT).
	PublicIP string
	// RTPPortMin and RTPPortMax bound the UDP ports media uses.
	RTPPortMin, RTPPortMax int
	// Realm is the digest realm; sipauth.DefaultRealm when empty.
	Realm string
	// DigestAlgorithms are offered in challenges, in order
	// (sipauth.DefaultAlgorithms when empty).
	DigestAlgorithms []string
	// DataDir holds recordings and greetings (the database is opened by the caller).
	DataDir string
	// SoundsDir, when set, holds prompts that replace built-in ones by name.
	SoundsDir string
	// PINLockout is the window for counting wrong voicemail PINs and how long
	// a box stays locked (DefaultPINLockout when zero).
	PINLockout time.Duration
	// MWIUnsolicited also lights the lamps of phones that never SUBSCRIBE.
	MWIUnsolicited bool
	// ScheduleClock, when set, is the time business-hours schedules are
	// judged by (tests move it; everything else uses the real time).
	ScheduleClock func() time.Time
	// OnBoxChanged, when set, hears about every change to a box's messages
	// (after the lamps are updated), e.g. to wake the mail queue.
	OnBoxChanged func(box string)
	// DrainTimeout is how long calls and deposits in progress may go on
	// after shutdown begins (DefaultDrainTimeout when zero).
	DrainTimeout time.Duration
	// Abuse sets the per-source guard against scanners, password guessing
	// and floods (abuse.go).
	Abuse  AbuseConfig
	Logger *slog.Logger
}

// DefaultDrainTimeout bounds a graceful shutdown's wait for calls.
const DefaultDrainTimeout = 60 * time.Second

// Server is the running SIP side of Frontdesk.
type Server struct {
	cfg   Config
	store *store.Store
	log   *slog.Logger
	ua    *sipgo.UserAgent
	// sip routes requests to the handlers below and diago's (tests reach
	// them through it without a network).
	sip   *sipgo.Server
	dg    *diago.Diago
	calls *b2bua
	vm    *voicemail
	// trunks keeps the registrations to SIP providers.
	trunks *trunk.Keeper
	// runCtx lives as long as Run: calls the API starts outlive the request.
	runCtx context.Context
	// counters are the totals Stats reports.
	counters *counters
	// abuse counts failures per source, blocks and rate-limits sources.
	abuse *abuseGuard
	// sendFrom is the SIP listener's address the PBX's own requests leave
	// from, empty when it listens on every address (or on port 0).
	sendFrom string
}

// UserAgent is the name Frontdesk gives itself in SIP messages.
const UserAgent = "Frontdesk"

// New prepares the SIP side. Nothing listens until Run.
func New(cfg Config, st *store.Store) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.PINLockout <= 0 {
		cfg.PINLockout = DefaultPINLockout
	}
	if cfg.Realm == "" {
		cfg.Realm = sipauth.DefaultRealm
	}
	host, portStr, err := net.SplitHostPort(cfg.SIPListen)
	if err != nil {
		return nil, fmt.Errorf("sip listen address %q: %w", cfg.SIPListen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("sip listen port %q: %w", portStr, err)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	if cfg.RTPPortMin <= 0 || cfg.RTPPortMax <= cfg.RTPPortMin {
		return nil, fmt.Errorf("rtp port range %d-%d is empty", cfg.RTPPortMin, cfg.RTPPortMax)
	}
	// diago keeps its RTP port range in package variables: one PBX per process.
	dmedia.RTPPortStart, dmedia.RTPPortEnd = cfg.RTPPortMin, cfg.RTPPortMax

	mediaIP := net.ParseIP(host)
	if mediaIP == nil {
		return nil, fmt.Errorf("sip listen host %q must be an IP address", host)
	}
	if mediaIP.IsUnspecified() {
		mediaIP, _, err = sip.ResolveInterfacesIP("ip4", nil)
		if err != nil {
			return nil, fmt.Errorf("find a local address for media: %w", err)
		}
	}
	var externalIP net.IP
	if cfg.PublicIP != "" {
		if externalIP = net.ParseIP(cfg.PublicIP); externalIP == nil {
			return nil, fmt.Errorf("public ip %q is not an IP address", cfg.PublicIP)
		}
	}

	// The SIP library logs every unparsable datagram at ERROR with its bytes:
	// remote garbage is not our error, so it goes to debug.
	libLog := slog.New(demoteHandler{Handler: cfg.Logger.Handler(), messages: []string{"failed to parse"}})
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(UserAgent),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(libLog)),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(libLog)))
	if err != nil {
		return nil, fmt.Errorf("sip user agent: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(cfg.Logger))
	if err != nil {
		return nil, fmt.Errorf("sip server: %w", err)
	}
	auth, err := sipauth.New(cfg.Realm, cfg.DigestAlgorithms...)
	if err != nil {
		return nil, err
	}

	counters := &counters{}
	abuse := newAbuseGuard(cfg.Abuse, cfg.Logger, counters, time.Now)
	// Every handler is wrapped: abuse drops what blocked or flooding sources
	// send, then guard answers invalid requests.
	wrap := func(next sipgo.RequestHandler) sipgo.RequestHandler { return abuse.middleware(guard(cfg.Logger, next)) }
	opts := []diago.DiagoOption{
		diago.WithServer(srv),
		diago.WithServerRequestMiddleware(wrap),
		diago.WithLogger(cfg.Logger),
		diago.WithMediaConfig(diago.MediaConfig{Codecs: codecs}),
	}
	for _, network := range []string{"udp", "tcp"} {
		t := diago.Transport{
			Transport: network,
			BindHost:  host,
			BindPort:  port,
			// Send in-dialog requests to where the phone's messages come from,
			// not to a private Contact address (phones behind NAT).
			RewriteContact: true,
		}
		if externalIP != nil {
			t.ExternalHost = externalIP.String()
			t.ExternalPort = port
			t.MediaExternalIP = externalIP
		}
		opts = append(opts, diago.WithTransport(t))
	}
	dg := diago.NewDiago(ua, opts...)

	// Requests the PBX starts itself (NOTIFY) leave from the SIP port when it
	// is bound to one address, so NAT pinholes the phones opened let them in.
	contactHost := mediaIP.String()
	if externalIP != nil {
		contactHost = externalIP.String()
	}
	clientOpts := []sipgo.ClientOption{sipgo.WithClientHostname(contactHost), sipgo.WithClientNAT()}
	sendFrom := ""
	if !net.ParseIP(host).IsUnspecified() {
		clientOpts = append(clientOpts, sipgo.WithClientConnectionAddr(net.JoinHostPort(host, portStr)))
		if port != 0 {
			sendFrom = net.JoinHostPort(host, portStr)
		}
	}
	client, err := sipgo.NewClient(ua, clientOpts...)
	if err != nil {
		return nil, fmt.Errorf("sip client: %w", err)
	}
	contact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", Host: contactHost, Port: port}}

	s := &Server{cfg: cfg, store: st, log: cfg.Logger, ua: ua, sip: srv, dg: dg, runCtx: context.Background(), counters: counters, abuse: abuse, sendFrom: sendFrom}
	// Trunk REGISTERs leave through the same client, so from the SIP port.
	s.trunks = trunk.New(st, client, contactHost, port, cfg.Logger, time.Now)
	reg := &registrar{store: st, auth: auth, log: cfg.Logger, now: time.Now, slots: make(chan struct{}, maxConcurrentRegisters), counters: s.counters, abuse: abuse}
	lamps := newMWI(st, auth, client, contact, cfg.Logger, cfg.MWIUnsolicited, abuse)
	info := &infoDigits{}
	s.vm = &voicemail{
		counters: s.counters,
		store:    st, log: cfg.Logger, dataDir: cfg.DataDir, now: time.Now, info: info, lockout: cfg.PINLockout,
		prompts: media.NewPrompts(embed.Prompts(), cfg.SoundsDir, "en"),
		changed: func(box string) {
			lamps.boxChanged(box)
			if cfg.OnBoxChanged != nil {
				cfg.OnBoxChanged(box)
			}
		},
	}
	if cfg.ScheduleClock == nil {
		cfg.ScheduleClock = time.Now
	}
	s.calls = &b2bua{counters: s.counters, abuse: abuse, store: st, auth: auth, dg: dg, log: cfg.Logger, now: time.Now, scheduleClock: cfg.ScheduleClock,
		vm: s.vm, queues: newQueues(), host: contactHost, mediaIP: mediaIP, externalIP: externalIP, trunks: s.trunks}
	s.vm.operator = s.calls.operator

	// diago installed its INVITE/ACK/BYE/CANCEL handlers; the rest are ours.
	srv.OnRegister(wrap(reg.handle))
	srv.OnOptions(wrap(s.handleOptions))
	srv.OnSubscribe(wrap(lamps.handleSubscribe))
	srv.OnInfo(wrap(info.handle))
	// Methods nobody handles: still guarded, so blocked sources get nothing.
	srv.OnNoRoute(wrap(s.handleUnknownMethod))
	return s, nil
}

// Run listens on UDP and TCP and serves until ctx ends. ready is called once
// both listeners are up.
func (s *Server) Run(ctx context.Context, ready func()) error {
	// Calls run on their own context: at shutdown they get to finish (drain)
	// before it ends.
	callCtx, stopCalls := context.WithCancel(context.WithoutCancel(ctx))
	defer stopCalls()
	s.runCtx = callCtx
	// The trunks' providers are allow-listed before the first request.
	s.refreshTrusted(ctx)
	// Finish or clean recordings a crash cut short before taking calls. A
	// failure there (disk full, unreadable directory) leaves the recordings
	// for the next start and must not keep the phones from working.
	if err := s.vm.Recover(ctx); err != nil {
		s.log.Error("voicemail recovery failed: leftover recordings kept for the next start", "error", err)
	}
	// The listeners outlive ctx by a moment, so trunks can un-REGISTER.
	listenCtx, stopListening := context.WithCancel(context.WithoutCancel(ctx))
	defer stopListening()
	if err := s.dg.ServeBackground(listenCtx, s.calls.serve); err != nil {
		return fmt.Errorf("sip listen on %s: %w", s.cfg.SIPListen, err)
	}
	if s.sendFrom != "" {
		waitCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := trunk.AwaitListener(waitCtx, s.ua.TransportLayer(), s.sendFrom)
		cancel()
		if err != nil {
			return err
		}
	}
	s.log.Info("SIP listening", "address", s.cfg.SIPListen, "transports", "udp,tcp",
		"rtp_ports", fmt.Sprintf("%d-%d", s.cfg.RTPPortMin, s.cfg.RTPPortMax))
	if ready != nil {
		ready()
	}
	go s.expireBindings(ctx)
	go s.guardAbuse(ctx)
	trunksDone := make(chan struct{})
	go func() {
		defer close(trunksDone)
		s.trunks.Run(ctx)
	}()
	<-ctx.Done()
	s.drain()
	stopCalls()
	<-trunksDone // trunks un-REGISTER (briefly) before the listeners close
	stopListening()
	return s.ua.Close()
}

// drain refuses new calls and waits for the ones in progress (deposits
// included) to end, up to the drain timeout.
func (s *Server) drain() {
	s.calls.draining.Store(true)
	n := s.calls.active.Load()
	if n == 0 {
		return
	}
	limit := s.cfg.DrainTimeout
	if limit <= 0 {
		limit = DefaultDrainTimeout
	}
	s.log.Info("shutting down: waiting for calls in progress", "calls", n, "limit", limit)
	deadline := time.Now().Add(limit)
	for s.calls.active.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := s.calls.active.Load(); n > 0 {
		s.log.Warn("shutting down with calls still up", "calls", n)
	} else {
		s.log.Info("all calls ended")
	}
}

// ActiveCalls is how many calls are in progress (for status and metrics).
func (s *Server) ActiveCalls() int64 { return s.calls.active.Load() }

// TrunkStatus reports the registration of every trunk.
func (s *Server) TrunkStatus() []trunk.Status { return s.trunks.Status() }

// handleOptions answers OPTIONS pings (phones and trunks use them as keep-alives).
func (s *Server) handleOptions(req *sip.Request, tx sip.ServerTransaction) {
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	res.AppendHeader(sip.NewHeader("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, SUBSCRIBE, NOTIFY"))
	res.AppendHeader(sip.NewHeader("Allow-Events", mwiEvent))
	res.AppendHeader(sip.NewHeader("Accept", "application/sdp"))
	if err := tx.Respond(res); err != nil {
		s.log.Debug("send OPTIONS response", "error", err)
	}
}

// handleUnknownMethod answers methods the PBX has no handler for.
func (s *Server) handleUnknownMethod(req *sip.Request, tx sip.ServerTransaction) {
	res := sip.NewResponseFromRequest(req, sip.StatusMethodNotAllowed, "Method Not Allowed", nil)
	res.AppendHeader(sip.NewHeader("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, SUBSCRIBE, NOTIFY"))
	if err := tx.Respond(res); err != nil {
		s.log.Debug("send 405 response", "error", err)
	}
}

// expireBindings removes expired registrations once a minute, so the table
// stays small; lookups already ignore expired rows.
func (s *Server) expireBindings(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := s.store.DeleteExpiredBindings(ctx, time.Now()); err != nil {
				s.log.Warn("expire registrations", "error", err)
			} else if n > 0 {
				s.log.Debug("registrations expired", "count", n)
			}
		}
	}
}

// demoteHandler logs records with the given messages at debug level.
type demoteHandler struct {
	slog.Handler
	messages []string
}

func (h demoteHandler) Handle(ctx context.Context, r slog.Record) error {
	if slices.Contains(h.messages, r.Message) {
		r.Level = slog.LevelDebug
	}
	if !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h demoteHandler) Enabled(ctx context.Context, l slog.Level) bool {
	// Let every level through to Handle, which decides after demoting.
	return true
}

func (h demoteHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return demoteHandler{Handler: h.Handler.WithAttrs(as), messages: h.messages}
}

func (h demoteHandler) WithGroup(name string) slog.Handler {
	return demoteHandler{Handler: h.Handler.WithGroup(name), messages: h.messages}
}

// ParsePortRange parses "LO-HI".
func ParsePortRange(s string) (lo, hi int, err error) {
	a, b, ok := strings.Cut(s, "-")
	if ok {
		lo, err = strconv.Atoi(strings.TrimSpace(a))
		if err == nil {
			hi, err = strconv.Atoi(strings.TrimSpace(b))
		}
	}
	if !ok || err != nil || lo < 1 || hi > 65535 || hi <= lo {
		return 0, 0, fmt.Errorf("rtp port range %q: want LO-HI with 1 <= LO < HI <= 65535", s)
	}
	return lo, hi, nil
}

// Reload picks up settings changed outside the server (the CLI writes them
// to the database): trunks re-register if theirs changed. Calls in progress
// are untouched; everything else is read from the database as it is used.
func (s *Server) Reload() {
	s.trunks.Reload()
	s.refreshTrusted(s.runCtx)
	s.log.Info("settings reloaded")
}
