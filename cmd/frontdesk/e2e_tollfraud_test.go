package main

// End-to-end toll-fraud matrix: an extension's outbound permission (dial
// rule classes: local, national, international; emergency always) must hold
// on every path into the PBX that can end in a call out through a trunk.
// The paths found in pbx/: a phone dialling (pbx.call.dial -> outbound),
// click-to-call and the inbox's call back (pbx.ClickToCall, both through
// planOutbound). Paths that must never reach a trunk at all: a call from a
// trunk (only inbound numbers route, and destinations are internal only),
// the auto attendant's dial-by-extension, a registration whose Contact
// names the provider, in-dialog REFER (transfers are not supported),
// unauthenticated INVITEs, feature codes, and forward/group/queue/number
// targets that name an outside number (refused when set).
//
// The provider is played by tollProvider, a SIP UA in the test process on
// loopback that records every INVITE the PBX sends it and turns each down
// with 603, so a call that got out is told apart from one the PBX refused
// (403/404). Every denied case checks that the provider saw nothing, and
// an allowed case next to it checks that the same path does reach it.

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/diago/media"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/frontdesk-pbx/frontdesk/pbx/trunk"
)

// providerInvite is one INVITE the provider received.
type providerInvite struct {
	User   string // Request-URI user: the number dialled
	From   string // From user
	Source string
	At     time.Time
}

// tollProvider is a SIP provider on 127.0.0.1:Port played by the test: it
// records the INVITEs it gets (answering them, or turning them down with
// 603 Decline), grants REGISTERs, and can call into the PBX from its own
// address (as a trunk's calls come).
type tollProvider struct {
	t       testing.TB
	Port    int
	Addr    string
	LogPath string
	answer  bool // answer INVITEs (else 603)
	grant   int  // seconds granted to a REGISTER

	ua     *sipgo.UserAgent
	cancel context.CancelFunc
	caller *goPhone // the provider's UA, for calls into the PBX

	mu        sync.Mutex
	invites   []providerInvite
	registers []time.Time
	stopped   bool
}

// startTollProvider listens on port (UDP) for the PBX at pbxAddr. It is
// stopped by t.Cleanup (or Stop).
func startTollProvider(t testing.TB, port int, pbxAddr string, answer bool) *tollProvider {
	t.Helper()
	host, pstr, _ := net.SplitHostPort(pbxAddr)
	pbxPort, _ := strconv.Atoi(pstr)
	p := &tollProvider{
		t: t, Port: port, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), answer: answer, grant: 60,
		LogPath: filepath.Join(t.TempDir(), fmt.Sprintf("provider-%d.log", time.Now().UnixNano())),
	}
	logFile, err := os.Create(p.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelInfo}))
	p.ua, err = sipgo.NewUA(sipgo.WithUserAgent("provider"), sipgo.WithUserAgentHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(p.ua, sipgo.WithServerLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	dg := diago.NewDiago(p.ua,
		diago.WithServer(srv),
		diago.WithLogger(log),
		diago.WithTransport(diago.Transport{Transport: "udp", BindHost: "127.0.0.1", BindPort: port}),
		diago.WithMediaConfig(diago.MediaConfig{Codecs: []media.Codec{media.CodecAudioUlaw, media.CodecTelephoneEvent8000}}),
	)
	srv.OnRegister(p.handleRegister)
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	t.Cleanup(func() {
		p.Stop()
		logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(p.LogPath)
			t.Logf("provider %s log:\n%s", p.Addr, b)
		}
	})
	if err := dg.ServeBackground(ctx, p.handleInvite); err != nil {
		t.Fatalf("provider: listening on %s: %v", p.Addr, err)
	}
	ready, cancelReady := context.WithTimeout(ctx, 2*time.Second)
	defer cancelReady()
	if err := trunk.AwaitListener(ready, p.ua.TransportLayer(), p.Addr); err != nil {
		t.Fatalf("provider: %v", err)
	}
	p.caller = &goPhone{t: t, user: "provider", server: sip.Uri{Scheme: "sip", Host: host, Port: pbxPort}, Port: port, ua: p.ua, dg: dg}
	return p
}

