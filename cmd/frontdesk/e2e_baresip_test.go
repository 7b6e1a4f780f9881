package main

// End-to-end call tests with real softphones: two baresip processes
// register with frontdesk and call each other through it. Each phone
// "speaks" a different sine tone and records what it hears, so the tests
// can prove that audio flowed in both directions through the PBX's RTP
// relay, not just that signalling succeeded.
//
// baresip (Debian package, 1.0.0) is driven headless:
//   - ctrl_tcp: JSON commands/events as netstrings on a loopback TCP port;
//     commands are the long menu commands (dial, accept, hangup, reginfo).
//   - aufile: audio source playing our generated tone WAV (1.0.0's aufile
//     is a source only; it does not loop, so the WAV is long).
//   - sndfile: audio filter dumping the encoded (sent) and decoded
//     (received) audio of each call to WAV files in snd_path.
//   - aubridge as player and alert device: the audio stream needs some
//     auplay to start, and an aubridge device without a matching source
//     never runs, so it needs no sound card and burns no CPU (ALSA's "null"
//     PCM works too, but its player thread busy-loops). Received
//     audio is recorded by the sndfile filter, before the player.
// Everything binds to 127.0.0.1 (sip_listen, net_interface, ctrl_tcp,
// dns_server), so nothing touches the real network.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	aliceToneHz = 440.0  // tone sent by the first phone (caller)
	bobToneHz   = 1000.0 // tone sent by the second phone (callee)

	// toneSampleRate is the rate of the generated WAVs. aufile requires the
	// file to match the source rate, which the config pins to 8 kHz (the
	// G.711 rate, so baresip never resamples).
	toneSampleRate = 8000
	// toneLength must exceed any call in these tests: aufile stops at the
	// end of the file instead of looping.
	toneLength = 60 * time.Second

	phoneTimeout = 10 * time.Second // for any single signalling step
)

// phoneConfig describes one baresip instance.
type phoneConfig struct {
	Name     string // label used in logs, e.g. "alice"
	User     string // SIP user part, e.g. extension "101"
	Password string // digest secret (auth_pass); empty for none
	// Registrar is the PBX's "host:port". The account's AOR is then
	// sip:User@Registrar and the phone REGISTERs there. If empty, the phone
	// works peer-to-peer: AOR on its own listen address, no REGISTER.
	Registrar string
	Transport string  // "udp" (default) or "tcp"
	ToneHz    float64 // frequency of the tone the phone sends
	// SourceWAV, if set, is played as the microphone instead of the tone:
	// an 8 kHz mono 16-bit WAV, longer than any call (aufile does not loop).
	SourceWAV string
}

// baresipPhone is a running baresip process controlled over ctrl_tcp.
type baresipPhone struct {
	t   testing.TB
	cfg phoneConfig

	Dir       string // config directory (config, accounts, tone WAV)
	RecordDir string // sndfile output directory
	LogPath   string // baresip stdout+stderr, including the SIP trace (-s)
	SIPPort   int    // UDP and TCP listen port on 127.0.0.1

	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has exited
	waitErr error         // valid after exited is closed

	conn    net.Conn
	msgs    <-chan ctrlMessage // decoded messages from the reader goroutine
	readErr <-chan error       // the reader's terminal error
	connErr error              // set once the connection is gone
	pending []ctrlMessage      // events read while waiting for a response
	history []ctrlMessage      // every event consumed, for failure logs
	tokens  int
}

// ctrlMessage is a ctrl_tcp message: either a command response
// (Response=true) or a UA event (Event=true).
type ctrlMessage struct {
	Event    bool `json:"event"`
	Response bool `json:"response"`

	// Response fields.
	OK    bool   `json:"ok"`
	Data  string `json:"data"`
	Token string `json:"token"`

	// Event fields.
	Class      string `json:"class"`
	Type       string `json:"type"`
	Param      string `json:"param"`
	AccountAOR string `json:"accountaor"`
	Direction  string `json:"direction"`
	PeerURI    string `json:"peeruri"`
	ID         string `json:"id"`
}

func (m ctrlMessage) String() string {
	return fmt.Sprintf("%s param=%q account=%q dir=%q peer=%q id=%q",
		m.Type, m.Param, m.AccountAOR, m.Direction, m.PeerURI, m.ID)
}

