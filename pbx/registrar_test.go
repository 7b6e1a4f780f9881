package pbx

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/frontdesk-pbx/frontdesk/pbx/sipauth"
	"github.com/frontdesk-pbx/frontdesk/store"
)

// newTestRegistrar returns a registrar on a fresh SQLite file with extension
// 101 (secret "secret101").
func newTestRegistrar(t testing.TB) (*registrar, *store.Store) {
	t.Helper()
	st, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := sipauth.HashSecret("101", sipauth.DefaultRealm, "secret101")
	if err := st.AddExtension(context.Background(), store.Extension{Number: "101", Name: "Alice",
		Realm: sipauth.DefaultRealm, HA1MD5: h.HA1MD5, HA1SHA256: h.HA1SHA256}, ""); err != nil {
		t.Fatal(err)
	}
	auth, err := sipauth.New(sipauth.DefaultRealm, sipauth.MD5, sipauth.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return &registrar{store: st, auth: auth, log: slog.New(slog.NewTextHandler(io.Discard, nil)), now: time.Now, slots: make(chan struct{}, 1)}, st
}

// registerRequest parses a REGISTER for user with the given extra header lines.
func registerRequest(t testing.TB, user string, cseq int, lines ...string) *sip.Request {
	t.Helper()
	raw := strings.Join(append([]string{
		"REGISTER sip:127.0.0.1 SIP/2.0",
		"Via: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bK" + fmt.Sprint(cseq) + ";rport",
		"From: <sip:" + user + "@127.0.0.1>;tag=abc",
		"To: <sip:" + user + "@127.0.0.1>",
		"Call-ID: reg-" + user,
		fmt.Sprintf("CSeq: %d REGISTER", cseq),
		"Max-Forwards: 70",
	}, lines...), "\r\n") + "\r\nContent-Length: 0\r\n\r\n"
	msg, err := sip.ParseMessage([]byte(raw))
	if err != nil {
		t.Fatalf("parse test REGISTER: %v", err)
	}
	req := msg.(*sip.Request)
	req.SetSource("203.0.113.7:40000") // as if NAT rewrote the phone's address
	return req
}

// authorize answers res's challenge (alg) for req and returns the header line.
func authorize(t testing.TB, res *sip.Response, alg, user, secret string) string {
	t.Helper()
	for _, h := range res.GetHeaders("WWW-Authenticate") {
		chal, err := digest.ParseChallenge(h.Value())
		if err != nil {
			t.Fatal(err)
		}
		if chal.Algorithm != alg {
			continue
		}
		cred, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: "sip:127.0.0.1", Username: user, Password: secret, Cnonce: "c", Count: 1})
		if err != nil {
			t.Fatal(err)
		}
		return "Authorization: " + cred.String()
	}
	t.Fatalf("no %s challenge in %s", alg, res.String())
	return ""
}

func TestRegister(t *testing.T) {
	ctx := context.Background()
	contact := "Contact: <sip:101@192.168.1.20:5062;transport=udp>"
	tests := []struct {
		name     string
		user     string
		secret   string
		alg      string
		lines    []string
		wantCode int
		wantBind int
	}{
		{"md5", "101", "secret101", sipauth.MD5, []string{contact}, 200, 1},
		{"sha-256", "101", "secret101", sipauth.SHA256, []string{contact}, 200, 1},
		{"wrong secret", "101", "nope", sipauth.MD5, []string{contact}, 403, 0},
		{"unknown user", "999", "secret101", sipauth.MD5, []string{contact}, 403, 0},
		{"too brief", "101", "secret101", sipauth.MD5, []string{contact, "Expires: 10"}, 423, 0},
		{"bad expires", "101", "secret101", sipauth.MD5, []string{contact, "Expires: soon"}, 400, 0},
		{"two devices", "101", "secret101", sipauth.MD5, []string{contact, "Contact: <sip:101@10.0.0.9:5070>"}, 200, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, st := newTestRegistrar(t)
			first := r.register(ctx, registerRequest(t, tc.user, 1, tc.lines...))
			if first.StatusCode != 401 || len(first.GetHeaders("WWW-Authenticate")) != 2 {
				t.Fatalf("first REGISTER: want 401 with MD5 and SHA-256 challenges, got %s", first.StartLine())
			}
			lines := append([]string{authorize(t, first, tc.alg, tc.user, tc.secret)}, tc.lines...)
			res := r.register(ctx, registerRequest(t, tc.user, 2, lines...))
			if res.StatusCode != tc.wantCode {
				t.Fatalf("got %s, want %d", res.StartLine(), tc.wantCode)
			}
			bs, err := st.Bindings(ctx, "101", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if len(bs) != tc.wantBind {
				t.Fatalf("%d bindings, want %d", len(bs), tc.wantBind)
			}
			if tc.wantBind > 0 && len(res.GetHeaders("Contact")) != tc.wantBind {
				t.Fatalf("200 lists %d contacts, want %d", len(res.GetHeaders("Contact")), tc.wantBind)
			}
		})
	}
}

