package trunk

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/frontdesk-pbx/frontdesk/store"
)

// The tests run a fake provider (a registrar built on sipgo that challenges
// with 401 and checks the MD5 digest) on 127.0.0.1, and a Keeper with short
// timers registering to it.

const (
	providerRealm = "provider.test"
	trunkUser     = "4420000001"
	trunkPass     = "Tr-unk-s3cret"
)

// providerRequest is one REGISTER the fake provider received.
type providerRequest struct {
	at      time.Time
	auth    string // "none", "good" or "bad"
	expires int    // the Expires header; -1 when absent
	callID  string
	cseq    uint32
	user    string // To user
	contact string
	source  string // where it came from
}

// provider is a fake SIP provider's registrar.
type provider struct {
	addr  string
	port  int
	grant atomic.Int32 // seconds granted in the 200

	mu     sync.Mutex
	nonces map[string]bool
	reqs   []providerRequest
}

// startProvider listens on 127.0.0.1:port (UDP and TCP; 0 picks a port).
func startProvider(t *testing.T, port int, grant int) *provider {
	t.Helper()
	udp, err := net.ListenPacket("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("provider: %v", err)
	}
	port = udp.LocalAddr().(*net.UDPAddr).Port
	tcp, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		udp.Close()
		t.Fatalf("provider: %v", err)
	}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("fake-provider"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	p := &provider{addr: udp.LocalAddr().String(), port: port, nonces: map[string]bool{}}
	p.grant.Store(int32(grant))
	srv.OnRegister(p.handle)
	go srv.ServeUDP(udp)
	go srv.ServeTCP(tcp)
	t.Cleanup(func() {
		ua.Close()
		udp.Close()
		tcp.Close()
	})
	return p
}

func (p *provider) handle(req *sip.Request, tx sip.ServerTransaction) {
	r := providerRequest{at: time.Now(), auth: "none", expires: -1, callID: req.CallID().Value(), cseq: req.CSeq().SeqNo,
		user: req.To().Address.User, source: req.Source()}
	if h := req.GetHeader("Expires"); h != nil {
		r.expires, _ = strconv.Atoi(h.Value())
	}
	if c := req.Contact(); c != nil {
		r.contact = c.Address.String()
	}
	var res *sip.Response
	if h := req.GetHeader("Authorization"); h == nil {
		nonce := randomHex(8)
		p.mu.Lock()
		p.nonces[nonce] = true
		p.mu.Unlock()
		res = sip.NewResponseFromRequest(req, sip.StatusUnauthorized, "Unauthorized", nil)
		res.AppendHeader(sip.NewHeader("WWW-Authenticate", fmt.Sprintf(`Digest realm="%s", nonce="%s", algorithm=MD5, qop="auth"`, providerRealm, nonce)))
	} else if p.verify(req, h.Value()) {
		r.auth = "good"
		res = sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
		grant := int(p.grant.Load())
		if r.expires == 0 {
			grant = 0
		}
		if r.contact != "" {
			res.AppendHeader(sip.NewHeader("Contact", "<"+r.contact+">;expires="+strconv.Itoa(grant)))
		}
	} else {
		r.auth = "bad"
		res = sip.NewResponseFromRequest(req, sip.StatusForbidden, "Forbidden", nil)
	}
	p.mu.Lock()
	p.reqs = append(p.reqs, r)
	p.mu.Unlock()
	_ = tx.Respond(res)
}

// verify checks an MD5 digest answer against the trunk's credentials.
func (p *provider) verify(req *sip.Request, header string) bool {
	cred, err := digest.ParseCredentials(header)
	if err != nil {
		return false
	}
	p.mu.Lock()
	known := p.nonces[cred.Nonce]
	p.mu.Unlock()
	if !known || cred.Username != trunkUser || cred.Realm != providerRealm || cred.URI != req.Recipient.String() {
		return false
	}
	want, err := digest.Digest(&digest.Challenge{Realm: providerRealm, Nonce: cred.Nonce, Algorithm: "MD5", QOP: []string{"auth"}},
		digest.Options{Method: "REGISTER", URI: cred.URI, Username: trunkUser, Password: trunkPass, Cnonce: cred.Cnonce, Count: cred.Nc})
	return err == nil && want.Response == cred.Response
}