// startBaresip writes a config for cfg, starts baresip and connects to its
// control port. The process is stopped by t.Cleanup, which also prints its
// log and events if the test failed.
func startBaresip(t testing.TB, cfg phoneConfig) *baresipPhone {
	t.Helper()
	bin, err := exec.LookPath("baresip")
	if err != nil {
		t.Fatalf("baresip not found in PATH (%v); `make test` installs it (Debian package baresip)", err)
	}
	// Where distributions install baresip modules.
	moduleDirs := []string{
		"/usr/lib/baresip/modules",
		"/usr/lib/x86_64-linux-gnu/baresip/modules",
		"/usr/local/lib/baresip/modules",
	}
	moduleDir := ""
	for _, d := range moduleDirs {
		if _, err := os.Stat(filepath.Join(d, "ctrl_tcp.so")); err == nil {
			moduleDir = d
			break
		}
	}
	if moduleDir == "" {
		t.Fatalf("baresip modules (ctrl_tcp.so) not found in %v; `make test` installs them (Debian package baresip)",
			moduleDirs)
	}
	if cfg.Transport == "" {
		cfg.Transport = "udp"
	}
	if cfg.Transport != "udp" && cfg.Transport != "tcp" {
		t.Fatalf("phone %s: unsupported transport %q", cfg.Name, cfg.Transport)
	}

	sipPort, ctrlPort := phonePorts(t)
	p := &baresipPhone{
		t:       t,
		cfg:     cfg,
		Dir:     t.TempDir(),
		SIPPort: sipPort,
		exited:  make(chan struct{}),
	}
	p.RecordDir = filepath.Join(p.Dir, "recordings")
	p.LogPath = filepath.Join(p.Dir, "baresip.log")
	if err := p.writeConfig(moduleDir, ctrlPort); err != nil {
		t.Fatalf("phone %s: %v", cfg.Name, err)
	}

	logFile, err := os.Create(p.LogPath)
	if err != nil {
		t.Fatalf("phone %s: creating log: %v", cfg.Name, err)
	}
	// -f: our config dir instead of ~/.baresip; -s: SIP trace in the log.
	// stdin is /dev/null and the stdio UI module is not loaded, so baresip
	// needs no terminal.
	p.cmd = exec.Command(bin, "-f", p.Dir, "-s")
	p.cmd.Stdout = logFile
	p.cmd.Stderr = logFile
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("phone %s: starting baresip: %v", cfg.Name, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			p.dumpLog()
		}
	})

	if err := p.connect(ctrlPort, phoneTimeout); err != nil {
		t.Fatalf("phone %s: %v", cfg.Name, err)
	}
	return p
}

// phonePorts returns a SIP port and a control port for one baresip. Besides
// UDP and TCP on the SIP port, baresip 1.0.0 listens for SIP over TLS on
// the SIP port + 1 and fails to start if that port is taken, so it must be
// free too.
func phonePorts(t testing.TB) (sipPort, ctrlPort int) {
	t.Helper()
	for range 100 {
		ports := freePorts(t, 2)
		if ports[1] == ports[0]+1 {
			continue
		}
		tls, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]+1)))
		if err != nil {
			continue
		}
		tls.Close()
		return ports[0], ports[1]
	}
	t.Fatalf("no free SIP port with a free TLS port after it on 127.0.0.1")
	return 0, 0
}

// writeConfig writes the tone WAV, the config file and the accounts file.
func (p *baresipPhone) writeConfig(moduleDir string, ctrlPort int) error {
	if err := os.MkdirAll(p.RecordDir, 0o755); err != nil {
		return fmt.Errorf("creating recording dir: %w", err)
	}
	tonePath := filepath.Join(p.Dir, "tone.wav")
	if p.cfg.SourceWAV != "" {
		tonePath = p.cfg.SourceWAV
	} else if err := writeToneWAV(tonePath, p.cfg.ToneHz, toneSampleRate, toneLength); err != nil {
		return err
	}
	config := strings.Join([]string{
		"poll_method epoll",
		fmt.Sprintf("sip_listen 127.0.0.1:%d", p.SIPPort),
		// Use loopback as "the" local address (SDP c= line, Contact);
		// otherwise baresip picks the first real interface.
		"net_interface 127.0.0.1",
		// Targets are IP literals, so no DNS is needed; should anything try,
		// it fails fast on loopback instead of timing out on the network.
		"dns_server 127.0.0.1:53",
		"call_local_timeout 120",
		"call_max_calls 4",
		"audio_player aubridge,nullplayer",
		"audio_alert aubridge,nullalert",
		"audio_source aufile," + tonePath,
		fmt.Sprintf("ausrc_srate %d", toneSampleRate),
		"ausrc_channels 1",
		fmt.Sprintf("auplay_srate %d", toneSampleRate),
		"auplay_channels 1",
		"audio_buffer 20-160",
		"rtp_ports " + phoneRTPRange,
		"rtcp_mux no",
		"jitter_buffer_delay 5-10",
		"module_path " + moduleDir,
		"module g711.so",
		"module sndfile.so",
		"module aufile.so",
		"module aubridge.so",
		"module_tmp account.so",
		"module_app menu.so", // provides the dial/accept/hangup commands
		"module_app ctrl_tcp.so",
		fmt.Sprintf("ctrl_tcp_listen 127.0.0.1:%d", ctrlPort),
		"snd_path " + p.RecordDir,
		"ringback_disabled yes",
		"statmode_default off", // no periodic call-status line in the log
		"",
	}, "\n")
	if err := os.WriteFile(filepath.Join(p.Dir, "config"), []byte(config), 0o644); err != nil {
		return fmt.Errorf("writing baresip config: %w", err)
	}

	// One account. answermode=manual so that tests decide when to answer.
	var account string
	if p.cfg.Registrar != "" {
		account = fmt.Sprintf("<sip:%s@%s;transport=%s>;regint=300", p.cfg.User, p.cfg.Registrar, p.cfg.Transport)
	} else {
		account = fmt.Sprintf("<sip:%s@127.0.0.1:%d;transport=%s>;regint=0", p.cfg.User, p.SIPPort, p.cfg.Transport)
	}
	if p.cfg.Password != "" {
		account += ";auth_pass=" + p.cfg.Password
	}
	account += ";audio_codecs=PCMU,PCMA;answermode=manual\n"
	if err := os.WriteFile(filepath.Join(p.Dir, "accounts"), []byte(account), 0o600); err != nil {
		return fmt.Errorf("writing baresip accounts: %w", err)
	}
	return nil
}

