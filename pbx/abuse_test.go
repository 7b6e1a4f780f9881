package pbx

import (
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/emiago/sipgo/siptest"
)

// fakeClock is a clock the tests move by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func testGuard(cfg AbuseConfig) (*abuseGuard, *fakeClock, *counters) {
	clock := &fakeClock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	c := &counters{}
	return newAbuseGuard(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), c, clock.now), clock, c
}

// abuseStep is one moment of a scenario: after advance, fails failures
// from src, then whether src is blocked.
type abuseStep struct {
	advance     time.Duration
	src         string
	fails       int
	wantBlocked bool
}

func TestAbuseGuardBlocking(t *testing.T) {
	const a, b = "198.51.100.1", "198.51.100.2"
	tests := []struct {
		name        string
		cfg         AbuseConfig
		trusted     []netip.Prefix
		steps       []abuseStep
		wantBlocks  uint64
		wantBlocked []string // Blocked() at the end
	}{
		{name: "below the threshold", steps: []abuseStep{{src: a, fails: 9}}},
		{name: "at the threshold", steps: []abuseStep{{src: a, fails: 9}, {src: a, fails: 1, wantBlocked: true}},
			wantBlocks: 1, wantBlocked: []string{a}},
		{name: "failures outside the window don't add up", steps: []abuseStep{
			{src: a, fails: 9},
			{advance: 61 * time.Second, src: a, fails: 1},
			{advance: time.Second, src: a, fails: 8},
			{advance: time.Second, src: a, fails: 1, wantBlocked: true},
		}, wantBlocks: 1, wantBlocked: []string{a}},
		{name: "spread within the window", steps: []abuseStep{
			{src: a, fails: 5},
			{advance: 59 * time.Second, src: a, fails: 5, wantBlocked: true},
		}, wantBlocks: 1, wantBlocked: []string{a}},
		{name: "a block ends after block-for", steps: []abuseStep{
			{src: a, fails: 10, wantBlocked: true},
			{advance: 14 * time.Minute, src: a, wantBlocked: true},
			{advance: time.Minute, src: a},
			// and counting starts afresh
			{src: a, fails: 9},
		}, wantBlocks: 1},
		{name: "custom threshold and durations", cfg: AbuseConfig{BlockAfter: 3, BlockWindow: 10 * time.Second, BlockFor: time.Minute}, steps: []abuseStep{
			{src: a, fails: 2},
			{advance: 11 * time.Second, src: a, fails: 2},
			{advance: time.Second, src: a, fails: 1, wantBlocked: true},
			{advance: 61 * time.Second, src: a},
		}, wantBlocks: 1},
		{name: "sources are counted apart", steps: []abuseStep{
			{src: a, fails: 6}, {src: b, fails: 6},
			{src: a, fails: 4, wantBlocked: true}, {src: b},
		}, wantBlocks: 1, wantBlocked: []string{a}},
		{name: "allow-listed network never blocked", cfg: AbuseConfig{Allow: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}},
			steps: []abuseStep{{src: a, fails: 100}}},
		{name: "trunk address never blocked", trusted: []netip.Prefix{netip.MustParsePrefix(a + "/32")},
			steps: []abuseStep{{src: a, fails: 100}, {src: b, fails: 10, wantBlocked: true}}, wantBlocks: 1, wantBlocked: []string{b}},
		{name: "blocking turned off", cfg: AbuseConfig{BlockAfter: -1}, steps: []abuseStep{{src: a, fails: 100}}},
		{name: "IPv6 source", steps: []abuseStep{{src: "[2001:db8::1]", fails: 10, wantBlocked: true}},
			wantBlocks: 1, wantBlocked: []string{"2001:db8::1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, clock, c := testGuard(tt.cfg)
			g.setTrusted(tt.trusted)
			for i, s := range tt.steps {
				clock.advance(s.advance)
				for range s.fails {
					g.fail(s.src+":5060", failWrongCredentials)
				}
				// ACK is never rate limited: only a block drops it.
				got := g.admit(s.src+":5060", sip.ACK) == dropBlocked
				if got != s.wantBlocked {
					t.Fatalf("step %d (%s): blocked %v, want %v", i, s.src, got, s.wantBlocked)
				}
			}
			if n := c.sourcesBlocked.Load(); n != tt.wantBlocks {
				t.Errorf("blocks counted %d, want %d", n, tt.wantBlocks)
			}
			var blocked []string
			for _, bs := range g.blockedSources() {
				blocked = append(blocked, bs.Source)
			}
			if len(blocked) != len(tt.wantBlocked) || (len(blocked) > 0 && blocked[0] != tt.wantBlocked[0]) {
				t.Errorf("Blocked() = %v, want %v", blocked, tt.wantBlocked)
			}
		})
	}
}