// requests returns the REGISTERs received so far with the given auth.
func (p *provider) requests(auth string) []providerRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []providerRequest
	for _, r := range p.reqs {
		if auth == "" || r.auth == auth {
			out = append(out, r)
		}
	}
	return out
}

// testWriter sends log lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// startKeeper runs a Keeper with short timers on a fresh store.
func startKeeper(t *testing.T, tune func(*Keeper)) (*Keeper, *store.Store) {
	t.Helper()
	st, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Like the PBX: a SIP server listening on UDP and TCP, and a client bound
	// to its address, so REGISTERs leave from the SIP port.
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("frontdesk-test"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sipAddr := udp.LocalAddr().String()
	tcp, err := net.Listen("tcp4", sipAddr)
	if err != nil {
		t.Fatal(err)
	}
	go srv.ServeUDP(udp)
	go srv.ServeTCP(tcp)
	ready, cancelReady := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelReady()
	if err := AwaitListener(ready, ua.TransportLayer(), sipAddr); err != nil {
		t.Fatal(err)
	}
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientNAT(), sipgo.WithClientConnectionAddr(sipAddr))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	k := New(st, client, "127.0.0.1", udp.LocalAddr().(*net.UDPAddr).Port, log, time.Now)
	k.Poll = 100 * time.Millisecond
	k.BackoffMin = 200 * time.Millisecond
	k.BackoffMax = 2 * time.Second
	k.Timeout = time.Second
	k.UnregisterTimeout = time.Second
	if tune != nil {
		tune(k)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		k.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		ua.Close()
		udp.Close()
		tcp.Close()
		st.Close()
	})
	return k, st
}

// addTrunk stores a checked trunk.
func addTrunk(t *testing.T, st *store.Store, tr store.Trunk) {
	t.Helper()
	tr, err := Check(tr)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SaveTrunk(context.Background(), tr, true); err != nil {
		t.Fatal(err)
	}
}

func registerTrunk(name string, p *provider, password string) store.Trunk {
	return store.Trunk{Name: name, Mode: ModeRegister, Host: p.addr, Username: trunkUser, Password: password, Expires: 120}
}

// status returns one trunk's status, ok false when the Keeper has none.
func status(k *Keeper, name string) (Status, bool) {
	for _, s := range k.Status() {
		if s.Name == name {
			return s, true
		}
	}
	return Status{}, false
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitState(t *testing.T, k *Keeper, name, state string, timeout time.Duration) Status {
	t.Helper()
	var s Status
	waitFor(t, timeout, "trunk "+name+" "+state, func() bool {
		var ok bool
		s, ok = status(k, name)
		return ok && s.State == state
	})
	return s
}

// TestRegistersWithAuth registers over UDP and TCP through the digest
// challenge and checks the REGISTER and the status.
func TestRegistersWithAuth(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			p := startProvider(t, 0, 60)
			k, st := startKeeper(t, nil)
			tr := registerTrunk("itsp", p, trunkPass)
			tr.Transport = transport
			addTrunk(t, st, tr)
			s := waitState(t, k, "itsp", StateRegistered, 5*time.Second)
			if s.LastError != "" || s.Attempts != 0 || s.Mode != ModeRegister || s.Host != p.addr {
				t.Errorf("status %+v", s)
			}
			if left := time.Until(s.Expires); left < 55*time.Second || left > 61*time.Second {
				t.Errorf("expires in %v, want the 60 s the provider granted", left)
			}
			// Refresh at 80 % of 60 s or 30 s before expiry: 30 s.
			if next := time.Until(s.NextAttempt); next < 25*time.Second || next > 31*time.Second {
				t.Errorf("next attempt in %v, want about 30 s", next)
			}
			reqs := p.requests("")
			if len(reqs) != 2 || reqs[0].auth != "none" || reqs[1].auth != "good" {
				t.Fatalf("provider saw %+v, want a REGISTER without and one with good credentials", reqs)
			}
			r := reqs[1]
			wantContact := fmt.Sprintf("sip:%s@127.0.0.1:%d", trunkUser, k.contactPort)
			if transport == "tcp" {
				wantContact += ";transport=tcp"
			}
			if r.user != trunkUser || r.expires != 120 || r.contact != wantContact || r.callID != reqs[0].callID || r.cseq != reqs[0].cseq+1 {
				t.Errorf("REGISTER %+v: want To user %s, Expires 120, Contact %s, the first one's Call-ID and the next CSeq", r, trunkUser, wantContact)
			}
			// Over UDP the REGISTER leaves from the SIP port (NAT pinholes and
			// providers that answer to the Contact port need it); TCP can't
			// dial from a port its listener holds, so only the address is kept.
			sipPort := fmt.Sprintf("127.0.0.1:%d", k.contactPort)
			if (transport == "udp") != (r.source == sipPort) || !strings.HasPrefix(r.source, "127.0.0.1:") {
				t.Errorf("%s REGISTER came from %s; the SIP port is %s", transport, r.source, sipPort)
			}
		})
	}
}