// connect dials the ctrl_tcp port (retrying while baresip starts up) and
// starts the reader goroutine.
func (p *baresipPhone) connect(port int, timeout time.Duration) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			p.conn = conn
			break
		}
		select {
		case <-p.exited:
			return fmt.Errorf("baresip exited during startup (%v)", p.waitErr)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("connecting to ctrl_tcp at %s: %w", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	msgs := make(chan ctrlMessage, 1024)
	readErr := make(chan error, 1)
	p.msgs, p.readErr = msgs, readErr
	go readCtrlMessages(p.conn, msgs, readErr)
	return nil
}

// readCtrlMessages decodes netstring-framed JSON ("LEN:{...},") from r
// until it fails, then reports the error and closes msgs.
func readCtrlMessages(r io.Reader, msgs chan<- ctrlMessage, readErr chan<- error) {
	defer close(msgs)
	br := bufio.NewReader(r)
	for {
		lenStr, err := br.ReadString(':')
		if err != nil {
			readErr <- fmt.Errorf("reading netstring length: %w", err)
			return
		}
		n, err := strconv.Atoi(strings.TrimSuffix(lenStr, ":"))
		if err != nil || n < 0 {
			readErr <- fmt.Errorf("bad netstring length %q", lenStr)
			return
		}
		buf := make([]byte, n+1) // payload plus the trailing ','
		if _, err := io.ReadFull(br, buf); err != nil {
			readErr <- fmt.Errorf("reading netstring payload: %w", err)
			return
		}
		if buf[n] != ',' {
			readErr <- fmt.Errorf("netstring not terminated by ',': %q", buf)
			return
		}
		var m ctrlMessage
		if err := json.Unmarshal(buf[:n], &m); err != nil {
			readErr <- fmt.Errorf("decoding ctrl_tcp message %q: %w", buf[:n], err)
			return
		}
		msgs <- m
	}
}

// next returns the next message from baresip, or an error if none arrives
// before deadline or the connection is gone.
func (p *baresipPhone) next(deadline time.Time) (ctrlMessage, error) {
	if p.connErr != nil {
		return ctrlMessage{}, p.connErr
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case m, ok := <-p.msgs:
		if !ok {
			p.connErr = fmt.Errorf("ctrl_tcp connection lost (baresip exited?): %w", <-p.readErr)
			return ctrlMessage{}, p.connErr
		}
		return m, nil
	case <-timer.C:
		return ctrlMessage{}, errors.New("timed out")
	}
}

// command runs a baresip long command (as typed after '/' in the console)
// and returns its textual output.
func (p *baresipPhone) command(name, params string) (string, error) {
	p.tokens++
	token := fmt.Sprintf("t%d", p.tokens)
	req := map[string]string{"command": name, "token": token}
	if params != "" {
		req["params"] = params
	}
	body, err := json.Marshal(req)
	if err != nil {
		return "", err
	}
	frame := fmt.Sprintf("%d:%s,", len(body), body)
	p.conn.SetWriteDeadline(time.Now().Add(phoneTimeout))
	if _, err := io.WriteString(p.conn, frame); err != nil {
		return "", fmt.Errorf("sending %q: %w", name, err)
	}
	deadline := time.Now().Add(phoneTimeout)
	for {
		m, err := p.next(deadline)
		if err != nil {
			return "", fmt.Errorf("waiting for response to %q: %w", name, err)
		}
		switch {
		case m.Event:
			p.pending = append(p.pending, m) // for the next waitEvent
		case m.Response && m.Token == token:
			if !m.OK {
				return m.Data, fmt.Errorf("command %q %q failed: %s", name, params, m.Data)
			}
			return m.Data, nil
		}
	}
}

// mustCommand is command that fails the test on error.
func (p *baresipPhone) mustCommand(name, params string) string {
	p.t.Helper()
	out, err := p.command(name, params)
	if err != nil {
		p.t.Fatalf("phone %s: %v", p.cfg.Name, err)
	}
	return out
}

// nextEvent returns the next UA event, pending ones first.
func (p *baresipPhone) nextEvent(deadline time.Time) (ctrlMessage, error) {
	for {
		var m ctrlMessage
		if len(p.pending) > 0 {
			m, p.pending = p.pending[0], p.pending[1:]
		} else {
			var err error
			if m, err = p.next(deadline); err != nil {
				return m, err
			}
		}
		if m.Event {
			p.history = append(p.history, m)
			return m, nil
		}
		// Stray responses (e.g. to a timed-out command) are ignored.
	}
}

// waitEvent consumes events until one of type want arrives. It fails the
// test if one of the failOn types arrives first or on timeout.
func (p *baresipPhone) waitEvent(want string, failOn ...string) ctrlMessage {
	p.t.Helper()
	deadline := time.Now().Add(phoneTimeout)
	for {
		m, err := p.nextEvent(deadline)
		if err != nil {
			p.t.Fatalf("phone %s: waiting for %s: %v", p.cfg.Name, want, err)
		}
		if m.Type == want {
			p.t.Logf("phone %s: %v", p.cfg.Name, m)
			return m
		}
		for _, bad := range failOn {
			if m.Type == bad {
				p.t.Fatalf("phone %s: waiting for %s, got %v", p.cfg.Name, want, m)
			}
		}
	}
}

// URI is the SIP URI on which this phone can be called directly (without
// a PBX). It carries no transport parameter: baresip appends the calling
// account's own ";transport=" to the dialled URI.
func (p *baresipPhone) URI() string {
	return fmt.Sprintf("sip:%s@127.0.0.1:%d", p.cfg.User, p.SIPPort)
}

// WaitRegistered waits until the account is registered with the registrar.
// REGISTER usually completes before we are connected to ctrl_tcp (whose
// events are not queued for late clients), so besides REGISTER_OK events
// the registration state is polled with the "reginfo" command.
func (p *baresipPhone) WaitRegistered() {
	p.t.Helper()
	if p.cfg.Registrar == "" {
		p.t.Fatalf("phone %s: WaitRegistered on a peer-to-peer phone (no registrar)", p.cfg.Name)
	}
	deadline := time.Now().Add(phoneTimeout)
	for {
		// Drain events so that a REGISTER_FAIL is reported with its reason.
		for {
			m, err := p.nextEvent(time.Now().Add(100 * time.Millisecond))
			if err != nil {
				break
			}
			switch m.Type {
			case "REGISTER_OK":
				p.t.Logf("phone %s: %v", p.cfg.Name, m)
				return
			case "REGISTER_FAIL":
				p.t.Fatalf("phone %s: registration failed: %v", p.cfg.Name, m)
			}
		}
		info := p.mustCommand("reginfo", "")
		switch registrationState(info) {
		case "OK":
			p.t.Logf("phone %s: registered: %s", p.cfg.Name, strings.TrimSpace(info))
			return
		case "ERR":
			// A final failure (e.g. 403, or a challenge baresip cannot
			// answer); baresip only retries much later. Its log, printed
			// on failure, holds the SIP trace.
			p.t.Fatalf("phone %s: registration failed; reginfo says:\n%s", p.cfg.Name, info)
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("phone %s: not registered after %v; reginfo says:\n%s", p.cfg.Name, phoneTimeout, info)
		}
	}
}

// registrationState extracts the status of the (single) UA from baresip's
// reginfo output. baresip 1.0.0 prints one line per UA, with colour codes:
// "> sip:101@127.0.0.1:5060   \x1b[32mOK \x1b[;m  Expires 300s" once
// registered, "ERR" after a failure, "zzz" while unregistered. It returns
// "" if there is no UA line.
func registrationState(reginfo string) string {
	ansiEscape := regexp.MustCompile(`\x1b\[[0-9;]*m`) // e.g. "\x1b[32m"
	plain := ansiEscape.ReplaceAllString(reginfo, "")
	for _, line := range strings.Split(plain, "\n") {
		if fields := strings.Fields(line); len(fields) >= 3 && fields[0] == ">" {
			return fields[2]
		}
	}
	return ""
}

// Dial places a call to uri.
func (p *baresipPhone) Dial(uri string) {
	p.t.Helper()
	p.t.Logf("phone %s: dialling %s", p.cfg.Name, uri)
	p.mustCommand("dial", uri)
}

// WaitIncoming waits for an incoming call and returns its event.
func (p *baresipPhone) WaitIncoming() ctrlMessage {
	p.t.Helper()
	return p.waitEvent("CALL_INCOMING", "CALL_CLOSED")
}

// Accept answers the current incoming call.
func (p *baresipPhone) Accept() {
	p.t.Helper()
	p.mustCommand("accept", "")
}

// WaitEstablished waits until the call is answered (200 OK/ACK done).
func (p *baresipPhone) WaitEstablished() ctrlMessage {
	p.t.Helper()
	return p.waitEvent("CALL_ESTABLISHED", "CALL_CLOSED")
}

// Hangup ends the current call (BYE, or CANCEL before answer).
func (p *baresipPhone) Hangup() {
	p.t.Helper()
	p.t.Logf("phone %s: hanging up", p.cfg.Name)
	p.mustCommand("hangup", "")
}

// WaitClosed waits until the call is over and returns the CALL_CLOSED
// event (Param holds the reason).
func (p *baresipPhone) WaitClosed() ctrlMessage {
	p.t.Helper()
	return p.waitEvent("CALL_CLOSED")
}

// Reject declines the current incoming call before answering it. It is
// the "hangup" command: baresip 1.0.0 answers a call that is still
// ringing with "486 Rejected".
func (p *baresipPhone) Reject() {
	p.t.Helper()
	p.t.Logf("phone %s: rejecting the incoming call", p.cfg.Name)
	p.mustCommand("hangup", "")
}

// WaitRinging waits until an outgoing call is ringing at the far end (a
// 180 Ringing reached the phone).
func (p *baresipPhone) WaitRinging() ctrlMessage {
	p.t.Helper()
	return p.waitEvent("CALL_RINGING", "CALL_CLOSED")
}

// Hold puts the current call on hold: baresip sends a re-INVITE whose SDP
// has a=sendonly.
func (p *baresipPhone) Hold() {
	p.t.Helper()
	p.t.Logf("phone %s: putting the call on hold", p.cfg.Name)
	p.mustCommand("hold", "")
}

// Resume takes the current call off hold: a re-INVITE with a=sendrecv.
func (p *baresipPhone) Resume() {
	p.t.Helper()
	p.t.Logf("phone %s: resuming the call", p.cfg.Name)
	p.mustCommand("resume", "")
}

// audioStats is what baresip's audio_debug command reports about the
// current call's audio stream.
type audioStats struct {
	// RxTime is how much audio the phone has decoded from the RTP it
	// received, TxTime how much it has encoded (baresip 1.0.0 keeps
	// encoding while it does not send, e.g. on hold).
	RxTime, TxTime time.Duration
	// RxPackets counts the RTP packets received from all remote sources
	// (RTCP member "rcvd"), TxPackets the RTP packets sent.
	RxPackets, TxPackets int
	// RxPipeline is the receive pipeline, e.g. "aubridge <--- sndfile <--- PCMU".
	RxPipeline string
}

// AudioStats returns the current call's audio statistics. Unlike the
// sndfile recordings they keep working after a re-INVITE: baresip 1.0.0
// rebuilds its receive pipeline without the sndfile filter when it
// processes one (hold, resume), so nothing received afterwards is
// recorded.
func (p *baresipPhone) AudioStats() audioStats {
	p.t.Helper()
	out := p.mustCommand("audio_debug", "")
	var st audioStats
	times := regexp.MustCompile(`(?m)^\s*time = ([0-9.]+) sec`).FindAllStringSubmatch(out, -1)
	if len(times) != 2 {
		p.t.Fatalf("phone %s: audio_debug shows %d \"time =\" lines, want 2 (tx, rx):\n%s", p.cfg.Name, len(times), out)
	}
	for i, d := range []*time.Duration{&st.TxTime, &st.RxTime} {
		secs, err := strconv.ParseFloat(times[i][1], 64)
		if err != nil {
			p.t.Fatalf("phone %s: audio_debug: %v", p.cfg.Name, err)
		}
		*d = time.Duration(secs * float64(time.Second))
	}
	for _, m := range regexp.MustCompile(`\brcvd=(\d+)`).FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(m[1])
		st.RxPackets += n
	}
	if m := regexp.MustCompile(`\bTX: packets=(\d+)`).FindStringSubmatch(out); m != nil {
		st.TxPackets, _ = strconv.Atoi(m[1])
	}
	if m := regexp.MustCompile(`(?m)audio rx pipeline:\s*(.*?)\s*$`).FindStringSubmatch(out); m != nil {
		st.RxPipeline = m[1]
	}
	return st
}

