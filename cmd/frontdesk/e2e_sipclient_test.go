package main

// A small SIP phone written with diago/sipgo, for end-to-end tests that need
// what baresip 1.0.0 cannot do conveniently from a test: press keys at
// chosen moments (RFC 4733 telephone-events), keep what it hears in memory
// while the call goes on, notice the PBX hanging up, and SUBSCRIBE to the
// message-summary event (MWI) and answer the NOTIFYs. It is a real SIP UA
// over UDP on loopback: digest authentication, dialogs, RTP.

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/diago/media"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/frontdesk-pbx/frontdesk/pbx/trunk"
)

// goPhone is one SIP user agent for extension user, listening on
// 127.0.0.1:Port (UDP) for requests from the PBX (BYE, NOTIFY).
type goPhone struct {
	t        testing.TB
	user     string
	password string
	server   sip.Uri // the PBX: host and port only
	Port     int
	LogPath  string

	ua     *sipgo.UserAgent
	dg     *diago.Diago
	client *sipgo.Client // out-of-dialog requests (SUBSCRIBE) from Port

	notifies chan mwiNotify

	// answering makes the phone answer incoming calls (see AnswerCalls);
	// the RFC 4733 digits it then hears arrive on digits.
	answering atomic.Bool
	digits    chan rune
}

// mwiNotify is one NOTIFY the phone received (and answered with 200).
type mwiNotify struct {
	At                time.Time
	CallID            string
	Event             string
	SubscriptionState string
	ContentType       string
	Body              string
}

// Waiting is the Messages-Waiting value of the summary ("yes"/"no").
func (n mwiNotify) Waiting() string { return n.field("Messages-Waiting") }

// VoiceMessage is the Voice-Message value, e.g. "1/0 (0/0)".
func (n mwiNotify) VoiceMessage() string { return n.field("Voice-Message") }

func (n mwiNotify) field(name string) string {
	for _, line := range strings.Split(n.Body, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// newGoPhone starts a UA for ext (digest secret password) talking to the
// PBX at serverAddr ("127.0.0.1:PORT"). It is closed by t.Cleanup.
func newGoPhone(t testing.TB, user, password, serverAddr string) *goPhone {
	t.Helper()
	host, portStr, err := net.SplitHostPort(serverAddr)
	if err != nil {
		t.Fatalf("server address %q: %v", serverAddr, err)
	}
	sport, _ := strconv.Atoi(portStr)
	p := &goPhone{
		t: t, user: user, password: password,
		server:   sip.Uri{Scheme: "sip", Host: host, Port: sport},
		Port:     freePort(t),
		LogPath:  filepath.Join(t.TempDir(), "gophone-"+user+".log"),
		notifies: make(chan mwiNotify, 32),
	}
	logFile, err := os.Create(p.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelInfo}))

	// The UA name is the user part of our Contact.
	p.ua, err = sipgo.NewUA(sipgo.WithUserAgent(user), sipgo.WithUserAgentHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(p.ua, sipgo.WithServerLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	p.dg = diago.NewDiago(p.ua,
		diago.WithServer(srv),
		diago.WithLogger(log),
		diago.WithTransport(diago.Transport{Transport: "udp", BindHost: "127.0.0.1", BindPort: p.Port}),
		// PCMU only, so decoding what we hear needs one decoder.
		diago.WithMediaConfig(diago.MediaConfig{Codecs: []media.Codec{media.CodecAudioUlaw, media.CodecTelephoneEvent8000}}),
	)
	// diago answers NOTIFYs outside its dialogs with 481; ours are MWI.
	srv.OnNotify(p.handleNotify)

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		p.ua.Close()
		logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(p.LogPath)
			t.Logf("go phone %s log (%s):\n%s", user, p.LogPath, b)
		}
	})
	if err := p.dg.ServeBackground(ctx, func(d *diago.DialogServerSession) {
		if !p.answering.Load() {
			_ = d.Respond(sip.StatusBusyHere, "Busy Here", nil) // this phone only calls out
			return
		}
		if err := d.Answer(); err != nil {
			return
		}
		r, err := d.AudioReaderDTMF()
		if err != nil {
			return
		}
		_ = r.Listen(func(digit rune) error {
			select {
			case p.digits <- digit:
			default:
			}
			return nil
		}, 0) // until the call ends
	}); err != nil {
		t.Fatalf("go phone %s: listening on 127.0.0.1:%d: %v", user, p.Port, err)
	}
	// Out-of-dialog requests leave from the listening socket, so the PBX
	// sends its NOTIFYs back to where we listen.
	p.client, err = sipgo.NewClient(p.ua, sipgo.WithClientHostname("127.0.0.1"),
		sipgo.WithClientConnectionAddr(net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port))))
	if err != nil {
		t.Fatal(err)
	}
	// diago reports the listener ready before sipgo can send through it; a
	// call placed at once would try to bind the same address again.
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port))
	ready, cancelReady := context.WithTimeout(ctx, 2*time.Second)
	defer cancelReady()
	if err := trunk.AwaitListener(ready, p.ua.TransportLayer(), addr); err != nil {
		t.Fatalf("go phone %s: %v", user, err)
	}
	return p
}