func (p *tollProvider) handleInvite(d *diago.DialogServerSession) {
	req := d.InviteRequest
	in := providerInvite{User: req.Recipient.User, Source: req.Source(), At: time.Now()}
	if f := req.From(); f != nil {
		in.From = f.Address.User
	}
	p.mu.Lock()
	p.invites = append(p.invites, in)
	p.mu.Unlock()
	if !p.answer {
		_ = d.Respond(603, "Decline", nil)
		return
	}
	if err := d.Answer(); err != nil {
		return
	}
	<-d.Context().Done()
}

func (p *tollProvider) handleRegister(req *sip.Request, tx sip.ServerTransaction) {
	p.mu.Lock()
	p.registers = append(p.registers, time.Now())
	grant := p.grant
	p.mu.Unlock()
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	if c := req.Contact(); c != nil {
		if e := req.GetHeader("Expires"); e != nil && strings.TrimSpace(e.Value()) == "0" {
			grant = 0
		}
		res.AppendHeader(sip.NewHeader("Contact", "<"+c.Address.String()+">;expires="+strconv.Itoa(grant)))
	}
	_ = tx.Respond(res)
}

// Stop makes the provider vanish: its socket closes.
func (p *tollProvider) Stop() {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	p.mu.Unlock()
	p.cancel()
	p.ua.Close()
}

// Invites returns the INVITEs received so far.
func (p *tollProvider) Invites() []providerInvite {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.invites)
}

// Registers returns when REGISTERs arrived.
func (p *tollProvider) Registers() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.registers)
}

// invitesFor counts the INVITEs for number.
func (p *tollProvider) invitesFor(number string) int {
	n := 0
	for _, in := range p.Invites() {
		if in.User == number {
			n++
		}
	}
	return n
}

// CallIn calls number at the PBX from the provider's address, as a trunk
// call from callerNumber, and waits (at most timeout) for the answer.
func (p *tollProvider) CallIn(number, callerNumber string, timeout time.Duration) (*goCall, error) {
	return inviteFrom(p.caller, number, sip.Uri{Scheme: "sip", User: callerNumber, Host: "127.0.0.1"}, timeout, 0)
}

// CallInTalking is CallIn for a caller who speaks (a tone of hz).
func (p *tollProvider) CallInTalking(number, callerNumber string, hz float64) (*goCall, error) {
	return inviteFrom(p.caller, number, sip.Uri{Scheme: "sip", User: callerNumber, Host: "127.0.0.1"}, 10*time.Second, hz)
}

// inviteFrom is goPhone.inviteAs for a caller who, once answered, sends a
// tone of hz (silence when 0: the voicemail drops silent messages).
func inviteFrom(p *goPhone, number string, from sip.Uri, timeout time.Duration, hz float64) (*goCall, error) {
	send := (*goCall).send
	if hz > 0 {
		tone := ulawTone(p.t, hz, time.Second)
		send = func(c *goCall) { c.talk(tone) }
	}
	return p.inviteAs(from, number, timeout, send)
}

// refusalCode is the final status of a call that was not answered (0 when
// there was none, e.g. a timeout).
func refusalCode(err error) int {
	if res, ok := dialRefusal(err); ok {
		return res.StatusCode
	}
	return 0
}

// sendRefer sends an in-dialog REFER (a blind transfer to referTo) and
// returns the response's status.
func sendRefer(t *testing.T, c *goCall, referTo string) int {
	t.Helper()
	req := sip.NewRequest(sip.REFER, c.d.InviteResponse.Contact().Address)
	req.AppendHeader(sip.NewHeader("Refer-To", "<"+referTo+">"))
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: c.p.user, Host: "127.0.0.1", Port: c.p.Port}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := c.d.Do(ctx, req)
	if err != nil {
		t.Fatalf("REFER to %s: %v", referTo, err)
	}
	t.Logf("REFER to %s: %d %s", referTo, res.StatusCode, res.Reason)
	return res.StatusCode
}