// TestReregistersBeforeExpiry grants 3 s and counts the refreshes: each
// comes after half the time and before the binding lapses, on the same
// Call-ID with a higher CSeq.
func TestReregistersBeforeExpiry(t *testing.T) {
	p := startProvider(t, 0, 3)
	k, st := startKeeper(t, nil)
	addTrunk(t, st, registerTrunk("itsp", p, trunkPass))
	waitFor(t, 9*time.Second, "4 registrations", func() bool { return len(p.requests("good")) >= 4 })
	good := p.requests("good")
	for i := 1; i < len(good); i++ {
		gap := good[i].at.Sub(good[i-1].at)
		if gap < 1300*time.Millisecond || gap > 2900*time.Millisecond {
			t.Errorf("refresh %d came %v after the previous registration; want 1.5 s (half of the 3 s granted), before expiry", i, gap)
		}
		if good[i].callID != good[0].callID || good[i].cseq <= good[i-1].cseq {
			t.Errorf("refresh %d: Call-ID %s CSeq %d after %s CSeq %d: want the same Call-ID and a higher CSeq",
				i, good[i].callID, good[i].cseq, good[i-1].callID, good[i-1].cseq)
		}
	}
	if s, _ := status(k, "itsp"); s.State != StateRegistered {
		t.Errorf("status %+v, want registered", s)
	}
}

// TestWrongPasswordBacksOff: the provider answers 403, the status says so,
// attempts come further and further apart, and a corrected password
// registers.
func TestWrongPasswordBacksOff(t *testing.T) {
	p := startProvider(t, 0, 60)
	k, st := startKeeper(t, nil)
	addTrunk(t, st, registerTrunk("itsp", p, "not-the-password"))
	waitFor(t, 8*time.Second, "5 attempts", func() bool { return len(p.requests("bad")) >= 5 })
	s := waitState(t, k, "itsp", StateFailed, time.Second)
	if !strings.Contains(s.LastError, "refused the credentials of "+trunkUser) || !strings.Contains(s.LastError, "403 Forbidden") {
		t.Errorf("last error %q: want it to say the provider refused the credentials (403)", s.LastError)
	}
	if s.Attempts < 5 || !s.NextAttempt.After(time.Now().Add(-100*time.Millisecond)) || !s.Expires.IsZero() {
		t.Errorf("status %+v: want >= 5 attempts, the next one ahead, no expiry", s)
	}
	bad := p.requests("bad")
	var gaps []time.Duration
	for i := 1; i < len(bad); i++ {
		gaps = append(gaps, bad[i].at.Sub(bad[i-1].at))
	}
	t.Logf("gaps between attempts: %v", gaps)
	// 200 ms doubling (±10 %): 0.2, 0.4, 0.8, 1.6 s, up to the 2 s cap. (A
	// first attempt lost to the transport shifts the run by one step, so a
	// gap at the cap needn't double.)
	for i := 1; i < 4; i++ {
		if float64(gaps[i]) < 1.4*float64(gaps[i-1]) && gaps[i] < 1800*time.Millisecond {
			t.Errorf("attempt gaps %v: want each about twice the one before", gaps)
			break
		}
	}
	if gaps[0] < 150*time.Millisecond {
		t.Errorf("first retry after %v, want about the 200 ms base backoff", gaps[0])
	}

	addTrunk(t, st, registerTrunk("itsp", p, trunkPass))
	s = waitState(t, k, "itsp", StateRegistered, 5*time.Second)
	if s.LastError != "" || s.Attempts != 0 {
		t.Errorf("status after fixing the password %+v", s)
	}
}