// sipTraceMessage is one SIP message from a phone's SIP trace.
type sipTraceMessage struct {
	Transport string // "udp", "tcp"
	Src, Dst  string // "127.0.0.1:PORT"
	StartLine string // "INVITE sip:... SIP/2.0" or "SIP/2.0 200 OK"
	Headers   []string
	Body      string
}

// IsRequest reports whether the message is a request of the given method.
func (m sipTraceMessage) IsRequest(method string) bool {
	return strings.HasPrefix(m.StartLine, method+" ")
}

// StatusCode is the status code of a response, or 0 for a request.
func (m sipTraceMessage) StatusCode() int {
	rest, ok := strings.CutPrefix(m.StartLine, "SIP/2.0 ")
	if !ok {
		return 0
	}
	code, _, _ := strings.Cut(rest, " ")
	n, _ := strconv.Atoi(code)
	return n
}

// Header returns the value of the first header with the given name (case
// insensitive; the compact form is accepted too), or "".
func (m sipTraceMessage) Header(name string) string {
	compact := map[string]string{
		"from": "f", "to": "t", "call-id": "i", "contact": "m", "via": "v",
		"content-type": "c", "content-length": "l",
	}[strings.ToLower(name)]
	for _, h := range m.Headers {
		n, v, ok := strings.Cut(h, ":")
		if !ok {
			continue
		}
		n = strings.TrimSpace(n)
		if strings.EqualFold(n, name) || (compact != "" && strings.EqualFold(n, compact)) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// CSeqMethod is the method named in the CSeq header ("INVITE", "BYE", ...).
func (m sipTraceMessage) CSeqMethod() string {
	f := strings.Fields(m.Header("CSeq"))
	if len(f) != 2 {
		return ""
	}
	return f[1]
}

func (m sipTraceMessage) String() string {
	return fmt.Sprintf("%s %s -> %s: %s", strings.ToUpper(m.Transport), m.Src, m.Dst, m.StartLine)
}

// SIPTrace parses the phone's SIP trace (baresip -s) into messages, in
// the order they were sent or received. baresip 1.0.0 prints each one as
// a "TRANSPORT SRC -> DST" line, the message (CRLF line ends, blank line,
// body) and an ANSI colour reset.
func (p *baresipPhone) SIPTrace() []sipTraceMessage {
	p.t.Helper()
	log, err := os.ReadFile(p.LogPath)
	if err != nil {
		p.t.Fatalf("phone %s: reading log: %v", p.cfg.Name, err)
	}
	ansiEscape := regexp.MustCompile(`\x1b\[[0-9;]*m`)
	hop := regexp.MustCompile(`^(UDP|TCP|TLS) (\S+) -> (\S+)$`)
	var (
		out    []sipTraceMessage
		cur    *sipTraceMessage
		inBody bool
	)
	flush := func() {
		if cur != nil && cur.StartLine != "" {
			out = append(out, *cur)
		}
		cur = nil
	}
	for _, raw := range strings.Split(string(log), "\n") {
		end := strings.Contains(raw, "\x1b[;m") // colour reset closes a message
		line := strings.TrimRight(ansiEscape.ReplaceAllString(raw, ""), "\r")
		if m := hop.FindStringSubmatch(line); m != nil {
			flush()
			cur = &sipTraceMessage{Transport: strings.ToLower(m[1]), Src: m[2], Dst: m[3]}
			inBody = false
			continue
		}
		if cur == nil {
			continue
		}
		switch {
		case end && line == "":
			// the reset on its own line: nothing to add
		case cur.StartLine == "":
			cur.StartLine = line
		case inBody:
			cur.Body += line + "\n"
		case line == "":
			inBody = true
		default:
			cur.Headers = append(cur.Headers, line)
		}
		if end {
			flush()
		}
	}
	flush()
	return out
}

// Recordings returns the sndfile dumps of the audio this phone received
// (kind "dec") or sent (kind "enc"), one file per call, oldest first.
func (p *baresipPhone) Recordings(kind string) []string {
	p.t.Helper()
	files, err := filepath.Glob(filepath.Join(p.RecordDir, "dump-*-"+kind+".wav"))
	if err != nil {
		p.t.Fatalf("phone %s: listing recordings: %v", p.cfg.Name, err)
	}
	return files // Glob sorts, and names embed a timestamp
}

// RecordedWAV returns the WAV of what the phone heard during its only
// call. It waits for the file to be finalised: sndfile closes it (writing
// the final RIFF sizes) when the call is destroyed, shortly after
// CALL_CLOSED.
func (p *baresipPhone) RecordedWAV() string {
	p.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		files := p.Recordings("dec")
		if len(files) > 1 {
			p.t.Fatalf("phone %s: %d received-audio recordings, want exactly one call: %v",
				p.cfg.Name, len(files), files)
		}
		if len(files) == 1 && wavFinalized(files[0]) {
			return files[0]
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("phone %s: no finalised received-audio recording in %s (found %v)",
				p.cfg.Name, p.RecordDir, files)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// wavFinalized reports whether the RIFF size field matches the file size,
// i.e. the writer has closed the file.
func wavFinalized(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var hdr [8]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil || string(hdr[:4]) != "RIFF" {
		return false
	}
	st, err := f.Stat()
	if err != nil {
		return false
	}
	riffSize := int64(hdr[4]) | int64(hdr[5])<<8 | int64(hdr[6])<<16 | int64(hdr[7])<<24
	return riffSize+8 == st.Size() && st.Size() > 44
}

// SIPTransports returns, for each request with the given method in the
// phone's SIP trace (sent or received), the transport it travelled on,
// lower-case ("udp", "tcp"). baresip -s logs each message as a line
// "TCP 127.0.0.1:A -> 127.0.0.1:B" followed by the message itself.
func (p *baresipPhone) SIPTransports(method string) []string {
	p.t.Helper()
	log, err := os.ReadFile(p.LogPath)
	if err != nil {
		p.t.Fatalf("phone %s: reading log: %v", p.cfg.Name, err)
	}
	hop := regexp.MustCompile(`^(UDP|TCP|TLS) \S+ -> \S+$`)
	var out []string
	prev := ""
	for _, line := range strings.Split(string(log), "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.HasPrefix(line, method+" sip:") {
			if m := hop.FindStringSubmatch(prev); m != nil {
				out = append(out, strings.ToLower(m[1]))
			}
		}
		prev = line
	}
	return out
}

// stop terminates baresip: SIGTERM makes it hang up and unregister; if it
// is still running after 5 s it is killed.
func (p *baresipPhone) stop() {
	if p.conn != nil {
		p.conn.Close()
	}
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// dumpLog writes the phone's events and log (with SIP trace) to the test
// log.
func (p *baresipPhone) dumpLog() {
	var b strings.Builder
	fmt.Fprintf(&b, "phone %s (%s, config in %s)\n--- events ---\n", p.cfg.Name, p.cfg.User, p.Dir)
	for _, m := range append(p.history, p.pending...) {
		fmt.Fprintf(&b, "%v\n", m)
	}
	log, err := os.ReadFile(p.LogPath)
	if err != nil {
		fmt.Fprintf(&b, "(reading log: %v)\n", err)
	}
	fmt.Fprintf(&b, "--- baresip log (%s) ---\n%s--- end of baresip log ---", p.LogPath, log)
	p.t.Log(b.String())
}

// ---------------------------------------------------------------------------
// Tests

// callScenario is one two-phone call: caller dials, callee accepts, both
// talk for holdFor, then hanger hangs up.
type callScenario struct {
	caller, callee *baresipPhone
	dialURI        string
	calleeHangsUp  bool
	holdFor        time.Duration
}

// run performs the call and checks signalling and audio on both sides.
func (c callScenario) run(t *testing.T) {
	c.caller.Dial(c.dialURI)
	in := c.callee.WaitIncoming()
	if !strings.Contains(in.PeerURI, c.caller.cfg.User) {
		t.Errorf("callee sees caller %q, want it to contain %q", in.PeerURI, c.caller.cfg.User)
	}
	c.callee.Accept()
	c.caller.WaitEstablished()
	c.callee.WaitEstablished()

	time.Sleep(c.holdFor) // let audio flow both ways

	hanger, other := c.caller, c.callee
	if c.calleeHangsUp {
		hanger, other = c.callee, c.caller
	}
	hanger.Hangup()
	// The other side only learns of the hangup through the BYE, so its
	// CALL_CLOSED proves the BYE went through.
	other.WaitClosed()
	hanger.WaitClosed()

	// The INVITE must have used the configured transport on both legs: the
	// caller's log shows the one it sent, the callee's the one it got.
	for _, p := range []*baresipPhone{c.caller, c.callee} {
		got := p.SIPTransports("INVITE")
		if len(got) == 0 || slices.ContainsFunc(got, func(tr string) bool { return tr != p.cfg.Transport }) {
			t.Errorf("phone %s: INVITE transports in SIP trace = %v, want all %q", p.cfg.Name, got, p.cfg.Transport)
		}
	}

	// Each side must hear the other's tone and not its own. Require at
	// least a third of the hold time as non-silent audio: the media is
	// real-time, so a working relay delivers nearly all of it.
	minAudio := c.holdFor / 3
	callerTone, calleeTone := c.caller.cfg.ToneHz, c.callee.cfg.ToneHz
	assertHeardTone(t, "caller "+c.caller.cfg.Name, c.caller.RecordedWAV(), calleeTone, []float64{callerTone}, minAudio)
	assertHeardTone(t, "callee "+c.callee.cfg.Name, c.callee.RecordedWAV(), callerTone, []float64{calleeTone}, minAudio)
}

// TestRegistrationState checks the parsing of baresip's reginfo output, on
// output captured from baresip 1.0.0.
func TestRegistrationState(t *testing.T) {
	tests := []struct {
		reginfo string
		want    string
	}{
		{"\n--- User Agents (1) ---\n> sip:101@127.0.0.1:37761                    \x1b[32mOK \x1b[;m  Expires 300s\n\n", "OK"},
		{"\n--- User Agents (1) ---\n> sip:101@127.0.0.1:34121                    \x1b[31mERR\x1b[;m  Expires 0s\n\n", "ERR"},
		{"\n--- User Agents (1) ---\n> sip:101@127.0.0.1:37761                    \x1b[37mzzz\x1b[;m\n\n", "zzz"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := registrationState(tc.reginfo); got != tc.want {
			t.Errorf("registrationState(%q) = %q, want %q", tc.reginfo, got, tc.want)
		}
	}
}

// TestBaresipHarnessDirectCall validates the harness itself, without
// frontdesk: two phones call each other peer-to-peer on loopback, and the
// tone analysis must see each phone's tone at the other end. If this test
// fails, the TestCallBetweenTwoBaresipPhones failures are not the PBX's.
func TestBaresipHarnessDirectCall(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			alice := startBaresip(t, phoneConfig{Name: "alice", User: "alice", Transport: transport, ToneHz: aliceToneHz})
			bob := startBaresip(t, phoneConfig{Name: "bob", User: "bob", Transport: transport, ToneHz: bobToneHz})
			callScenario{
				caller:  alice,
				callee:  bob,
				dialURI: bob.URI(),
				holdFor: 3 * time.Second,
			}.run(t)
		})
	}
}

// TestCallBetweenTwoBaresipPhones registers two real softphones with
// frontdesk (extensions created with the CLI) and has 101 call 102 through
// the PBX, checking signalling (INVITE/answer/BYE from either side) and that
// the relayed RTP carries each phone's tone to the other.
func TestCallBetweenTwoBaresipPhones(t *testing.T) {
	tests := []struct {
		name          string
		transport     string
		dialNumber    bool // dial plain "102" instead of sip:102@PBX
		calleeHangsUp bool
	}{
		{name: "udp/caller-hangs-up", transport: "udp"},
		{name: "udp/callee-hangs-up", transport: "udp", calleeHangsUp: true},
		{name: "udp/dial-by-number", transport: "udp", dialNumber: true},
		{name: "tcp/caller-hangs-up", transport: "tcp"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, "")
			const aliceSecret, bobSecret = "alice-secret-8x2k", "bob-secret-4p9q"
			runCLI(t, srv.DataDir, "ext", "add", "101", "--name", "Alice", "--secret", aliceSecret)
			runCLI(t, srv.DataDir, "ext", "add", "102", "--name", "Bob", "--secret", bobSecret)

			alice := startBaresip(t, phoneConfig{Name: "alice", User: "101", Password: aliceSecret,
				Registrar: srv.SIPAddr, Transport: tc.transport, ToneHz: aliceToneHz})
			bob := startBaresip(t, phoneConfig{Name: "bob", User: "102", Password: bobSecret,
				Registrar: srv.SIPAddr, Transport: tc.transport, ToneHz: bobToneHz})
			alice.WaitRegistered()
			bob.WaitRegistered()

			// baresip completes a bare number with the account's domain and
			// appends the account's ";transport=" to whatever is dialled.
			dial := "sip:102@" + srv.SIPAddr
			if tc.dialNumber {
				dial = "102"
			}
			callScenario{
				caller:        alice,
				callee:        bob,
				dialURI:       dial,
				calleeHangsUp: tc.calleeHangsUp,
				holdFor:       3 * time.Second,
			}.run(t)
		})
	}
}