func (p *goPhone) handleNotify(req *sip.Request, tx sip.ServerTransaction) {
	_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
	n := mwiNotify{At: time.Now(), CallID: req.CallID().Value(), Body: string(req.Body())}
	if h := req.GetHeader("Event"); h != nil {
		n.Event = h.Value()
	}
	if h := req.GetHeader("Subscription-State"); h != nil {
		n.SubscriptionState = h.Value()
	}
	if h := req.ContentType(); h != nil {
		n.ContentType = h.Value()
	}
	select {
	case p.notifies <- n:
	default:
	}
}

// aor is sip:USER@PBX-HOST.
func (p *goPhone) aor(user string) sip.Uri {
	return sip.Uri{Scheme: "sip", User: user, Host: p.server.Host}
}

// Subscribe SUBSCRIBEs to message-summary for the phone's own extension. It
// expects a 401 challenge first and returns the status of the authenticated
// retry (200 when subscribed).
// AnswerCalls registers the phone as its extension and makes it answer
// the calls it gets; digits heard as RFC 4733 events then arrive on p.digits.
func (p *goPhone) AnswerCalls() {
	p.t.Helper()
	p.digits = make(chan rune, 32)
	p.answering.Store(true)
	recipient := p.server
	req := sip.NewRequest(sip.REGISTER, recipient)
	req.AppendHeader(&sip.FromHeader{Address: p.aor(p.user), Params: sip.NewParams()})
	req.AppendHeader(&sip.ToHeader{Address: p.aor(p.user), Params: sip.NewParams()})
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: p.user, Host: "127.0.0.1", Port: p.Port}})
	req.AppendHeader(sip.NewHeader("Expires", "300"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := p.client.Do(ctx, req)
	if err == nil && res.StatusCode == sip.StatusUnauthorized {
		res, err = p.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: p.user, Password: p.password})
	}
	if err != nil || res.StatusCode != sip.StatusOK {
		p.t.Fatalf("go phone %s: REGISTER: %v %v", p.user, res, err)
	}
}

// WaitDigits collects n digits the phone heard, or fails after timeout.
func (p *goPhone) WaitDigits(n int, timeout time.Duration) string {
	p.t.Helper()
	var got []rune
	deadline := time.After(timeout)
	for len(got) < n {
		select {
		case d := <-p.digits:
			got = append(got, d)
		case <-deadline:
			p.t.Fatalf("go phone %s heard digits %q, want %d", p.user, string(got), n)
		}
	}
	return string(got)
}

func (p *goPhone) Subscribe(expires int) int {
	p.t.Helper()
	recipient := p.server
	recipient.User = p.user
	req := sip.NewRequest(sip.SUBSCRIBE, recipient)
	from := &sip.FromHeader{Address: p.aor(p.user), Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: p.aor(p.user), Params: sip.NewParams()})
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: p.user, Host: "127.0.0.1", Port: p.Port}})
	req.AppendHeader(sip.NewHeader("Event", "message-summary"))
	req.AppendHeader(sip.NewHeader("Accept", "application/simple-message-summary"))
	req.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(expires)))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := p.client.Do(ctx, req)
	if err != nil {
		p.t.Fatalf("go phone %s: SUBSCRIBE: %v", p.user, err)
	}
	if res.StatusCode != sip.StatusUnauthorized {
		p.t.Fatalf("go phone %s: SUBSCRIBE without credentials answered %d %s, want a 401 challenge", p.user, res.StatusCode, res.Reason)
	}
	res, err = p.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: p.user, Password: p.password})
	if err != nil {
		p.t.Fatalf("go phone %s: SUBSCRIBE with credentials: %v", p.user, err)
	}
	p.t.Logf("go phone %s: SUBSCRIBE message-summary: %d %s (Expires %s)", p.user, res.StatusCode, res.Reason, headerOf(res, "Expires"))
	return res.StatusCode
}