// TestProviderDownThenUp: nothing listens at the provider's address, the
// Keeper retries with backoff, then the provider starts and it registers.
func TestProviderDownThenUp(t *testing.T) {
	probe, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := probe.LocalAddr().(*net.UDPAddr).Port
	probe.Close()
	k, st := startKeeper(t, func(k *Keeper) { k.Timeout = 400 * time.Millisecond })
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	addTrunk(t, st, store.Trunk{Name: "itsp", Mode: ModeRegister, Host: addr, Username: trunkUser, Password: trunkPass})
	waitFor(t, 8*time.Second, "3 failed attempts", func() bool {
		s, _ := status(k, "itsp")
		return s.State == StateFailed && s.Attempts >= 3
	})
	s, _ := status(k, "itsp")
	if s.LastError != "no answer from "+addr+" over udp" {
		t.Errorf("last error %q, want no answer", s.LastError)
	}
	if why, down := k.Unreachable("itsp"); !s.Unreachable || !down || why != s.LastError {
		t.Errorf("status unreachable %v, Unreachable = %q, %v: want the trunk unreachable for its last error", s.Unreachable, why, down)
	}
	p := startProvider(t, port, 60)
	s = waitState(t, k, "itsp", StateRegistered, 6*time.Second)
	if n := len(p.requests("good")); n != 1 {
		t.Errorf("provider saw %d good REGISTERs, want 1", n)
	}
	if _, down := k.Unreachable("itsp"); down || s.Unreachable {
		t.Errorf("registered again but still unreachable")
	}
}

// TestTCPRefusedIsUnreachable: a TCP trunk whose provider refuses the
// connection failed without an answer, so it is unreachable; a provider
// answering 403 is not.
func TestTCPRefusedIsUnreachable(t *testing.T) {
	probe, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := probe.Addr().String()
	probe.Close()
	p := startProvider(t, 0, 60)
	k, st := startKeeper(t, nil)
	addTrunk(t, st, store.Trunk{Name: "gone", Mode: ModeRegister, Host: addr, Transport: "tcp", Username: trunkUser, Password: trunkPass})
	addTrunk(t, st, registerTrunk("refusing", p, "not-the-password"))
	gone := waitState(t, k, "gone", StateFailed, 5*time.Second)
	if !strings.HasPrefix(gone.LastError, "send REGISTER to "+addr) || !gone.Unreachable {
		t.Errorf("status %+v: want a send error, unreachable", gone)
	}
	refusing := waitState(t, k, "refusing", StateFailed, 5*time.Second)
	if refusing.Unreachable {
		t.Errorf("status %+v: a provider answering 403 is reachable", refusing)
	}
	if _, down := k.Unreachable("refusing"); down {
		t.Errorf("Unreachable(refusing) = true, want false")
	}
}