// registerContact REGISTERs phone p's extension with a Contact of our
// choosing (from p's own address) and returns the status.
func registerContact(t *testing.T, p *goPhone, contact sip.Uri) int {
	t.Helper()
	req := sip.NewRequest(sip.REGISTER, p.server)
	req.AppendHeader(&sip.FromHeader{Address: p.aor(p.user), Params: sip.NewParams()})
	req.AppendHeader(&sip.ToHeader{Address: p.aor(p.user), Params: sip.NewParams()})
	req.AppendHeader(&sip.ContactHeader{Address: contact})
	req.AppendHeader(sip.NewHeader("Expires", "300"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := p.client.Do(ctx, req)
	if err == nil && res.StatusCode == sip.StatusUnauthorized {
		res, err = p.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: p.user, Password: p.password})
	}
	if err != nil {
		t.Fatalf("REGISTER %s with Contact %s: %v", p.user, contact.String(), err)
	}
	return res.StatusCode
}

// Numbers the matrix dials, by the class the dial rules give them.
const (
	tfLocal    = "5551234"
	tfNational = "0201234567"
	tfAbroad   = "0044201234567"
	tfPlus     = "+44201234567" // only the catch-all rule covers it
	tfDID      = "+15550100"    // -> attendant 800 (key 9: dial by extension)
	tfDIDBox   = "+15550101"    // -> shared box 600
	tfDIDMenu  = "+15550102"    // -> attendant 801 (no menu: keys start an extension)
)

