package pbx

// A per-source guard against SIP scanners, password guessing and floods:
// fail2ban built in. Failed digest answers, requests for unknown users and
// malformed requests are counted per source IP; a source with too many in a
// window is blocked for a while, and its requests are then dropped without
// an answer (a scanner learns nothing). Every source also has a token bucket
// that bounds how fast it may send. Allow-listed sources (the office network,
// the trunks' providers) are never blocked nor limited.

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/frontdesk-pbx/frontdesk/store"
)

// Abuse guard defaults.
const (
	DefaultBlockAfter  = 10
	DefaultBlockWindow = time.Minute
	DefaultBlockFor    = 15 * time.Minute
	DefaultRate        = 20.0 // requests per second per source
	DefaultBurst       = 50
	DefaultMaxSources  = 100_000
)

// AbuseConfig sets the per-source guard. Zero values take the defaults.
type AbuseConfig struct {
	// BlockAfter failures within BlockWindow block a source for BlockFor.
	// Negative: never block.
	BlockAfter  int
	BlockWindow time.Duration
	BlockFor    time.Duration
	// Allow lists networks that are never blocked nor rate limited (the
	// trunks' providers are added on their own).
	Allow []netip.Prefix
	// Rate (requests per second) and Burst bound each source's requests.
	// Negative Rate: no limit.
	Rate  float64
	Burst int
	// MaxSources caps the sources tracked; the least recently seen go first.
	MaxSources int
}

func (c AbuseConfig) withDefaults() AbuseConfig {
	if c.BlockAfter == 0 {
		c.BlockAfter = DefaultBlockAfter
	}
	if c.BlockWindow <= 0 {
		c.BlockWindow = DefaultBlockWindow
	}
	if c.BlockFor <= 0 {
		c.BlockFor = DefaultBlockFor
	}
	if c.Rate == 0 {
		c.Rate = DefaultRate
	}
	if c.Burst <= 0 {
		c.Burst = DefaultBurst
	}
	if c.MaxSources <= 0 {
		c.MaxSources = DefaultMaxSources
	}
	return c
}