func TestAbuseGuardBlockedAndUnblock(t *testing.T) {
	g, clock, c := testGuard(AbuseConfig{})
	for range 10 {
		g.fail("203.0.113.9:5070", failUnknownUser)
	}
	for range 3 {
		g.admit("203.0.113.9:5071", sip.REGISTER)
	}
	list := g.blockedSources()
	if len(list) != 1 {
		t.Fatalf("Blocked() = %+v, want one source", list)
	}
	want := BlockedSource{Source: "203.0.113.9", Reason: failUnknownUser, Failures: 10,
		BlockedAt: clock.now(), BlockedUntil: clock.now().Add(DefaultBlockFor), Dropped: 3}
	if list[0] != want {
		t.Errorf("Blocked()[0] = %+v, want %+v", list[0], want)
	}
	if n := c.requestsDropped.Load(); n != 3 {
		t.Errorf("dropped counted %d, want 3", n)
	}

	tests := []struct {
		name, ip string
		want     func(error) bool
	}{
		{"not an address", "nonsense", func(err error) bool { var fe *Invalid; return errors.As(err, &fe) }},
		{"not blocked", "203.0.113.10", func(err error) bool { return errors.Is(err, ErrNotBlocked) }},
		{"blocked", "203.0.113.9", func(err error) bool { return err == nil }},
		{"no longer blocked", "203.0.113.9", func(err error) bool { return errors.Is(err, ErrNotBlocked) }},
	}
	for _, tt := range tests {
		if err := g.unblock(tt.ip); !tt.want(err) {
			t.Errorf("%s: unblock(%q) = %v", tt.name, tt.ip, err)
		}
	}
	if v := g.admit("203.0.113.9:5070", sip.REGISTER); v != admitted {
		t.Errorf("after unblock: verdict %v, want admitted", v)
	}
	if list := g.blockedSources(); len(list) != 0 {
		t.Errorf("after unblock: Blocked() = %+v", list)
	}
	// Counting starts afresh.
	for range 9 {
		g.fail("203.0.113.9:5070", failWrongCredentials)
	}
	if v := g.admit("203.0.113.9:5070", sip.ACK); v != admitted {
		t.Errorf("9 failures after unblock: verdict %v, want admitted", v)
	}
}

// bucketStep: after advance, n requests of method from src, of which
// wantOK are admitted.
type bucketStep struct {
	advance time.Duration
	src     string
	method  sip.RequestMethod
	n       int
	wantOK  int
}