func headerOf(m *sip.Response, name string) string {
	if h := m.GetHeader(name); h != nil {
		return h.Value()
	}
	return ""
}

// WaitNotify returns the next NOTIFY that satisfies ok, failing the test if
// none arrives within timeout. NOTIFYs that don't match are logged and
// skipped.
func (p *goPhone) WaitNotify(what string, timeout time.Duration, ok func(mwiNotify) bool) mwiNotify {
	p.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case n := <-p.notifies:
			if ok(n) {
				p.t.Logf("go phone %s: NOTIFY (%s): %q", p.user, n.SubscriptionState, n.Body)
				return n
			}
			p.t.Logf("go phone %s: NOTIFY skipped while waiting for %s: %q", p.user, what, n.Body)
		case <-deadline:
			p.t.Fatalf("go phone %s: no NOTIFY with %s within %v", p.user, what, timeout)
		}
	}
}

// goCall is an answered call from a goPhone. It sends silence (and the keys
// pressed) and keeps every sample it hears.
type goCall struct {
	p *goPhone
	d *diago.DialogClientSession

	dtmf *diago.DTMFWriter
	stop chan struct{}
	done sync.WaitGroup

	mu     sync.Mutex
	heard  []int16 // decoded PCMU received, 8 kHz
	hungUp bool    // we sent BYE
}

// Dial calls number at the PBX and waits until it answers.
func (p *goPhone) Dial(number string) *goCall {
	p.t.Helper()
	c, err := p.tryDial(number)
	if err != nil {
		p.t.Fatalf("go phone %s: calling %s: %v", p.user, number, err)
	}
	return c
}

func (p *goPhone) tryDial(number string) (*goCall, error) {
	c, err := p.invite(number, 10*time.Second, func(c *goCall) { c.send() })
	if err == nil {
		p.t.Logf("go phone %s: call to %s answered", p.user, number)
	}
	return c, err
}

// invite calls number, waits (at most timeout) for the answer, and runs the
// receiver and send (which writes the call's audio until c.stop) as the
// call's two goroutines.
func (p *goPhone) invite(number string, timeout time.Duration, send func(c *goCall)) (*goCall, error) {
	return p.inviteAs(p.aor(p.user), number, timeout, send)
}

// inviteAs is invite with the From address of our choosing (the digest
// credentials stay the phone's own).
func (p *goPhone) inviteAs(from sip.Uri, number string, timeout time.Duration, send func(c *goCall)) (*goCall, error) {
	recipient := p.server
	recipient.User = number
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	d, err := p.dg.Invite(ctx, recipient, diago.InviteOptions{
		Username: p.user, Password: p.password,
		Headers: []sip.Header{&sip.FromHeader{Address: from, Params: sip.NewParams()}},
	})
	if err != nil {
		return nil, err
	}
	c := &goCall{p: p, d: d, stop: make(chan struct{})}
	if c.dtmf, err = d.AudioWriterDTMF(); err != nil {
		d.Close()
		return nil, err
	}
	r, err := d.AudioReader()
	if err != nil {
		d.Close()
		return nil, err
	}
	p.t.Cleanup(c.close)
	c.done.Add(2)
	go c.receive(r)
	go func() {
		defer c.done.Done()
		send(c)
	}()
	return c, nil
}

// receive decodes the PCMU the PBX sends until the call ends.
func (c *goCall) receive(r interface{ Read([]byte) (int, error) }) {
	defer c.done.Done()
	buf := make([]byte, media.RTPBufSize)
	for {
		n, err := r.Read(buf)
		if err != nil {
			return
		}
		if c.d.RTPPacketReader.PacketHeader.PayloadType != media.CodecAudioUlaw.PayloadType {
			continue
		}
		c.mu.Lock()
		for _, b := range buf[:n] {
			c.heard = append(c.heard, ulawToLinear(b))
		}
		c.mu.Unlock()
	}
}