func TestUnregister(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		lines []string
	}{
		{"expires param 0", []string{"Contact: <sip:101@192.168.1.20:5062>;expires=0"}},
		{"wildcard", []string{"Contact: *", "Expires: 0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, st := newTestRegistrar(t)
			reg := func(cseq int, lines ...string) *sip.Response {
				ch := r.register(ctx, registerRequest(t, "101", cseq, lines...))
				return r.register(ctx, registerRequest(t, "101", cseq+1, append([]string{authorize(t, ch, sipauth.MD5, "101", "secret101")}, lines...)...))
			}
			if res := reg(1, "Contact: <sip:101@192.168.1.20:5062>"); res.StatusCode != 200 {
				t.Fatalf("register: %s", res.StartLine())
			}
			if res := reg(3, tc.lines...); res.StatusCode != 200 {
				t.Fatalf("unregister: %s", res.StartLine())
			}
			if bs, _ := st.Bindings(ctx, "101", time.Now()); len(bs) != 0 {
				t.Fatalf("still %d bindings after un-REGISTER", len(bs))
			}
		})
	}
}

func TestDeviceURIUsesSourceAddress(t *testing.T) {
	tests := []struct {
		contact, source, want string
	}{
		{"sip:101@192.168.1.20:5062;transport=udp", "203.0.113.7:40000", "sip:101@203.0.113.7:40000"},
		{"sip:abc@10.0.0.1;ob", "127.0.0.1:5555", "sip:abc@127.0.0.1:5555;ob"},
	}
	for _, tc := range tests {
		u, err := deviceURI(store.Binding{Contact: tc.contact, Source: tc.source})
		if err != nil {
			t.Fatal(err)
		}
		if got := u.String(); got != tc.want {
			t.Errorf("deviceURI(%s via %s) = %s, want %s", tc.contact, tc.source, got, tc.want)
		}
	}
}