// ParseAllowList reads addresses and networks ("10.1.0.0/16", "192.0.2.7")
// as given to --allow, each item possibly a comma-separated list.
func ParseAllowList(items []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range items {
		for _, s := range strings.Split(item, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			p, ok := parsePrefix(s)
			if !ok {
				return nil, fmt.Errorf("allow %q: want an IP address or a network (CIDR)", s)
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// parsePrefix reads "IP", "IP:port" (the port is ignored) or "CIDR".
func parsePrefix(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		bits := p.Bits()
		if p.Addr().Is4In6() {
			bits = max(bits-96, 0)
		}
		return netip.PrefixFrom(p.Addr().Unmap(), bits).Masked(), true
	}
	if ip, err := netip.ParseAddr(s); err == nil {
		ip = ip.Unmap()
		return netip.PrefixFrom(ip, ip.BitLen()), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		ip := ap.Addr().Unmap()
		return netip.PrefixFrom(ip, ip.BitLen()), true
	}
	return netip.Prefix{}, false
}

// BlockedSource is a source whose requests are being dropped.
type BlockedSource struct {
	Source       string    `json:"source"`
	Reason       string    `json:"reason"`
	Failures     int       `json:"failures"`
	BlockedAt    time.Time `json:"blocked_at"`
	BlockedUntil time.Time `json:"blocked_until"`
	Dropped      uint64    `json:"dropped"` // requests dropped since
}

// ErrNotBlocked is Unblock's answer for a source that isn't blocked.
var ErrNotBlocked = errors.New("that source is not blocked")

// Reasons a request counts against its source.
const (
	failWrongCredentials = "wrong credentials"
	failUnknownUser      = "unknown user"
	failMalformed        = "malformed request"
)

// verdict is what admit decides for a request.
type verdict int

const (
	admitted verdict = iota
	dropBlocked
	dropFlood
)

// sourceState is what the guard knows of one source address.
type sourceState struct {
	addr        netip.Addr
	failures    int       // in the current window
	windowStart time.Time // of the first failure counted
	reason      string    // of the last failure

	blockedAt, blockedUntil time.Time // zero unless blocked
	dropped                 uint64

	tokens   float64
	refilled time.Time
}

func (st *sourceState) blocked(now time.Time) bool {
	return !st.blockedUntil.IsZero() && now.Before(st.blockedUntil)
}

// abuseGuard keeps the per-source state. Its methods accept a nil guard
// (tests build parts alone): nothing is counted and everything admitted.
type abuseGuard struct {
	cfg      AbuseConfig
	now      func() time.Time
	log      *slog.Logger
	counters *counters
	// trusted are the trunks' addresses, refreshed from the database.
	trusted atomic.Pointer[[]netip.Prefix]

	mu      sync.Mutex
	sources map[netip.Addr]*list.Element // of *sourceState
	lru     *list.List                   // most recently seen first
}

func newAbuseGuard(cfg AbuseConfig, log *slog.Logger, c *counters, now func() time.Time) *abuseGuard {
	if log == nil {
		log = slog.Default()
	}
	if now == nil {
		now = time.Now
	}
	return &abuseGuard{cfg: cfg.withDefaults(), now: now, log: log, counters: c,
		sources: map[netip.Addr]*list.Element{}, lru: list.New()}
}

// sourceAddr is the IP of a request's source ("ip:port").
func sourceAddr(source string) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(source)
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

// allowed tells whether an address is never blocked nor limited.
func (g *abuseGuard) allowed(ip netip.Addr) bool {
	for _, p := range g.cfg.Allow {
		if p.Contains(ip) {
			return true
		}
	}
	if t := g.trusted.Load(); t != nil {
		for _, p := range *t {
			if p.Contains(ip) {
				return true
			}
		}
	}
	return false
}

// setTrusted replaces the trunks' addresses.
func (g *abuseGuard) setTrusted(p []netip.Prefix) {
	if g != nil {
		g.trusted.Store(&p)
	}
}

// state finds or adds a source, marking it most recently seen; the least
// recently seen source goes when the table is full. Called with g.mu held.
func (g *abuseGuard) state(ip netip.Addr, now time.Time) *sourceState {
	if e, ok := g.sources[ip]; ok {
		g.lru.MoveToFront(e)
		return e.Value.(*sourceState)
	}
	for g.lru.Len() >= g.cfg.MaxSources {
		old := g.lru.Back()
		st := old.Value.(*sourceState)
		g.lru.Remove(old)
		delete(g.sources, st.addr)
	}
	st := &sourceState{addr: ip, tokens: float64(g.cfg.Burst), refilled: now}
	g.sources[ip] = g.lru.PushFront(st)
	return st
}

// unblockExpired ends a block whose time is up. Called with g.mu held.
func (g *abuseGuard) unblockExpired(st *sourceState, now time.Time) {
	if !st.blockedUntil.IsZero() && !now.Before(st.blockedUntil) {
		g.log.Info("SIP source unblocked", "source", st.addr.String(), "why", "block expired", "dropped", st.dropped)
		g.reset(st)
	}
}

func (g *abuseGuard) reset(st *sourceState) {
	st.blockedAt, st.blockedUntil = time.Time{}, time.Time{}
	st.failures, st.windowStart, st.reason, st.dropped = 0, time.Time{}, "", 0
}

// rateLimited: in-dialog endings and acknowledgements are never limited
// (dropping them would leave calls hanging), everything else is.
func rateLimited(m sip.RequestMethod) bool {
	return m != sip.ACK && m != sip.BYE && m != sip.CANCEL
}

// admit decides whether a request from source may be handled.
func (g *abuseGuard) admit(source string, method sip.RequestMethod) verdict {
	if g == nil {
		return admitted
	}
	ip, ok := sourceAddr(source)
	if !ok || g.allowed(ip) {
		return admitted
	}
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.state(ip, now)
	g.unblockExpired(st, now)
	if st.blocked(now) {
		st.dropped++
		g.counters.dropped()
		return dropBlocked
	}
	if g.cfg.Rate < 0 || !rateLimited(method) {
		return admitted
	}
	if elapsed := now.Sub(st.refilled); elapsed > 0 {
		st.tokens = min(float64(g.cfg.Burst), st.tokens+elapsed.Seconds()*g.cfg.Rate)
	}
	st.refilled = now
	if st.tokens < 1 {
		g.counters.limited()
		return dropFlood
	}
	st.tokens--
	return admitted
}

// fail counts a failure against source; past the threshold it is blocked.
func (g *abuseGuard) fail(source, reason string) {
	if g == nil || g.cfg.BlockAfter < 0 {
		return
	}
	ip, ok := sourceAddr(source)
	if !ok || g.allowed(ip) {
		return
	}
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.state(ip, now)
	g.unblockExpired(st, now)
	if st.blocked(now) {
		return
	}
	if st.failures == 0 || now.Sub(st.windowStart) > g.cfg.BlockWindow {
		st.failures, st.windowStart = 0, now
	}
	st.failures++
	st.reason = reason
	if st.failures < g.cfg.BlockAfter {
		return
	}
	st.blockedAt, st.blockedUntil = now, now.Add(g.cfg.BlockFor)
	g.counters.block()
	g.log.Info("SIP source blocked", "source", ip.String(), "reason", reason, "failures", st.failures,
		"window", g.cfg.BlockWindow, "until", st.blockedUntil.Format(time.RFC3339))
}

// tracks tells whether failures from source would count (so callers can
// skip work that only serves counting).
func (g *abuseGuard) tracks(source string) bool {
	if g == nil || g.cfg.BlockAfter < 0 {
		return false
	}
	ip, ok := sourceAddr(source)
	return ok && !g.allowed(ip)
}

// blockedSources lists the sources blocked now, ending blocks whose time is up.
func (g *abuseGuard) blockedSources() []BlockedSource {
	out := []BlockedSource{}
	if g == nil {
		return out
	}
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	for e := g.lru.Front(); e != nil; e = e.Next() {
		st := e.Value.(*sourceState)
		g.unblockExpired(st, now)
		if st.blocked(now) {
			out = append(out, BlockedSource{Source: st.addr.String(), Reason: st.reason, Failures: st.failures,
				BlockedAt: st.blockedAt, BlockedUntil: st.blockedUntil, Dropped: st.dropped})
		}
	}
	return out
}

// unblock lifts a block at once.
func (g *abuseGuard) unblock(ip string) error {
	addr, err := netip.ParseAddr(strings.TrimSpace(ip))
	if err != nil {
		return InvalidField("ip", "%q is not an IP address", ip)
	}
	addr = addr.Unmap()
	if g == nil {
		return ErrNotBlocked
	}
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	e, ok := g.sources[addr]
	if !ok {
		return ErrNotBlocked
	}
	st := e.Value.(*sourceState)
	g.unblockExpired(st, now)
	if !st.blocked(now) {
		return ErrNotBlocked
	}
	g.log.Info("SIP source unblocked", "source", addr.String(), "why", "unblocked by an admin", "dropped", st.dropped)
	g.reset(st)
	return nil
}

// sweep ends expired blocks (so each is logged near its time) and forgets
// sources idle long enough that they hold nothing worth keeping.
func (g *abuseGuard) sweep() {
	if g == nil {
		return
	}
	now := g.now()
	idle := g.cfg.BlockWindow
	if g.cfg.Rate > 0 {
		idle = max(idle, time.Duration(float64(g.cfg.Burst)/g.cfg.Rate*float64(time.Second)))
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for e := g.lru.Back(); e != nil; {
		prev := e.Prev()
		st := e.Value.(*sourceState)
		g.unblockExpired(st, now)
		if !st.blocked(now) && now.Sub(st.refilled) > idle && now.Sub(st.windowStart) > g.cfg.BlockWindow {
			g.lru.Remove(e)
			delete(g.sources, st.addr)
		}
		e = prev
	}
}

// tracked is how many sources the guard holds (tests).
func (g *abuseGuard) tracked() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.lru.Len()
}

// middleware drops requests from blocked sources without an answer, and
// those over the source's rate: silently over UDP (the sender retransmits
// later), with 503 and Retry-After over connections (which don't). It counts
// malformed requests against their source before guard answers them.
func (g *abuseGuard) middleware(next sipgo.RequestHandler) sipgo.RequestHandler {
	if g == nil {
		return next
	}
	return func(req *sip.Request, tx sip.ServerTransaction) {
		switch g.admit(req.Source(), req.Method) {
		case dropBlocked:
			return
		case dropFlood:
			if !req.IsAck() && !strings.EqualFold(req.Transport(), "udp") {
				res := sip.NewResponseFromRequest(req, sip.StatusServiceUnavailable, "Too Many Requests", nil)
				res.AppendHeader(sip.NewHeader("Retry-After", "5"))
				_ = tx.Respond(res)
			}
			return
		}
		if checkRequest(req) != nil {
			g.fail(req.Source(), failMalformed)
		}
		next(req, tx)
	}
}

// trustedAddresses are the addresses trunks' calls come from: each
// registration trunk's provider host (resolved) and each peer trunk's
// allowed addresses.
func trustedAddresses(ctx context.Context, st *store.Store, log *slog.Logger) []netip.Prefix {
	trunks, err := st.Trunks(ctx)
	if err != nil {
		log.Warn("trunk addresses for the allow-list", "error", err)
		return nil
	}
	var out []netip.Prefix
	for _, t := range trunks {
		if t.Mode == "peer" {
			for _, a := range strings.Split(t.AllowFrom, ",") {
				if p, ok := parsePrefix(strings.TrimSpace(a)); ok {
					out = append(out, p)
				}
			}
			continue
		}
		host, _ := splitHostPort(t.Host)
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			log.Debug("resolve trunk host for the allow-list", "trunk", t.Name, "host", host, "error", err)
			continue
		}
		for _, ip := range ips {
			ip = ip.Unmap()
			out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
		}
	}
	return out
}

// refreshTrusted reloads the trunks' addresses into the guard.
func (s *Server) refreshTrusted(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s.abuse.setTrusted(trustedAddresses(ctx, s.store, s.log))
}

// guardAbuse keeps the guard current while the server runs: the trunks'
// addresses every minute, expired blocks every few seconds.
func (s *Server) guardAbuse(ctx context.Context) {
	sweep := time.NewTicker(5 * time.Second)
	defer sweep.Stop()
	trunks := time.NewTicker(time.Minute)
	defer trunks.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sweep.C:
			s.abuse.sweep()
		case <-trunks.C:
			s.refreshTrusted(ctx)
		}
	}
}

// Blocked lists the SIP sources whose requests are being dropped.
func (s *Server) Blocked() []BlockedSource { return s.abuse.blockedSources() }

// Unblock lifts the block on a source address at once (ErrNotBlocked when
// it isn't blocked, an *Invalid when ip isn't an address).
func (s *Server) Unblock(ip string) error { return s.abuse.unblock(ip) }
