package pbx

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/emiago/sipgo/siptest"
	"github.com/icholy/digest"
)

// subscribeRequest is an MWI SUBSCRIBE from user at source, with the given
// extra header lines.
func subscribeRequest(t testing.TB, user, source string, cseq int, lines ...string) *sip.Request {
	t.Helper()
	raw := strings.Join(append([]string{
		"SUBSCRIBE sip:" + user + "@127.0.0.1 SIP/2.0",
		"Via: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bKsub" + fmt.Sprint(cseq) + ";rport",
		"From: <sip:" + user + "@127.0.0.1>;tag=abc",
		"To: <sip:" + user + "@127.0.0.1>",
		"Call-ID: sub-" + user + fmt.Sprint(cseq),
		fmt.Sprintf("CSeq: %d SUBSCRIBE", cseq),
		"Event: message-summary",
		"Contact: <sip:" + user + "@192.168.1.20:5062>",
		"Max-Forwards: 70",
	}, lines...), "\r\n") + "\r\nContent-Length: 0\r\n\r\n"
	msg, err := sip.ParseMessage([]byte(raw))
	if err != nil {
		t.Fatalf("parse test SUBSCRIBE: %v", err)
	}
	req := msg.(*sip.Request)
	req.SetSource(source)
	return req
}

// subscribeAuth answers a 401's MD5 challenge for a SUBSCRIBE.
func subscribeAuth(t testing.TB, res *sip.Response, user, secret string) string {
	t.Helper()
	for _, h := range res.GetHeaders("WWW-Authenticate") {
		chal, err := digest.ParseChallenge(h.Value())
		if err != nil {
			t.Fatal(err)
		}
		cred, err := digest.Digest(chal, digest.Options{Method: "SUBSCRIBE", URI: "sip:" + user + "@127.0.0.1",
			Username: user, Password: secret, Cnonce: "c", Count: 1})
		if err != nil {
			t.Fatal(err)
		}
		return "Authorization: " + cred.String()
	}
	t.Fatalf("no challenge in %s", res.String())
	return ""
}

// A SUBSCRIBE whose digest answer is wrong counts against its source as a
// failed REGISTER or INVITE does; enough of them block the source.
func TestSubscribeAuthFailuresCount(t *testing.T) {
	const src = "198.51.100.20:5062"
	tests := []struct {
		name        string
		user        string // From and To user
		secret      string // "" sends no credentials
		badNonce    bool   // credentials for a nonce we never issued
		wantStatus  int
		wantCounted bool
	}{
		{name: "no credentials, known extension", user: "101", wantStatus: 401},
		{name: "no credentials, unknown extension", user: "999", wantStatus: 401, wantCounted: true},
		{name: "wrong secret", user: "101", secret: "guess", wantStatus: 403, wantCounted: true},
		{name: "unknown extension with a secret", user: "999", secret: "secret101", wantStatus: 403, wantCounted: true},
		{name: "nonce we never issued", user: "101", secret: "secret101", badNonce: true, wantStatus: 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, st := newTestRegistrar(t)
			g, _, c := testGuard(AbuseConfig{BlockAfter: 1})
			m := newMWI(st, r.auth, nil, sip.ContactHeader{Address: sip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: 5060}},
				slog.New(slog.NewTextHandler(io.Discard, nil)), false, g)
			send := func(req *sip.Request) *sip.Response {
				tx := siptest.NewServerTxRecorder(req)
				defer tx.Terminate()
				m.handleSubscribe(req, tx)
				res := tx.Result()
				if len(res) != 1 {
					t.Fatalf("%d responses, want 1", len(res))
				}
				return res[0]
			}
			req := subscribeRequest(t, tt.user, src, 1)
			if tt.secret != "" {
				chal := send(subscribeRequest(t, "101", "192.0.2.250:5060", 1)) // a challenge for another source
				if g.admit("192.0.2.250:5060", sip.ACK) != admitted {
					t.Fatal("fetching a challenge counted against its source")
				}
				auth := subscribeAuth(t, chal, tt.user, tt.secret)
				if tt.badNonce {
					auth = strings.Replace(auth, `nonce="`, `nonce="AAAA`, 1)
				}
				req = subscribeRequest(t, tt.user, src, 2, auth)
			}
			if res := send(req); res.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", res.StatusCode, tt.wantStatus)
			}
			counted := g.admit(src, sip.ACK) == dropBlocked
			if counted != tt.wantCounted {
				t.Errorf("counted against the source: %v, want %v", counted, tt.wantCounted)
			}
			if n := c.sourcesBlocked.Load(); (n == 1) != tt.wantCounted {
				t.Errorf("blocks counted %d", n)
			}
		})
	}
}