// send sends 20 ms of PCMU silence every 20 ms, as a phone with a muted
// microphone does; key presses are interleaved by the DTMF writer.
func (c *goCall) send() {
	silence := make([]byte, 160)
	for i := range silence {
		silence[i] = 0xFF // PCMU zero
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-c.d.Context().Done():
			return
		case <-tick.C:
			if _, err := c.dtmf.Write(silence); err != nil {
				return
			}
		}
	}
}

// Press sends keys as RFC 4733 telephone-events, one after the other (each
// takes 140 ms on the wire).
func (c *goCall) Press(keys string) {
	c.p.t.Helper()
	c.p.t.Logf("go phone %s: pressing %q", c.p.user, keys)
	for _, k := range keys {
		if err := c.dtmf.WriteDTMF(k); err != nil {
			if c.Ended() {
				// The key may well have ended the call (its end
				// packets go first; the retransmissions then fail).
				c.p.t.Logf("go phone %s: call ended while sending %q: %v", c.p.user, k, err)
				return
			}
			c.p.t.Fatalf("go phone %s: sending DTMF %q: %v", c.p.user, k, err)
		}
	}
}

// HeardSamples returns how many samples have been received so far: a mark
// in the received audio.
func (c *goCall) HeardSamples() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.heard)
}

// Heard returns the audio received from sample from on.
func (c *goCall) Heard(from int) wavAudio {
	c.mu.Lock()
	defer c.mu.Unlock()
	return wavAudio{SampleRate: 8000, Samples: append([]int16(nil), c.heard[min(from, len(c.heard)):]...)}
}

// WaitRemoteHangup waits for the PBX to end the call (its BYE) and reports
// whether it did within timeout.
func (c *goCall) WaitRemoteHangup(timeout time.Duration) bool {
	select {
	case <-c.d.Context().Done():
		c.mu.Lock()
		defer c.mu.Unlock()
		return !c.hungUp
	case <-time.After(timeout):
		return false
	}
}

// Ended reports whether the call is over.
func (c *goCall) Ended() bool {
	return c.d.Context().Err() != nil
}

// Hangup sends BYE (if the call is still up) and releases the media.
func (c *goCall) Hangup() {
	c.p.t.Helper()
	if !c.Ended() {
		c.mu.Lock()
		c.hungUp = true
		c.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.d.Hangup(ctx); err != nil {
			c.p.t.Logf("go phone %s: BYE: %v", c.p.user, err)
		}
	}
	c.close()
}

func (c *goCall) close() {
	select {
	case <-c.stop:
		return
	default:
	}
	close(c.stop)
	_ = c.d.Close()
	c.done.Wait()
}

// ulawToLinear decodes one G.711 mu-law byte (ITU-T G.711).
func ulawToLinear(u byte) int16 {
	u = ^u
	t := (int16(u&0x0f) << 3) + 0x84
	t <<= (u & 0x70) >> 4
	if u&0x80 != 0 {
		return 0x84 - t
	}
	return t - 0x84
}

// toneSeconds returns how much of the audio is dominated by hz: the total
// length of the 100 ms windows whose energy is mostly at hz.
func toneSeconds(w wavAudio, hz float64) time.Duration {
	win := w.SampleRate / 10
	var n int
	for start := 0; start+win <= len(w.Samples); start += win {
		a := analyzeTones(wavAudio{SampleRate: w.SampleRate, Samples: w.Samples[start : start+win]}, []float64{hz})
		if a.Active > 0 && a.Share[hz] > 0.6 {
			n++
		}
	}
	return time.Duration(n) * 100 * time.Millisecond
}

func (c *goCall) String() string { return fmt.Sprintf("call %s", c.d.InviteRequest.CallID().Value()) }

// PressInfo sends keys as SIP INFO (application/dtmf-relay), as phones do
// that don't send RFC 4733 events.
func (c *goCall) PressInfo(keys string) {
	c.p.t.Helper()
	c.p.t.Logf("go phone %s: pressing %q as SIP INFO", c.p.user, keys)
	for _, k := range keys {
		req := sip.NewRequest(sip.INFO, c.d.InviteResponse.Contact().Address)
		req.AppendHeader(sip.NewHeader("Content-Type", "application/dtmf-relay"))
		req.SetBody([]byte("Signal=" + string(k) + "\r\nDuration=160\r\n"))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res, err := c.d.Do(ctx, req)
		cancel()
		if err != nil || res.StatusCode != sip.StatusOK {
			c.p.t.Fatalf("go phone %s: INFO %q: %v %v", c.p.user, k, res, err)
		}
	}
}