// FuzzRegister feeds arbitrary bytes through the SIP parser into the
// registrar: whatever parses must get an answer, never a panic.
func FuzzRegister(f *testing.F) {
	f.Add([]byte("REGISTER sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:101@x>;tag=1\r\nTo: <sip:101@x>\r\nCall-ID: 1\r\nCSeq: 1 REGISTER\r\nContact: *\r\nExpires: 0\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("REGISTER sip:x SIP/2.0\r\nTo: <sip:@x>\r\nContact: <sip:a@b>;expires=-1\r\n\r\n"))
	f.Add([]byte("REGISTER sip:x SIP/2.0\r\nTo: <sip:101@x>\r\nAuthorization: Digest username=\"101\", realm=\"frontdesk\", nonce=\"\", response=\"\"\r\n\r\n"))
	r, _ := newTestRegistrar(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := sip.ParseMessage(data)
		if err != nil {
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			return
		}
		res := r.register(context.Background(), req)
		if res == nil || res.StatusCode == 200 && req.GetHeader("Authorization") == nil {
			t.Fatalf("unauthenticated REGISTER got %v", res)
		}
	})
}

// registerAuthenticated sends a REGISTER for 101, answers its challenge and
// returns the final response.
func registerAuthenticated(t *testing.T, r *registrar, cseq int, lines ...string) *sip.Response {
	t.Helper()
	ctx := context.Background()
	ch := r.register(ctx, registerRequest(t, "101", cseq, lines...))
	if ch.StatusCode != 401 {
		t.Fatalf("first REGISTER: %s", ch.StartLine())
	}
	return r.register(ctx, registerRequest(t, "101", cseq+1, append([]string{authorize(t, ch, sipauth.MD5, "101", "secret101")}, lines...)...))
}

// Registrations are in the database: a restarted server still knows where
// each phone is, until the registration expires.
func TestRegistrationSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	r, st := newTestRegistrar(t)
	now := time.Now().Truncate(time.Second)
	r.now = func() time.Time { return now }
	if res := registerAuthenticated(t, r, 1, "Contact: <sip:101@192.168.1.20:5062>", "Expires: 600", "User-Agent: desk phone"); res.StatusCode != 200 {
		t.Fatalf("register: %s", res.StartLine())
	}
	dir := filepath.Dir(st.Path())
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	reopened, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer reopened.Close()
	bs, err := reopened.Bindings(ctx, "101", now)
	if err != nil {
		t.Fatal(err)
	}
	want := store.Binding{Extension: "101", Contact: "sip:101@192.168.1.20:5062", Transport: "udp", Source: "203.0.113.7:40000",
		CallID: "reg-101", CSeq: 2, UserAgent: "desk phone", ExpiresAt: now.Add(600 * time.Second).UTC()}
	if len(bs) != 1 || bs[0] != want {
		t.Fatalf("after reopening: %+v, want [%+v]", bs, want)
	}
}

// A refresh of the same contact moves its expiry, in the database and in the
// 200 OK, and keeps one binding.
func TestRefreshUpdatesExpiry(t *testing.T) {
	ctx := context.Background()
	r, st := newTestRegistrar(t)
	now := time.Now().Truncate(time.Second)
	r.now = func() time.Time { return now }
	contact := "Contact: <sip:101@192.168.1.20:5062>"
	if res := registerAuthenticated(t, r, 1, contact, "Expires: 600"); res.StatusCode != 200 {
		t.Fatalf("register: %s", res.StartLine())
	}
	now = now.Add(5 * time.Minute)
	res := registerAuthenticated(t, r, 3, contact, "Expires: 3600")
	if res.StatusCode != 200 {
		t.Fatalf("refresh: %s", res.StartLine())
	}
	if cs := res.GetHeaders("Contact"); len(cs) != 1 || !strings.HasSuffix(cs[0].Value(), ";expires=3600") {
		t.Fatalf("200 OK Contact headers: %v", cs)
	}
	bs, err := st.Bindings(ctx, "101", now)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 1 || !bs[0].ExpiresAt.Equal(now.Add(time.Hour)) || bs[0].CSeq != 4 {
		t.Fatalf("after refresh: %+v, want one binding expiring at %v with CSeq 4", bs, now.Add(time.Hour))
	}
}

// Unauthenticated REGISTERs for extensions that don't exist count against
// their source (scanners probing for extensions); for real ones they don't.
func TestProbesForUnknownExtensionsCount(t *testing.T) {
	ctx := context.Background()
	r, _ := newTestRegistrar(t)
	g, _, _ := testGuard(AbuseConfig{BlockAfter: 3})
	r.abuse = g
	for cseq := range 5 {
		if res := r.register(ctx, registerRequest(t, "101", cseq+1, "Contact: <sip:101@192.168.1.20:5062>")); res.StatusCode != 401 {
			t.Fatalf("REGISTER for 101: %s", res.StartLine())
		}
	}
	if b := g.blockedSources(); len(b) != 0 {
		t.Fatalf("blocked for challenges to a real extension: %+v", b)
	}
	for cseq := range 3 {
		if res := r.register(ctx, registerRequest(t, "999", cseq+1, "Contact: <sip:999@192.168.1.20:5062>")); res.StatusCode != 401 {
			t.Fatalf("REGISTER for 999: %s", res.StartLine())
		}
	}
	if b := g.blockedSources(); len(b) != 1 || b[0].Reason != failUnknownUser {
		t.Fatalf("after 3 probes for an unknown extension: %+v, want the source blocked", b)
	}
}