// TestTollFraudMatrix runs every path against one server. Extensions: 101
// internal, 102 local, 103 national, 104 international. Dial rules through
// the peer trunk "carrier" (the tollProvider): 00 international, 0
// national, anything else local.
func TestTollFraudMatrix(t *testing.T) {
	srv := startServer(t, "")
	admin := changePassword(t, srv, "admin", adminPassword(t, srv))
	dataDir := srv.DataDir
	provider := startTollProvider(t, freePort(t), srv.SIPAddr, false)
	runCLIs(t, dataDir,
		extAdd("101", "Ivy", "--outbound", "internal"),
		extAdd("102", "Lou", "--outbound", "local"),
		extAdd("103", "Nat", "--outbound", "national"),
		extAdd("104", "Ian", "--outbound", "international"),
		[]string{"vm", "add", "600", "--name", "Sales", "--pin", vmPIN},
		[]string{"trunk", "add", "carrier", "--mode", "peer", "--host", provider.Addr, "--allow-from", provider.Addr},
	)
	runCLIs(t, dataDir,
		[]string{"dialrule", "add", "00", "--trunk", "carrier", "--class", "international"},
		[]string{"dialrule", "add", "0", "--trunk", "carrier", "--class", "national"},
		[]string{"dialrule", "add", "", "--trunk", "carrier", "--class", "local"},
		[]string{"attendant", "add", "800", "--name", "Main", "--greeting", greetingWAV(t, 900, time.Second), "--option", "9=dial-by-extension"},
		[]string{"attendant", "add", "801", "--name", "Menu-less", "--greeting", greetingWAV(t, 950, time.Second)},
		[]string{"vm", "greeting", "set", "600", greetingWAV(t, 500, vmGreeting)},
	)
	runCLIs(t, dataDir,
		[]string{"number", "add", tfDID, "--to", "attendant:800"},
		[]string{"number", "add", tfDIDBox, "--to", "vm:600"},
		[]string{"number", "add", tfDIDMenu, "--to", "attendant:801"},
	)
	runCLIInput(t, dataDir, "ivy-web-password\n", "user", "add", "ivy", "--extension", "101", "--password-stdin")
	runCLIInput(t, dataDir, "ian-web-password\n", "user", "add", "ian", "--extension", "104", "--password-stdin")
	runCLIs(t, dataDir,
		[]string{"user", "set", "ivy", "--box", "600=download"},
		[]string{"user", "set", "ian", "--box", "600=download"},
	)
	phones := map[string]*goPhone{}
	for _, ext := range []string{"101", "102", "103", "104"} {
		phones[ext] = newCaller(t, ext, srv)
	}
	// The calls that are expected at the provider, in order.
	var allowed []providerInvite

	// reached checks the provider's INVITEs for number went from before to
	// before+want (it got the call, or it got nothing).
	reached := func(t *testing.T, what, number string, before int, want bool) {
		t.Helper()
		got := provider.invitesFor(number) - before
		switch {
		case want && got != 1:
			t.Errorf("%s: the provider got %d INVITEs for %s, want 1 (the allowed call must reach the trunk)", what, got, number)
		case !want && got != 0:
			t.Errorf("TOLL FRAUD: %s: the provider got %d INVITEs for %s, want none", what, got, number)
		}
	}

	t.Run("phone dials", func(t *testing.T) {
		tests := []struct {
			ext, number string
			want        int  // final status the caller gets
			out         bool // the call reaches the provider (which declines: 603)
		}{
			{"101", tfLocal, 403, false},
			{"101", tfNational, 403, false},
			{"101", tfAbroad, 403, false},
			{"101", tfPlus, 403, false},
			{"101", "911", 603, true}, // emergency: always
			{"102", tfLocal, 603, true},
			{"102", tfNational, 403, false},
			{"102", tfAbroad, 403, false},
			{"102", tfPlus, 403, false}, // "+44..." is not local because the catch-all rule says local
			{"103", tfNational, 603, true},
			{"103", tfAbroad, 403, false},
			{"103", tfPlus, 403, false},
			{"104", tfAbroad, 603, true},
			{"104", tfPlus, 603, true},
			{"101", "*45" + tfAbroad, 404, false},                   // queue login code with a number
			{"101", tfAbroad + strings.Repeat("9", 30), 404, false}, // too long for a dial string
			{"101", "0044%2A201", 404, false},                       // not a dial string
		}
		for _, tc := range tests {
			before := provider.invitesFor(tc.number)
			call, err := phones[tc.ext].tryDial(tc.number)
			if err == nil {
				call.Hangup()
				t.Errorf("%s dialling %s: answered, want %d", tc.ext, tc.number, tc.want)
			} else if code := refusalCode(err); code != tc.want {
				t.Errorf("%s dialling %s: %v (status %d), want %d", tc.ext, tc.number, err, code, tc.want)
			}
			reached(t, tc.ext+" dialling "+tc.number, tc.number, before, tc.out)
			if tc.out {
				allowed = append(allowed, providerInvite{User: tc.number, From: tc.ext})
			}
		}
	})

	t.Run("spoofed From", func(t *testing.T) {
		// 101 authenticates as itself but claims to be 104 in From: the
		// permission is the authenticated extension's.
		before := provider.invitesFor(tfAbroad)
		_, err := inviteFrom(phones["101"], tfAbroad, phones["101"].aor("104"), 10*time.Second, 0)
		if code := refusalCode(err); code != 403 {
			t.Errorf("101 posing as 104, dialling %s: %v (status %d), want 403", tfAbroad, err, code)
		}
		reached(t, "101 posing as 104", tfAbroad, before, false)
	})

	t.Run("unauthenticated", func(t *testing.T) {
		before := provider.invitesFor(tfAbroad)
		// No credentials at all: the challenge, nothing else.
		stranger := newGoPhone(t, "104", "", srv.SIPAddr)
		req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: tfAbroad, Host: "127.0.0.1", Port: srv.SIPPort})
		from := &sip.FromHeader{Address: stranger.aor("104"), Params: sip.NewParams()}
		from.Params.Add("tag", sip.GenerateTagN(16))
		req.AppendHeader(from)
		req.AppendHeader(&sip.ToHeader{Address: stranger.aor(tfAbroad), Params: sip.NewParams()})
		req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "104", Host: "127.0.0.1", Port: stranger.Port}})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, err := stranger.client.Do(ctx, req)
		cancel()
		if err != nil || res.StatusCode != sip.StatusProxyAuthRequired {
			t.Errorf("INVITE without credentials: %v %v, want 407", res, err)
		}
		// A wrong secret for a real extension, and an extension that does
		// not exist.
		for _, who := range []struct{ user, secret string }{{"104", "wrong-secret"}, {"999", "whatever"}} {
			p := newGoPhone(t, who.user, who.secret, srv.SIPAddr)
			_, err := p.tryDial(tfAbroad)
			if code := refusalCode(err); code != 403 {
				t.Errorf("%s with a wrong secret dialling %s: %v (status %d), want 403", who.user, tfAbroad, err, code)
			}
		}
		reached(t, "unauthenticated callers", tfAbroad, before, false)
	})

	t.Run("trunk relay", func(t *testing.T) {
		// The provider (a trusted trunk address) sends calls for numbers
		// that are no inbound number: the PBX must not send them out again,
		// nor ring extensions or features directly.
		for _, number := range []string{tfAbroad, tfPlus, "911", "104", "*56600", "*45" + tfAbroad} {
			before := provider.invitesFor(number)
			_, err := provider.CallIn(number, "4420999", 10*time.Second)
			if code := refusalCode(err); code != 404 {
				t.Errorf("trunk call for %s: %v (status %d), want 404", number, err, code)
			}
			reached(t, "trunk call for "+number, number, before, false)
		}
	})

	t.Run("attendant dial by extension", func(t *testing.T) {
		phones["104"].AnswerCalls() // the positive control rings 104
		log := srv.Log()
		// The attendant says "invalid" and goes on; the log names the
		// number it refused.
		for _, tc := range []struct {
			did, keys, dialled string
		}{
			{tfDID, "9" + tfAbroad + "#", tfAbroad[:8]}, // dial-by-extension reads at most 8 digits
			{tfDID, "9" + "911#", "911"},
			{tfDIDMenu, tfLocal + "#", tfLocal},
		} {
			before := len(provider.Invites())
			call, err := provider.CallIn(tc.did, "4420999", 10*time.Second)
			if err != nil {
				t.Fatalf("trunk call for %s: %v", tc.did, err)
			}
			time.Sleep(300 * time.Millisecond) // into the greeting
			call.Press(tc.keys)
			re := regexp.MustCompile(`attendant: dialled a number that is no extension.* number=` + regexp.QuoteMeta(tc.dialled) + `\b`)
			if !waitFor(10*time.Second, func() bool { return re.MatchString(strings.TrimPrefix(srv.Log(), log)) }) {
				t.Errorf("attendant %s: no refusal of %q in the log after pressing %q", tc.did, tc.dialled, tc.keys)
			}
			call.Hangup()
			if got := provider.Invites()[before:]; len(got) != 0 {
				t.Errorf("TOLL FRAUD: attendant %s, keys %q: the provider got %+v", tc.did, tc.keys, got)
			}
		}
		// Positive control: the same path reaches an extension (104 hears
		// the key pressed after it answered).
		call, err := provider.CallIn(tfDID, "4420999", 10*time.Second)
		if err != nil {
			t.Fatalf("trunk call for %s: %v", tfDID, err)
		}
		time.Sleep(300 * time.Millisecond)
		call.Press("9104#")
		time.Sleep(2 * time.Second) // 104 answers (at once), then the key
		call.Press("7")
		if got := phones["104"].WaitDigits(1, 10*time.Second); got != "7" {
			t.Errorf("104 heard %q through the attendant, want 7", got)
		}
		call.Hangup()
	})

	t.Run("click to call", func(t *testing.T) {
		phones["101"].AnswerCalls() // registered, so a refusal is the permission's
		tests := []struct {
			user, password, ext, number string
			want                        int
			out                         bool
		}{
			{"ivy", "ivy-web-password", "", tfAbroad, http.StatusForbidden, false},
			{"ivy", "ivy-web-password", "", tfLocal, http.StatusForbidden, false},
			{"ivy", "ivy-web-password", "", tfPlus, http.StatusForbidden, false},
			{"ivy", "ivy-web-password", "104", tfAbroad, http.StatusForbidden, false}, // someone else's extension
			{"admin", admin, "101", tfAbroad, http.StatusForbidden, false},            // an admin uses 101's permission
			{"ivy", "ivy-web-password", "", "0044*1", http.StatusNotFound, false},
			{"ian", "ian-web-password", "", tfAbroad, http.StatusAccepted, true},
		}
		for _, tc := range tests {
			before := provider.invitesFor(tc.number)
			code, body := clickToCall(t, srv, tc.user, tc.password, tc.ext, tc.number)
			if code != tc.want {
				t.Errorf("click-to-call by %s from %q to %s: %d %v, want %d", tc.user, tc.ext, tc.number, code, body, tc.want)
			}
			if tc.out {
				// 104's phone answers the first leg, then the number is called.
				if !waitFor(15*time.Second, func() bool { return provider.invitesFor(tc.number) > before }) {
					t.Errorf("click-to-call by %s to %s never reached the provider", tc.user, tc.number)
				}
				allowed = append(allowed, providerInvite{User: tc.number, From: "104"})
			}
			reached(t, "click-to-call by "+tc.user+" to "+tc.number, tc.number, before, tc.out)
		}
	})

	t.Run("inbox call back", func(t *testing.T) {
		// A trunk caller leaves a message claiming an international number;
		// calling back is the member's own call, within their permission.
		call, err := provider.CallInTalking(tfDIDBox, tfAbroad, 440)
		if err != nil {
			t.Fatalf("trunk call for %s: %v", tfDIDBox, err)
		}
		time.Sleep(vmRecording + 3*time.Second)
		call.Hangup()
		var msgs []boxMessage
		if !waitFor(15*time.Second, func() bool { msgs = boxMessages(t, dataDir, "600"); return len(msgs) == 1 }) {
			t.Fatalf("box 600 holds %d messages 15 s after the trunk caller's, want 1", len(msgs))
		}
		if msgs[0].CallerNumber != tfAbroad {
			t.Fatalf("message from %q, want %s", msgs[0].CallerNumber, tfAbroad)
		}
		path := "/messages/" + strconv.FormatInt(msgs[0].ID, 10) + "/callback"
		before := provider.invitesFor(tfAbroad)
		if code := apiCall(t, srv, "ivy", "ivy-web-password", http.MethodPost, path, map[string]any{}, nil); code != http.StatusForbidden {
			t.Errorf("call back by ivy (101, internal only): %d, want 403", code)
		}
		reached(t, "call back by ivy", tfAbroad, before, false)
		if code := apiCall(t, srv, "ian", "ian-web-password", http.MethodPost, path, map[string]any{}, nil); code != http.StatusOK {
			t.Errorf("call back by ian (104, international): %d, want 200", code)
		}
		if !waitFor(15*time.Second, func() bool { return provider.invitesFor(tfAbroad) > before }) {
			t.Errorf("call back by ian never reached the provider")
		}
		allowed = append(allowed, providerInvite{User: tfAbroad, From: "104"})
		reached(t, "call back by ian", tfAbroad, before, true)
	})

	t.Run("REFER", func(t *testing.T) {
		// Transfers are not supported: a REFER in an answered call (to the
		// PBX's number or straight at the provider) is refused and nothing
		// is dialled, from an extension or from a trunk caller.
		before := len(provider.Invites())
		call := phones["101"].Dial("600")
		for _, to := range []string{"sip:" + tfAbroad + "@" + srv.SIPAddr, "sip:" + tfAbroad + "@" + provider.Addr} {
			if code := sendRefer(t, call, to); code < 400 {
				t.Errorf("REFER from 101 to %s: %d, want a refusal", to, code)
			}
		}
		call.Hangup()
		in, err := provider.CallIn(tfDIDBox, "4420999", 10*time.Second)
		if err != nil {
			t.Fatalf("trunk call for %s: %v", tfDIDBox, err)
		}
		if code := sendRefer(t, in, "sip:"+tfAbroad+"@"+srv.SIPAddr); code < 400 {
			t.Errorf("REFER from a trunk caller: %d, want a refusal", code)
		}
		in.Hangup()
		time.Sleep(time.Second) // an accepted REFER would INVITE by now
		if got := provider.Invites()[before:]; len(got) != 0 {
			t.Errorf("TOLL FRAUD: after REFERs the provider got %+v", got)
		}
	})

	t.Run("registration contact at the provider", func(t *testing.T) {
		// 102 registers a Contact naming the provider and an international
		// number: calls to 102 still go to where the REGISTER came from.
		lou := phones["102"]
		contact := sip.Uri{Scheme: "sip", User: tfAbroad, Host: "127.0.0.1", Port: provider.Port}
		if code := registerContact(t, lou, contact); code != 200 {
			t.Fatalf("REGISTER with a Contact at the provider: %d", code)
		}
		before := len(provider.Invites())
		_, err := phones["103"].tryDial("102")
		// 102's phone (not answering) says busy; the provider would decline.
		if code := refusalCode(err); code != 486 {
			t.Errorf("103 calling 102: %v (status %d), want 486 from 102's phone", err, code)
		}
		if got := provider.Invites()[before:]; len(got) != 0 {
			t.Errorf("TOLL FRAUD: ringing 102 sent %+v to the provider", got)
		}
	})

	t.Run("outside destinations refused", func(t *testing.T) {
		// Forwards, groups, queues, numbers and attendant keys only take
		// internal destinations, so no routing can end at a trunk.
		for _, args := range [][]string{
			{"ext", "set", "102", "--forward-busy", tfAbroad},
			{"ext", "set", "102", "--forward-no-answer", "ext:" + tfAbroad},
			{"ext", "set", "102", "--forward-unavailable", "trunk:" + tfAbroad},
			{"group", "add", "700", "--name", "G", "--members", tfAbroad},
			{"group", "add", "701", "--name", "G", "--members", "101", "--no-answer", tfAbroad},
			{"queue", "add", "710", "--name", "Q", "--members", tfAbroad},
			{"queue", "add", "711", "--name", "Q", "--members", "101", "--fallback", tfAbroad},
			{"number", "add", "+15550199", "--to", tfAbroad},
			{"number", "add", "+15550198", "--to", "ext:" + tfAbroad},
			{"attendant", "add", "802", "--name", "A", "--option", "1=" + tfAbroad},
			{"attendant", "add", "803", "--name", "A", "--timeout-dest", "ext:" + tfAbroad},
		} {
			if _, _, err := tryCLI(t, dataDir, args...); err == nil {
				t.Errorf("frontdesk %s: accepted an outside number as a destination", strings.Join(args, " "))
			}
		}
	})

	// Everything the provider ever got: exactly the allowed calls.
	got := provider.Invites()
	var lines []string
	for _, in := range got {
		lines = append(lines, in.User+" from "+in.From)
	}
	var want []string
	for _, in := range allowed {
		want = append(want, in.User+" from "+in.From)
	}
	if !slices.Equal(lines, want) {
		t.Errorf("the provider got:\n  %s\nwant exactly the allowed calls:\n  %s", strings.Join(lines, "\n  "), strings.Join(want, "\n  "))
	}
}