func TestAbuseGuardTokenBucket(t *testing.T) {
	const a, b = "192.0.2.1", "192.0.2.2"
	tests := []struct {
		name  string
		cfg   AbuseConfig
		steps []bucketStep
	}{
		{name: "burst then nothing", cfg: AbuseConfig{Rate: 10, Burst: 5}, steps: []bucketStep{
			{src: a, method: sip.REGISTER, n: 8, wantOK: 5},
		}},
		{name: "refills at the rate", cfg: AbuseConfig{Rate: 10, Burst: 5}, steps: []bucketStep{
			{src: a, method: sip.INVITE, n: 5, wantOK: 5},
			{advance: 100 * time.Millisecond, src: a, method: sip.INVITE, n: 3, wantOK: 1},
			{advance: 250 * time.Millisecond, src: a, method: sip.OPTIONS, n: 3, wantOK: 2},
		}},
		{name: "refill is capped at the burst", cfg: AbuseConfig{Rate: 10, Burst: 5}, steps: []bucketStep{
			{src: a, method: sip.OPTIONS, n: 5, wantOK: 5},
			{advance: time.Hour, src: a, method: sip.OPTIONS, n: 10, wantOK: 5},
		}},
		{name: "one bucket for every method", cfg: AbuseConfig{Rate: 1, Burst: 4}, steps: []bucketStep{
			{src: a, method: sip.REGISTER, n: 2, wantOK: 2},
			{src: a, method: sip.INVITE, n: 1, wantOK: 1},
			{src: a, method: sip.SUBSCRIBE, n: 2, wantOK: 1},
		}},
		{name: "ACK, BYE and CANCEL never limited", cfg: AbuseConfig{Rate: 1, Burst: 1}, steps: []bucketStep{
			{src: a, method: sip.OPTIONS, n: 2, wantOK: 1},
			{src: a, method: sip.ACK, n: 100, wantOK: 100},
			{src: a, method: sip.BYE, n: 100, wantOK: 100},
			{src: a, method: sip.CANCEL, n: 100, wantOK: 100},
		}},
		{name: "sources have their own buckets", cfg: AbuseConfig{Rate: 1, Burst: 3}, steps: []bucketStep{
			{src: a, method: sip.REGISTER, n: 1000, wantOK: 3},
			{src: b, method: sip.REGISTER, n: 3, wantOK: 3},
		}},
		{name: "allow-listed source not limited", cfg: AbuseConfig{Rate: 1, Burst: 1, Allow: []netip.Prefix{netip.MustParsePrefix(a + "/32")}},
			steps: []bucketStep{{src: a, method: sip.REGISTER, n: 1000, wantOK: 1000}}},
		{name: "limit turned off", cfg: AbuseConfig{Rate: -1}, steps: []bucketStep{
			{src: a, method: sip.REGISTER, n: 1000, wantOK: 1000},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, clock, c := testGuard(tt.cfg)
			var limited uint64
			for i, s := range tt.steps {
				clock.advance(s.advance)
				ok := 0
				for range s.n {
					switch g.admit(s.src+":5060", s.method) {
					case admitted:
						ok++
					case dropFlood:
						limited++
					case dropBlocked:
						t.Fatalf("step %d: blocked by rate alone", i)
					}
				}
				if ok != s.wantOK {
					t.Fatalf("step %d: %d of %d %s admitted, want %d", i, ok, s.n, s.method, s.wantOK)
				}
			}
			if n := c.requestsLimited.Load(); n != limited {
				t.Errorf("limited counted %d, want %d", n, limited)
			}
		})
	}
}

func TestAbuseGuardEviction(t *testing.T) {
	src := func(i int) string { return "10.9.0." + strconv.Itoa(i) + ":5060" }
	tests := []struct {
		name    string
		max     int
		touch   []int // sources seen, in order (1 blocks first)
		wantA   bool  // source 1 still blocked at the end
		tracked int
	}{
		{name: "room for all", max: 4, touch: []int{2, 3, 4}, wantA: true, tracked: 4},
		{name: "oldest goes", max: 3, touch: []int{2, 3, 4}, wantA: false, tracked: 3},
		{name: "recently seen stays", max: 3, touch: []int{2, 3, 1, 4}, wantA: true, tracked: 3},
		{name: "a flood of sources stays bounded", max: 50, touch: seq(2, 250), wantA: false, tracked: 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, _, _ := testGuard(AbuseConfig{MaxSources: tt.max})
			for range 10 {
				g.fail(src(1), failWrongCredentials)
			}
			for _, i := range tt.touch {
				if i == 1 {
					g.admit(src(1), sip.ACK)
				} else {
					g.fail(src(i), failMalformed)
				}
			}
			if got := len(g.blockedSources()) == 1; got != tt.wantA {
				t.Errorf("source 1 blocked %v, want %v", got, tt.wantA)
			}
			if n := g.tracked(); n != tt.tracked {
				t.Errorf("tracking %d sources, want %d", n, tt.tracked)
			}
		})
	}
}