// TestUnreachable: the outcomes of a trunk's REGISTERs, in order, and
// whether calls through it are then to be refused.
func TestUnreachable(t *testing.T) {
	noAnswer := &failure{msg: "no answer from 192.0.2.1 over udp", unanswered: true}
	sendErr := &failure{msg: "send REGISTER to 192.0.2.1:5060: dial tcp: connection refused", unanswered: true}
	refused := &failure{msg: "192.0.2.1 answered 503 Service Unavailable"}
	badAuth := &failure{msg: "192.0.2.1 refused the credentials of 1001: 403 Forbidden (wrong username or password?)"}
	ok := error(nil)
	tests := []struct {
		name     string
		mode     string
		outcomes []error // nil: registered
		want     bool
	}{
		{"peer", ModePeer, nil, false},
		{"first REGISTER under way", ModeRegister, nil, false},
		{"registered", ModeRegister, []error{ok}, false},
		{"no answer", ModeRegister, []error{noAnswer}, true},
		{"registered, then no answer", ModeRegister, []error{ok, noAnswer}, true},
		{"transport error", ModeRegister, []error{sendErr}, true},
		{"no answer, then registered again", ModeRegister, []error{noAnswer, noAnswer, ok}, false},
		{"provider answers 503", ModeRegister, []error{refused}, false},
		{"provider refuses credentials", ModeRegister, []error{badAuth}, false},
		{"no answer, then an error answer", ModeRegister, []error{noAnswer, refused}, false},
		{"an error answer, then no answer", ModeRegister, []error{badAuth, noAnswer}, true},
		{"bad settings", ModeRegister, []error{fmt.Errorf("trunk x: no username to register")}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := New(nil, nil, "127.0.0.1", 5060, slog.New(slog.DiscardHandler), nil)
			tr := store.Trunk{Name: "itsp", Mode: tc.mode, Host: "192.0.2.1"}
			e := &entry{trunk: tr, status: Status{Name: tr.Name, Mode: tr.Mode, State: StatePeer}}
			if tc.mode == ModeRegister {
				e.status.State = StateRegistering
			}
			k.trunks[tr.Name] = e
			for i, err := range tc.outcomes {
				if err == nil {
					k.registered(e, tr, time.Minute, 30*time.Second)
				} else {
					k.failed(e, tr, err, i+1, time.Second)
				}
			}
			why, down := k.Unreachable("itsp")
			if down != tc.want {
				t.Fatalf("Unreachable = %v (status %+v), want %v", down, e.status, tc.want)
			}
			if down && why != tc.outcomes[len(tc.outcomes)-1].Error() {
				t.Errorf("why %q, want the last error", why)
			}
			if _, down := k.Unreachable("other"); down {
				t.Errorf("a trunk the Keeper does not follow is unreachable")
			}
		})
	}
	var none *Keeper
	if _, down := none.Unreachable("itsp"); down {
		t.Errorf("a nil Keeper reports an unreachable trunk")
	}
}