func seq(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func TestAbuseGuardSweep(t *testing.T) {
	g, clock, _ := testGuard(AbuseConfig{})
	for range 10 {
		g.fail("10.1.1.1:5060", failWrongCredentials)
	}
	g.admit("10.1.1.2:5060", sip.OPTIONS)
	clock.advance(2 * time.Minute)
	g.sweep()
	if n := g.tracked(); n != 1 {
		t.Fatalf("after 2 minutes: tracking %d sources, want the blocked one only", n)
	}
	clock.advance(DefaultBlockFor)
	g.sweep()
	if n := g.tracked(); n != 0 {
		t.Fatalf("after the block: tracking %d sources, want none", n)
	}
}

func TestParseAllowList(t *testing.T) {
	tests := []struct {
		in      []string
		want    []string
		wantErr bool
	}{
		{in: []string{"10.0.0.0/8"}, want: []string{"10.0.0.0/8"}},
		{in: []string{"192.0.2.7, 192.0.2.0/28", "::1"}, want: []string{"192.0.2.7/32", "192.0.2.0/28", "::1/128"}},
		{in: []string{"192.0.2.9/24"}, want: []string{"192.0.2.0/24"}},
		{in: []string{"192.0.2.7:5060"}, want: []string{"192.0.2.7/32"}},
		{in: []string{"::ffff:10.0.0.0/104"}, want: []string{"10.0.0.0/8"}},
		{in: []string{""}, want: nil},
		{in: []string{"office"}, wantErr: true},
		{in: []string{"10.0.0.0/33"}, wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseAllowList(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseAllowList(%q) error %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		var s []string
		for _, p := range got {
			s = append(s, p.String())
		}
		if len(s) != len(tt.want) {
			t.Errorf("ParseAllowList(%q) = %v, want %v", tt.in, s, tt.want)
			continue
		}
		for i := range s {
			if s[i] != tt.want[i] {
				t.Errorf("ParseAllowList(%q) = %v, want %v", tt.in, s, tt.want)
			}
		}
	}
}

// request builds a valid request of method from source over transport.
func request(method sip.RequestMethod, source, transport string) *sip.Request {
	req := sip.NewRequest(method, sip.Uri{Scheme: "sip", User: "101", Host: "127.0.0.1", Port: 5060})
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: transport, Host: "192.0.2.1", Port: 5060, Params: sip.NewParams()}
	via.Params.Add("branch", sip.GenerateBranch())
	req.AppendHeader(via)
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "101", Host: "127.0.0.1"}, Params: sip.NewParams()}
	from.Params.Add("tag", "abc")
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: "101", Host: "127.0.0.1"}, Params: sip.NewParams()})
	callID := sip.CallIDHeader("test-call-id")
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: method})
	req.SetTransport(transport)
	req.SetSource(source)
	return req
}

func TestAbuseMiddleware(t *testing.T) {
	g, _, _ := testGuard(AbuseConfig{BlockAfter: 2, Rate: 1, Burst: 2})
	handled := 0
	h := g.middleware(func(req *sip.Request, tx sip.ServerTransaction) {
		handled++
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
	})
	send := func(req *sip.Request) []*sip.Response {
		tx := siptest.NewServerTxRecorder(req)
		h(req, tx)
		return tx.Result()
	}
	tests := []struct {
		name        string
		req         *sip.Request
		wantStatus  int // 0: no answer
		wantHandled int
	}{
		{"admitted", request(sip.OPTIONS, "192.0.2.1:5060", "UDP"), 200, 1},
		{"admitted within the burst", request(sip.OPTIONS, "192.0.2.1:5060", "UDP"), 200, 2},
		{"over the rate over UDP: dropped", request(sip.OPTIONS, "192.0.2.1:5060", "UDP"), 0, 2},
		{"over the rate over TCP: 503", request(sip.OPTIONS, "192.0.2.1:5061", "TCP"), 503, 2},
		{"another source", request(sip.REGISTER, "192.0.2.2:5060", "UDP"), 200, 3},
	}
	for _, tt := range tests {
		res := send(tt.req)
		switch {
		case tt.wantStatus == 0 && len(res) != 0:
			t.Errorf("%s: answered %d, want no answer", tt.name, res[0].StatusCode)
		case tt.wantStatus != 0 && (len(res) != 1 || res[0].StatusCode != tt.wantStatus):
			t.Errorf("%s: answers %v, want %d", tt.name, res, tt.wantStatus)
		}
		if handled != tt.wantHandled {
			t.Errorf("%s: handler ran %d times, want %d", tt.name, handled, tt.wantHandled)
		}
	}
	if res := send(request(sip.OPTIONS, "192.0.2.1:5061", "TCP")); len(res) == 1 && res[0].GetHeader("Retry-After") == nil {
		t.Errorf("503 without Retry-After")
	}

	// Malformed requests count against their source: two block it.
	for range 2 {
		bad := request(sip.REGISTER, "192.0.2.3:5060", "UDP")
		bad.RemoveHeader("Call-ID")
		send(bad)
	}
	if res := send(request(sip.BYE, "192.0.2.3:5060", "UDP")); len(res) != 0 {
		t.Errorf("blocked source answered: %v", res)
	}
	if list := g.blockedSources(); len(list) != 1 || list[0].Reason != failMalformed {
		t.Errorf("Blocked() = %+v, want 192.0.2.3 for malformed requests", list)
	}
}