// TestRemovedTrunkUnregisters: removing a registered trunk sends REGISTER
// with Expires: 0 and drops it from Status; a peer shows as such and sends
// nothing. Reload applies changes without waiting for the poll.
func TestRemovedTrunkUnregisters(t *testing.T) {
	p := startProvider(t, 0, 60)
	k, st := startKeeper(t, func(k *Keeper) { k.Poll = time.Hour })
	addTrunk(t, st, registerTrunk("itsp", p, trunkPass))
	addTrunk(t, st, store.Trunk{Name: "carrier", Mode: ModePeer, Host: "127.0.0.1:5090"})
	k.Reload()
	waitState(t, k, "itsp", StateRegistered, 5*time.Second)
	if s, ok := status(k, "carrier"); !ok || s.State != StatePeer {
		t.Errorf("peer trunk status %+v, want state peer", s)
	}

	if err := st.RemoveTrunk(context.Background(), "itsp"); err != nil {
		t.Fatal(err)
	}
	k.Reload()
	waitFor(t, 2*time.Second, "trunk itsp gone from Status", func() bool { _, ok := status(k, "itsp"); return !ok })
	waitFor(t, 3*time.Second, "the un-REGISTER", func() bool {
		good := p.requests("good")
		return len(good) == 2 && good[1].expires == 0
	})
	if names := k.Status(); len(names) != 1 || names[0].Name != "carrier" {
		t.Errorf("status after removal: %+v, want only the peer", names)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(p.requests("")); n != 4 {
		t.Errorf("provider saw %d REGISTERs, want 4 (register and un-REGISTER, each challenged)", n)
	}
}

// TestRestartOnChange: a new password re-registers the same binding without
// an un-REGISTER; a new username un-REGISTERs the old one first.
func TestRestartOnChange(t *testing.T) {
	p := startProvider(t, 0, 60)
	k, st := startKeeper(t, nil)
	tr := registerTrunk("itsp", p, trunkPass)
	addTrunk(t, st, tr)
	waitState(t, k, "itsp", StateRegistered, 5*time.Second)

	tr.CallerID = "+15550100" // not a registration setting: nothing sent
	addTrunk(t, st, tr)
	time.Sleep(400 * time.Millisecond)
	if n := len(p.requests("")); n != 2 {
		t.Fatalf("a caller ID change sent REGISTERs: provider saw %d, want 2", n)
	}

	tr.Expires = 90
	addTrunk(t, st, tr)
	waitFor(t, 3*time.Second, "a REGISTER for 90 s", func() bool {
		good := p.requests("good")
		return good[len(good)-1].expires == 90
	})
	for _, r := range p.requests("good") {
		if r.expires == 0 {
			t.Fatalf("changing the expiry un-REGISTERed the binding: %+v", p.requests(""))
		}
	}

	tr.Username = "4420000002" // the provider does not know it: 403
	addTrunk(t, st, tr)
	waitFor(t, 3*time.Second, "the old binding's un-REGISTER", func() bool {
		for _, r := range p.requests("good") {
			if r.expires == 0 && r.user == trunkUser {
				return true
			}
		}
		return false
	})
	waitState(t, k, "itsp", StateFailed, 3*time.Second)
}

func TestRefreshAfter(t *testing.T) {
	for _, tc := range []struct{ granted, want time.Duration }{
		{3600 * time.Second, 2880 * time.Second}, // 80 %
		{300 * time.Second, 240 * time.Second},
		{120 * time.Second, 90 * time.Second}, // 30 s before
		{60 * time.Second, 30 * time.Second},  // half
		{10 * time.Second, 5 * time.Second},
		{time.Second, time.Second},
	} {
		if got := refreshAfter(tc.granted); got != tc.want {
			t.Errorf("refreshAfter(%v) = %v, want %v", tc.granted, got, tc.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	k := &Keeper{BackoffMin: 5 * time.Second, BackoffMax: 5 * time.Minute}
	for _, tc := range []struct {
		failures int
		want     time.Duration
	}{{1, 5 * time.Second}, {2, 10 * time.Second}, {3, 20 * time.Second}, {6, 160 * time.Second}, {7, 5 * time.Minute}, {50, 5 * time.Minute}} {
		for range 20 {
			got := k.backoff(tc.failures)
			if got < tc.want*9/10 || got > min(tc.want*11/10, 5*time.Minute) {
				t.Fatalf("backoff(%d) = %v, want %v ± 10 %% (at most 5 min)", tc.failures, got, tc.want)
			}
		}
	}
}

func TestGrantedExpiry(t *testing.T) {
	contact := sip.Uri{Scheme: "sip", User: "u", Host: "192.0.2.1", Port: 5060}
	parse := func(lines ...string) *sip.Response {
		raw := "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nFrom: <sip:u@h>;tag=1\r\nTo: <sip:u@h>\r\nCall-ID: c\r\nCSeq: 2 REGISTER\r\n" +
			strings.Join(lines, "\r\n") + "\r\nContent-Length: 0\r\n\r\n"
		m, err := sip.ParseMessage([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		return m.(*sip.Response)
	}
	for _, tc := range []struct {
		name  string
		lines []string
		want  int
	}{
		{"our contact among others", []string{"Contact: <sip:x@198.51.100.9>;expires=50", "Contact: <sip:u@192.0.2.1>;expires=120"}, 120},
		{"only contact, rewritten", []string{"Contact: <sip:u@203.0.113.4:4000>;expires=90"}, 90},
		{"Expires header", []string{"Contact: <sip:u@192.0.2.1:5060>", "Expires: 45"}, 45},
		{"nothing: what we asked", []string{"X-Foo: 1"}, 300},
	} {
		if got := grantedExpiry(parse(tc.lines...), contact, 300); got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestCheck(t *testing.T) {
	good := store.Trunk{Name: "itsp", Mode: "Register", Host: " sip.Example.com:5080 ", Transport: "UDP",
		Username: "4420000001", Password: "pw", Codecs: "pcma, PCMU,pcma", CallerID: "+4420000001", AllowFrom: "203.0.113.0/24, 198.51.100.7, 198.51.100.8:5080"}
	got, err := Check(good)
	if err != nil {
		t.Fatal(err)
	}
	if got.Mode != "register" || got.Host != "sip.Example.com:5080" || got.Transport != "udp" || got.Codecs != "PCMA,PCMU" ||
		got.Expires != 300 || got.AllowFrom != "203.0.113.0/24,198.51.100.7,198.51.100.8:5080" {
		t.Errorf("Check tidied to %+v", got)
	}
	peer, err := Check(store.Trunk{Name: "carrier", Mode: "peer", Host: "198.51.100.20:5060"})
	if err != nil || peer.AllowFrom != "198.51.100.20" || peer.Codecs != "PCMU,PCMA" {
		t.Errorf("peer on an IP: %+v, %v: want allow-from derived from the host", peer, err)
	}
	bad := map[string]func(*store.Trunk){
		"name":           func(t *store.Trunk) { t.Name = "no spaces" },
		"mode":           func(t *store.Trunk) { t.Mode = "friend" },
		"empty host":     func(t *store.Trunk) { t.Host = "" },
		"scheme":         func(t *store.Trunk) { t.Host = "sip:provider.example" },
		"port":           func(t *store.Trunk) { t.Host = "provider.example:70000" },
		"transport":      func(t *store.Trunk) { t.Transport = "tls" },
		"no username":    func(t *store.Trunk) { t.Username = "" },
		"no password":    func(t *store.Trunk) { t.Password = "" },
		"username @":     func(t *store.Trunk) { t.Username = "a@b" },
		"codec":          func(t *store.Trunk) { t.Codecs = "PCMU,G729" },
		"expires low":    func(t *store.Trunk) { t.Expires = 30 },
		"expires high":   func(t *store.Trunk) { t.Expires = 7200 },
		"allow-from":     func(t *store.Trunk) { t.AllowFrom = "203.0.113.0/33" },
		"caller ID":      func(t *store.Trunk) { t.CallerID = "Reception" },
		"peer host name": func(t *store.Trunk) { t.Mode, t.AllowFrom = "peer", "" },
	}
	for name, mutate := range bad {
		tr := good
		mutate(&tr)
		if _, err := Check(tr); err == nil {
			t.Errorf("%s: Check accepted %+v", name, tr)
		}
	}
}

func TestSplitHost(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.5":          "203.0.113.5:0",
		"203.0.113.5:5080":     "203.0.113.5:5080",
		"Sip.Example.com":      "sip.example.com:0",
		"sip.example.com:5061": "sip.example.com:5061",
		"2001:db8::1":          "2001:db8::1:0",
		"[2001:db8::1]:5060":   "2001:db8::1:5060",
	} {
		host, port, err := SplitHost(in)
		if got := fmt.Sprintf("%s:%d", host, port); err != nil || got != want {
			t.Errorf("SplitHost(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", "a b", "host:", "host:x", "sip:host", "-bad-.example", "1.2.3.4:0"} {
		if _, _, err := SplitHost(in); err == nil {
			t.Errorf("SplitHost(%q) accepted", in)
		}
	}
}

// TestRetryWait: an unreachable provider is tried again at least once a
// minute (calls are refused meanwhile); one that answers with an error
// backs off to the maximum.
func TestRetryWait(t *testing.T) {
	noAnswer := &failure{msg: "no answer from 192.0.2.1 over udp", unanswered: true}
	refused := &failure{msg: "192.0.2.1 answered 503 Service Unavailable"}
	tests := []struct {
		name     string
		failures int
		err      error
		lo, hi   time.Duration
	}{
		{"first failure, no answer", 1, noAnswer, 4500 * time.Millisecond, 5500 * time.Millisecond},
		{"tenth failure, no answer", 10, noAnswer, UnreachableRetryMax, UnreachableRetryMax},
		{"tenth failure, an error answer", 10, refused, 270 * time.Second, DefaultBackoffMax},
	}
	k := New(nil, nil, "127.0.0.1", 5060, slog.New(slog.DiscardHandler), nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := k.retryWait(tc.failures, tc.err); got < tc.lo || got > tc.hi {
				t.Errorf("retryWait(%d, %v) = %v, want %v to %v", tc.failures, tc.err, got, tc.lo, tc.hi)
			}
		})
	}
}
