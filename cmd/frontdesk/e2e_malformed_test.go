package main

// Malformed SIP: a corpus of broken messages (testdata/malformed) is sent
// to a running server over UDP and TCP. For each one the server may answer
// with an error (400 and its relatives) or drop it silently; it must never
// crash, never act on the message as if it were valid, and must still
// answer a valid REGISTER with its 401 challenge right after.
//
// Corpus files:
//   - *.bin are sent byte for byte.
//   - *.sip are templates: line ends become CRLF, and these are expanded:
//     {{SERVER}} the server's SIP address, {{LOCAL}} our socket's address,
//     {{TRANSPORT}} UDP or TCP, {{BRANCH}} {{CALLID}} {{TAG}} fresh values,
//     {{CSEQ}} 1 (2 for the authenticated retry), {{REPEAT n "s"}} and
//     {{BYTES "s"}} with s a Go-quoted string (so \x00, \r\n...),
//     {{CONTENT_LENGTH}} the length of the body that follows the blank
//     line, and an {{AUTH}} line, which is dropped on the first send. If
//     the case is "authenticated", a 401/407 challenge to the first send
//     is answered as extension 101 (the {{AUTH}} line becomes the
//     credentials), so the malformed part reaches the code behind
//     authentication (registrar, SDP handling).
//
// Messages over 65507 bytes cannot travel in one UDP datagram; over UDP
// their first 65507 bytes are sent, which is a malformed message too.

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	malformedDir = "testdata/malformed"
	// malMaxDatagram is the largest UDP payload over IPv4.
	malMaxDatagram = 65507
	// malQuietWait is how long to wait for an answer before concluding
	// the server dropped the message.
	malQuietWait = 700 * time.Millisecond
	// malFinalWait bounds the wait for a final response after a
	// provisional one.
	malFinalWait = 5 * time.Second
	// malLivenessWait is how promptly a valid REGISTER must be challenged
	// after each malformed message.
	malLivenessWait = 2 * time.Second
)

// malDropped is the outcome "no response" (silence or a closed
// connection).
const malDropped = 0

// malRejected are the acceptable answers to a message that must not be
// processed: silence, or one of the errors RFC 3261 gives for broken
// requests.
var malRejected = []int{
	malDropped,
	400, // Bad Request
	413, // Request Entity Too Large
	414, // Request-URI Too Long
	416, // Unsupported URI Scheme
	505, // Version Not Supported
	513, // Message Too Large
}

// malCase says what the server may answer to one corpus file.
type malCase struct {
	// allowed lists the acceptable final status codes (malDropped for no
	// answer), over both transports unless tcp is set.
	allowed []int
	tcp     []int // if set, the acceptable outcomes over TCP
	// authenticated: answer a digest challenge as extension 101, see the
	// file comment.
	authenticated bool
	why           string // why the extra codes are acceptable
}

func malAllow(extra ...int) []int { return append(slices.Clone(malRejected), extra...) }

// malCorpus lists every file of testdata/malformed; the test fails if a file
// has no entry or an entry has no file.
var malCorpus = map[string]malCase{
	"via_missing_host.sip":               {allowed: malRejected},
	"via_garbage.sip":                    {allowed: malRejected},
	"via_bad_protocol.sip":               {allowed: malRejected},
	"via_bad_port.sip":                   {allowed: malRejected},
	"via_missing.sip":                    {allowed: malRejected},
	"call_id_missing.sip":                {allowed: malRejected},
	"cseq_missing.sip":                   {allowed: malRejected},
	"cseq_not_a_number.sip":              {allowed: malRejected},
	"cseq_method_mismatch.sip":           {allowed: malRejected},
	"cseq_overflow.sip":                  {allowed: malRejected},
	"from_missing.sip":                   {allowed: malRejected},
	"to_missing.sip":                     {allowed: malRejected},
	"from_bad_uri.sip":                   {allowed: malRejected},
	"header_without_colon.sip":           {allowed: malRejected},
	"huge_header.sip":                    {allowed: malRejected},
	"content_length_longer.sip":          {allowed: malRejected},
	"content_length_negative.sip":        {allowed: malRejected},
	"content_length_not_a_number.sip":    {allowed: malRejected},
	"content_length_overflow.sip":        {allowed: malRejected},
	"content_length_duplicate.sip":       {allowed: malRejected},
	"nul_bytes.sip":                      {allowed: malRejected},
	"version_unsupported.sip":            {allowed: malRejected},
	"version_http.sip":                   {allowed: malRejected},
	"request_line_method_only.sip":       {allowed: malRejected},
	"request_line_empty_uri.sip":         {allowed: malRejected},
	"request_line_bad_scheme.sip":        {allowed: malRejected},
	"request_line_lowercase_garbage.sip": {allowed: malRejected},
	"huge_uri.sip":                       {allowed: malRejected},
	"random_bytes.bin":                   {allowed: malRejected},
	"random_after_request_line.bin":      {allowed: malRejected},
	"register_contact_garbage.sip":       {allowed: malRejected, authenticated: true},
	"register_contact_star_with_expires.sip": {
		allowed: malRejected, authenticated: true,
		why: "RFC 3261 10.3 step 6: Contact * with a non-zero expiry is a 400",
	},
	"invite_sdp_truncated.sip":  {allowed: malRejected, authenticated: true},
	"invite_sdp_cut.sip":        {allowed: malAllow(488), authenticated: true},
	"invite_sdp_garbage.sip":    {allowed: malAllow(488), authenticated: true},
	"invite_sdp_bad_values.sip": {allowed: malAllow(488), authenticated: true},
	"invite_sdp_no_media.sip":   {allowed: malAllow(488), authenticated: true},
	"invite_wrong_content_type.sip": {
		allowed: malAllow(415, 488), authenticated: true,
		why: "415 Unsupported Media Type is the precise answer to a text/html offer",
	},
	"content_length_shorter.sip": {
		allowed: malAllow(200),
		why: "RFC 3261 18.3: over UDP the bytes beyond Content-Length are discarded, leaving a valid " +
			"OPTIONS; over TCP they start the next message, after the valid OPTIONS",
	},
	"header_continuation_first.sip": {
		allowed: malAllow(401),
		why: "the parser folds a leading continuation line (RFC 3261 7.3.1 line folding) instead of " +
			"rejecting it; the request is otherwise whole, so a challenge is a safe answer",
	},
	"many_headers.sip": {
		allowed: malAllow(401),
		why:     "5000 small headers fit in a TCP message; the request is valid, just large",
	},
	"invalid_utf8.sip": {
		allowed: malAllow(401),
		why:     "invalid UTF-8 in a display name is only text to the PBX; being lenient here is safe",
	},
	"max_forwards_negative.sip": {allowed: malAllow(483), why: "483 Too Many Hops reads -1 as exhausted"},
	"only_crlf.sip": {
		allowed: []int{malDropped},
		why:     "a CRLF keep-alive (RFC 5626 3.5.1) is never answered with a SIP message",
	},
	"stray_response.sip":      {allowed: []int{malDropped}, why: "responses are never answered"},
	"status_line_garbage.sip": {allowed: []int{malDropped}, why: "responses are never answered"},
	"auth_unterminated_quote.sip": {
		allowed: malAllow(401, 403), why: "a credential that cannot be parsed may be treated as a wrong one",
	},
	"auth_unknown_algorithm.sip": {allowed: malAllow(401, 403), why: "a wrong credential"},
	"auth_huge_username.sip":     {allowed: malAllow(401, 403), why: "a wrong credential"},
	"auth_basic.sip":             {allowed: malAllow(401, 403), why: "SIP has no Basic auth: a missing credential"},
	"auth_empty_digest.sip":      {allowed: malAllow(401, 403), why: "a missing credential"},
	"register_expires_garbage.sip": {
		allowed: malAllow(200), authenticated: true,
		why: "a registrar may ignore an unparsable Expires and use its default expiry",
	},
	"register_expires_huge.sip": {
		allowed: malAllow(200, 423), authenticated: true,
		why: "a registrar may shorten a too-long expiry (RFC 3261 10.3 step 7)",
	},
	"invite_sdp_huge_media_count.sip": {
		allowed: malAllow(486, 488), authenticated: true,
		why: "2000 m= lines is a valid offer; the PBX may reject all but one stream and reach the callee, " +
			"whose test phone answers 486",
	},
}

// malMsg is a parsed SIP message (only what the test needs).
type malMsg struct {
	raw     []byte
	first   string
	headers map[string][]string // canonical lower-case full names
	body    []byte
}

// malCompact maps compact header forms (RFC 3261 7.3.3) to full names.
var malCompact = map[string]string{
	"v": "via", "i": "call-id", "f": "from", "t": "to", "l": "content-length",
	"m": "contact", "c": "content-type", "k": "supported", "s": "subject",
}

// malParse parses one complete SIP message.
func malParse(raw []byte) (*malMsg, error) {
	head, body, ok := bytes.Cut(raw, []byte("\r\n\r\n"))
	if !ok {
		return nil, fmt.Errorf("no end of headers in %q", malShort(raw))
	}
	lines := strings.Split(string(head), "\r\n")
	m := &malMsg{raw: raw, first: lines[0], headers: map[string][]string{}, body: body}
	for _, line := range lines[1:] {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("header line without colon %q", line)
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if full, ok := malCompact[k]; ok {
			k = full
		}
		m.headers[k] = append(m.headers[k], strings.TrimSpace(v))
	}
	return m, nil
}

// status is the status code of a response, 0 for a request.
func (m *malMsg) status() int {
	// Any version counts: a server that answers "SIP/3.0 401" must show
	// up as answering 401, not as sending a request.
	f := strings.Fields(m.first)
	if len(f) < 2 || !strings.HasPrefix(f[0], "SIP/") {
		return 0
	}
	code, _ := strconv.Atoi(f[1])
	return code
}

func (m *malMsg) header(name string) string {
	if v := m.headers[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (m *malMsg) method() string {
	method, _, _ := strings.Cut(m.first, " ")
	return method
}

// malShort quotes the start of a message for error messages.
func malShort(b []byte) string {
	if len(b) > 300 {
		return fmt.Sprintf("%q... (%d bytes)", b[:300], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// malConn sends and receives SIP messages over one UDP socket or TCP
// connection.
type malConn struct {
	transport string // "UDP" or "TCP"
	server    *net.UDPAddr
	udp       *net.UDPConn
	tcp       net.Conn
	tcpReader *bufio.Reader
}

func malDial(transport, server string) (*malConn, error) {
	c := &malConn{transport: transport}
	switch transport {
	case "UDP":
		addr, err := net.ResolveUDPAddr("udp4", server)
		if err != nil {
			return nil, fmt.Errorf("resolving %s: %w", server, err)
		}
		c.server = addr
		// Unconnected, so an answer from any server port is seen.
		c.udp, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return nil, fmt.Errorf("opening UDP socket: %w", err)
		}
	case "TCP":
		conn, err := net.DialTimeout("tcp4", server, 2*time.Second)
		if err != nil {
			return nil, fmt.Errorf("connecting to %s: %w", server, err)
		}
		c.tcp, c.tcpReader = conn, bufio.NewReader(conn)
	default:
		return nil, fmt.Errorf("unknown transport %q", transport)
	}
	return c, nil
}

func (c *malConn) Close() {
	if c.udp != nil {
		c.udp.Close()
	}
	if c.tcp != nil {
		c.tcp.Close()
	}
}

func (c *malConn) localAddr() string {
	if c.udp != nil {
		return c.udp.LocalAddr().String()
	}
	return c.tcp.LocalAddr().String()
}

// send writes msg; over UDP a message too big for a datagram is cut.
func (c *malConn) send(msg []byte) error {
	if c.udp != nil {
		if len(msg) > malMaxDatagram {
			msg = msg[:malMaxDatagram]
		}
		_, err := c.udp.WriteToUDP(msg, c.server)
		return err
	}
	if err := c.tcp.SetWriteDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return err
	}
	_, err := c.tcp.Write(msg)
	return err
}

// errMalClosed reports that the server closed the TCP connection.
var errMalClosed = errors.New("connection closed by the server")

// receive returns the next SIP message, or os.ErrDeadlineExceeded if none
// came within wait.
func (c *malConn) receive(wait time.Duration) (*malMsg, error) {
	deadline := time.Now().Add(wait)
	if c.udp != nil {
		if err := c.udp.SetReadDeadline(deadline); err != nil {
			return nil, err
		}
		buf := make([]byte, 65536)
		n, _, err := c.udp.ReadFromUDP(buf)
		if err != nil {
			return nil, err
		}
		return malParse(buf[:n])
	}
	if err := c.tcp.SetReadDeadline(deadline); err != nil {
		return nil, err
	}
	var head bytes.Buffer
	for !bytes.HasSuffix(head.Bytes(), []byte("\r\n\r\n")) {
		b, err := c.tcpReader.ReadByte()
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || malIsReset(err) {
			return nil, errMalClosed
		}
		if err != nil {
			return nil, err
		}
		// Keep-alive CRLFs between messages are not a message.
		if head.Len() == 0 && (b == '\r' || b == '\n') {
			continue
		}
		head.WriteByte(b)
	}
	m, err := malParse(head.Bytes())
	if err != nil {
		return nil, err
	}
	n, _ := strconv.Atoi(m.header("content-length"))
	body := make([]byte, n)
	if _, err := io.ReadFull(c.tcpReader, body); err != nil {
		return nil, fmt.Errorf("reading %d-byte body: %w", n, err)
	}
	m.body = body
	m.raw = append(head.Bytes(), body...)
	return m, nil
}

func malIsReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe"))
}

// finalResponse waits for a final response (provisional ones are skipped).
// It returns nil, nil if the server stayed silent or closed the connection.
func (c *malConn) finalResponse() (*malMsg, error) {
	wait := malQuietWait
	for {
		m, err := c.receive(wait)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, errMalClosed):
			return nil, nil
		case err != nil:
			return nil, err
		case m.status() == 0:
			return nil, fmt.Errorf("the server sent us a request: %s", malShort(m.raw))
		case m.status() < 200:
			wait = malFinalWait
			continue
		}
		return m, nil
	}
}

// malTemplate expands a .sip corpus file.
type malTemplate struct {
	server, local, transport string
	branch, callID, tag      string
	cseq                     int
	auth                     string // the credentials header line, "" for none
}

var (
	malRepeatRe = regexp.MustCompile(`\{\{REPEAT (\d+) ("(?:[^"\\]|\\.)*")\}\}`)
	malBytesRe  = regexp.MustCompile(`\{\{BYTES ("(?:[^"\\]|\\.)*")\}\}`)
)

func (tpl malTemplate) expand(text []byte) ([]byte, error) {
	s := strings.ReplaceAll(string(text), "\r\n", "\n")
	s = strings.ReplaceAll(s, "\n", "\r\n")
	if tpl.auth == "" {
		s = strings.ReplaceAll(s, "{{AUTH}}\r\n", "")
	} else {
		s = strings.ReplaceAll(s, "{{AUTH}}", tpl.auth)
	}
	s = strings.NewReplacer(
		"{{SERVER}}", tpl.server,
		"{{LOCAL}}", tpl.local,
		"{{TRANSPORT}}", tpl.transport,
		"{{BRANCH}}", tpl.branch,
		"{{CALLID}}", tpl.callID,
		"{{TAG}}", tpl.tag,
		"{{CSEQ}}", strconv.Itoa(tpl.cseq),
	).Replace(s)
	var err error
	s = malRepeatRe.ReplaceAllStringFunc(s, func(m string) string {
		sub := malRepeatRe.FindStringSubmatch(m)
		n, _ := strconv.Atoi(sub[1])
		str, uerr := strconv.Unquote(sub[2])
		if uerr != nil {
			err = fmt.Errorf("REPEAT %s: %w", sub[2], uerr)
		}
		return strings.Repeat(str, n)
	})
	s = malBytesRe.ReplaceAllStringFunc(s, func(m string) string {
		str, uerr := strconv.Unquote(malBytesRe.FindStringSubmatch(m)[1])
		if uerr != nil {
			err = fmt.Errorf("BYTES %s: %w", m, uerr)
		}
		return str
	})
	if err != nil {
		return nil, err
	}
	if head, body, ok := strings.Cut(s, "\r\n\r\n"); ok {
		s = strings.ReplaceAll(head, "{{CONTENT_LENGTH}}", strconv.Itoa(len(body))) + "\r\n\r\n" + body
	}
	if strings.Contains(s, "{{") {
		i := strings.Index(s, "{{")
		return nil, fmt.Errorf("unexpanded placeholder near %q", s[i:min(len(s), i+40)])
	}
	return []byte(s), nil
}

// malRandomToken returns a fresh identifier for branches, tags, Call-IDs.
func malRandomToken() string { return strconv.FormatUint(rand.Uint64(), 36) }

// malDigestParams parses the parameters of a Digest challenge.
func malDigestParams(h string) map[string]string {
	re := regexp.MustCompile(`([A-Za-z0-9_-]+)\s*=\s*(?:"([^"]*)"|([^\s,]+))`)
	p := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(h, -1) {
		p[strings.ToLower(m[1])] = m[2] + m[3]
	}
	return p
}

// malCredentials answers the MD5 Digest challenge of a 401 or 407 (RFC
// 2617 with qop=auth if offered, else RFC 2069) and returns the whole
// Authorization or Proxy-Authorization header line.
func malCredentials(challenge *malMsg, method, uri, user, password string) (string, error) {
	hdr, out := "www-authenticate", "Authorization"
	if challenge.status() == 407 {
		hdr, out = "proxy-authenticate", "Proxy-Authorization"
	}
	for _, h := range challenge.headers[hdr] {
		scheme, _, _ := strings.Cut(strings.TrimSpace(h), " ")
		p := malDigestParams(h)
		if !strings.EqualFold(scheme, "Digest") || (p["algorithm"] != "" && !strings.EqualFold(p["algorithm"], "MD5")) {
			continue
		}
		hash := func(s string) string { sum := md5.Sum([]byte(s)); return hex.EncodeToString(sum[:]) }
		ha1 := hash(user + ":" + p["realm"] + ":" + password)
		ha2 := hash(method + ":" + uri)
		line := fmt.Sprintf(`%s: Digest username="%s", realm="%s", nonce="%s", uri="%s", algorithm=MD5`,
			out, user, p["realm"], p["nonce"], uri)
		if slices.Contains(strings.Split(p["qop"], ","), "auth") {
			const nc = "00000001"
			cnonce := malRandomToken()
			resp := hash(ha1 + ":" + p["nonce"] + ":" + nc + ":" + cnonce + ":auth:" + ha2)
			line += fmt.Sprintf(`, response="%s", qop=auth, nc=%s, cnonce="%s"`, resp, nc, cnonce)
		} else {
			line += fmt.Sprintf(`, response="%s"`, hash(ha1+":"+p["nonce"]+":"+ha2))
		}
		if p["opaque"] != "" {
			line += fmt.Sprintf(`, opaque="%s"`, p["opaque"])
		}
		return line, nil
	}
	return "", fmt.Errorf("no MD5 Digest challenge in %s", malShort(challenge.raw))
}

// malRegister sends a valid REGISTER for ext from c. Without a password it
// returns the answer to the bare REGISTER (the liveness probe: a 401); with
// one it answers the challenge and returns the final answer.
func malRegister(c *malConn, server, ext, password string) (*malMsg, error) {
	callID, tag := malRandomToken(), malRandomToken()
	uri := "sip:" + server
	build := func(cseq int, auth string) []byte {
		if auth != "" {
			auth += "\r\n"
		}
		return []byte(fmt.Sprintf("REGISTER %s SIP/2.0\r\n"+
			"Via: SIP/2.0/%s %s;branch=z9hG4bK%s;rport\r\n"+
			"From: <sip:%s@%s>;tag=%s\r\nTo: <sip:%s@%s>\r\nCall-ID: %s\r\nCSeq: %d REGISTER\r\n"+
			"Contact: <sip:%s@%s;transport=%s>\r\nExpires: 3600\r\nMax-Forwards: 70\r\n%sContent-Length: 0\r\n\r\n",
			uri, c.transport, c.localAddr(), malRandomToken(), ext, server, tag, ext, server, callID, cseq,
			ext, c.localAddr(), strings.ToLower(c.transport), auth))
	}
	// The answer to an earlier message may still be on its way; only an
	// answer to this REGISTER counts.
	await := func() (*malMsg, error) {
		deadline := time.Now().Add(malLivenessWait)
		for {
			m, err := c.receive(time.Until(deadline))
			if err != nil {
				return nil, err
			}
			if m.status() >= 200 && m.header("call-id") == callID {
				return m, nil
			}
		}
	}
	if err := c.send(build(1, "")); err != nil {
		return nil, fmt.Errorf("sending REGISTER: %w", err)
	}
	challenge, err := await()
	if err != nil || password == "" {
		return challenge, err
	}
	auth, err := malCredentials(challenge, "REGISTER", uri, ext, password)
	if err != nil {
		return nil, err
	}
	if err := c.send(build(2, auth)); err != nil {
		return nil, fmt.Errorf("sending authenticated REGISTER: %w", err)
	}
	return await()
}

// malBusyPhone registers extension 102 from a UDP socket and answers every
// INVITE the PBX forwards with 486 Busy Here (and any other request with
// 200), so that a call which gets through the PBX ends at once.
func malBusyPhone(t *testing.T, srv *frontdeskServer) {
	t.Helper()
	c, err := malDial("UDP", srv.SIPAddr)
	if err != nil {
		t.Fatalf("busy phone: %v", err)
	}
	t.Cleanup(c.Close)
	resp, err := malRegister(c, srv.SIPAddr, "102", sippTestSecret("102"))
	if err != nil || resp.status() != 200 {
		t.Fatalf("busy phone: registering 102: err=%v, answer=%v", err, resp)
	}
	go func() {
		buf := make([]byte, 65536)
		for {
			c.udp.SetReadDeadline(time.Time{})
			n, from, err := c.udp.ReadFromUDP(buf)
			if err != nil {
				return // closed at cleanup
			}
			m, err := malParse(slices.Clone(buf[:n]))
			if err != nil || m.status() != 0 || m.method() == "ACK" {
				continue
			}
			code := "200 OK"
			if m.method() == "INVITE" {
				code = "486 Busy Here"
			}
			var b strings.Builder
			fmt.Fprintf(&b, "SIP/2.0 %s\r\n", code)
			for _, v := range m.headers["via"] {
				fmt.Fprintf(&b, "Via: %s\r\n", v)
			}
			to := m.header("to")
			if !strings.Contains(to, "tag=") {
				to += ";tag=busy" + malRandomToken()
			}
			fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %s\r\nContent-Length: 0\r\n\r\n",
				m.header("from"), to, m.header("call-id"), m.header("cseq"))
			c.udp.WriteToUDP([]byte(b.String()), from)
		}
	}()
}

// malOutcome is what happened to one corpus message.
type malOutcome struct {
	status int // final status code, malDropped for no answer
	line   string
	authed bool // the challenge was answered and the message resent
}

// malSend sends one corpus file over a fresh socket or connection and
// returns the server's final answer.
func malSend(srv *frontdeskServer, transport, name string, raw []byte, tc malCase) (malOutcome, error) {
	c, err := malDial(transport, srv.SIPAddr)
	if err != nil {
		return malOutcome{}, err
	}
	defer c.Close()
	tpl := malTemplate{
		server: srv.SIPAddr, local: c.localAddr(), transport: transport,
		branch: "z9hG4bK" + malRandomToken(), callID: malRandomToken(), tag: malRandomToken(), cseq: 1,
	}
	build := func() ([]byte, error) {
		if strings.HasSuffix(name, ".bin") {
			return raw, nil
		}
		return tpl.expand(raw)
	}
	msg, err := build()
	if err != nil {
		return malOutcome{}, fmt.Errorf("expanding %s: %w", name, err)
	}
	if err := c.send(msg); err != nil {
		// The server may hang up on a huge message while we write it.
		if transport == "TCP" && malIsReset(err) {
			return malOutcome{status: malDropped, line: "connection reset while sending"}, nil
		}
		return malOutcome{}, fmt.Errorf("sending: %w", err)
	}
	resp, err := c.finalResponse()
	if err != nil {
		return malOutcome{}, err
	}
	out := malOutcome{}
	if resp != nil && tc.authenticated && (resp.status() == 401 || resp.status() == 407) {
		malAck(c, tpl, resp)
		first, _, _ := strings.Cut(string(msg), "\r\n")
		f := strings.Fields(first)
		if len(f) < 2 {
			return malOutcome{}, fmt.Errorf("cannot answer a challenge to request line %q", first)
		}
		tpl.auth, err = malCredentials(resp, f[0], f[1], "101", sippTestSecret("101"))
		if err != nil {
			return malOutcome{}, err
		}
		tpl.cseq, tpl.branch = 2, "z9hG4bK"+malRandomToken()
		if msg, err = build(); err != nil {
			return malOutcome{}, err
		}
		if err := c.send(msg); err != nil {
			return malOutcome{}, fmt.Errorf("sending with credentials: %w", err)
		}
		if resp, err = c.finalResponse(); err != nil {
			return malOutcome{}, err
		}
		out.authed = true
	}
	if resp != nil {
		out.status, out.line = resp.status(), resp.first
		malAck(c, tpl, resp)
	}
	return out, nil
}

// malAck acknowledges a non-2xx final answer to an INVITE, so the server
// stops retransmitting it.
func malAck(c *malConn, tpl malTemplate, resp *malMsg) {
	cseq := strings.Fields(resp.header("cseq"))
	if len(cseq) != 2 || cseq[1] != "INVITE" || resp.status() < 300 {
		return
	}
	ack := fmt.Sprintf("ACK sip:102@%s SIP/2.0\r\nVia: %s\r\nFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\n"+
		"CSeq: %s ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		tpl.server, resp.header("via"), resp.header("from"), resp.header("to"), resp.header("call-id"), cseq[0])
	_ = c.send([]byte(ack))
}

// malAssertAlive fails the test unless the server process runs and
// challenges a valid REGISTER promptly.
func malAssertAlive(t *testing.T, srv *frontdeskServer, transport, after string) {
	t.Helper()
	// A server that does not answer may be dying: give the exit a moment
	// to show, so the failure says "crashed" with the panic, not "slow".
	fail := func(format string, args ...any) {
		t.Helper()
		select {
		case <-srv.exited:
		case <-time.After(time.Second):
			t.Fatalf(format, args...)
		}
		t.Fatalf("the server died after %s: %v\n%s", after, srv.waitErr, malPanic(srv.Log()))
	}
	select {
	case <-srv.exited:
		fail("")
	default:
	}
	c, err := malDial(transport, srv.SIPAddr)
	if err != nil {
		fail("after %s: %v", after, err)
	}
	defer c.Close()
	start := time.Now()
	resp, err := malRegister(c, srv.SIPAddr, "101", "")
	if err != nil {
		fail("after %s, a valid REGISTER over %s got no answer within %v: %v", after, transport, malLivenessWait, err)
	}
	if resp.status() != 401 || len(resp.headers["www-authenticate"]) == 0 {
		t.Fatalf("after %s, a valid REGISTER over %s got %q, want a 401 challenge", after, transport, resp.first)
	}
	if d := time.Since(start); d > time.Second {
		t.Logf("after %s, the REGISTER challenge took %v", after, d)
	}
}

// malPanic extracts a Go panic and its first stack frames from a log.
func malPanic(log string) string {
	i := strings.Index(log, "panic: ")
	if i < 0 {
		return "(no panic in the server log)"
	}
	lines := strings.SplitN(log[i:], "\n", 16)
	return strings.Join(lines[:min(len(lines), 15)], "\n")
}

// TestMalformedSIP sends the corpus over UDP and TCP; see the file comment.
func TestMalformedSIP(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(malformedDir, "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("reading the corpus in %s: %v (%d files)", malformedDir, err, len(files))
	}
	corpus := map[string][]byte{}
	for _, f := range files {
		name := filepath.Base(f)
		if _, ok := malCorpus[name]; !ok {
			t.Errorf("%s has no entry in malCorpus: say what the server may answer to it", f)
		}
		if corpus[name], err = os.ReadFile(f); err != nil {
			t.Fatal(err)
		}
	}
	for name := range malCorpus {
		if _, ok := corpus[name]; !ok {
			t.Errorf("malCorpus lists %s, which is not in %s", name, malformedDir)
		}
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range corpus {
			if !yield(n) {
				return
			}
		}
	})

	srv := sippStartServerWith(t, map[string]string{"101": "Alice", "102": "Bob"})
	malBusyPhone(t, srv)
	malAssertAlive(t, srv, "UDP", "startup")

	// One transport after the other, one message at a time: when the
	// server dies, the message that killed it is the one just sent.
	summary := map[string][2]string{} // file -> UDP, TCP outcome
	for i, transport := range []string{"UDP", "TCP"} {
		t.Run(transport, func(t *testing.T) {
			select {
			case <-srv.exited:
				t.Fatalf("the server is dead already, nothing sent over %s", transport)
			default:
			}
			for _, name := range names {
				tc := malCorpus[name]
				allowed := tc.allowed
				if transport == "TCP" && tc.tcp != nil {
					allowed = tc.tcp
				}
				out, err := malSend(srv, transport, name, corpus[name], tc)
				desc := "dropped"
				switch {
				case err != nil:
					desc = "error: " + err.Error()
					t.Errorf("%s over %s: %v", name, transport, err)
				case out.status != malDropped:
					desc = out.line
					if out.authed {
						desc += " (after auth)"
					}
				}
				if err == nil && !slices.Contains(allowed, out.status) {
					t.Errorf("%s over %s: answered %q; acceptable: %v (0 = no answer)", name, transport, desc, allowed)
				}
				s := summary[name]
				s[i] = desc
				summary[name] = s
				malAssertAlive(t, srv, transport, name+" over "+transport)
			}
		})
	}

	var b strings.Builder
	fmt.Fprintf(&b, "%-40s %-45s %s\n", "corpus file", "UDP", "TCP")
	for _, name := range names {
		fmt.Fprintf(&b, "%-40s %-45s %s\n", name, summary[name][0], summary[name][1])
	}
	t.Logf("answers to the malformed corpus:\n%s", b.String())

	// A panic recovered by a goroutine does not kill the process but is a
	// bug all the same.
	for _, line := range strings.Split(srv.Log(), "\n") {
		if strings.Contains(line, "panic") || strings.Contains(line, "goroutine ") {
			t.Errorf("server log: %s", line)
		}
	}
	select {
	case <-srv.exited:
		t.Fatalf("the server exited during the test: %v", srv.waitErr)
	default:
	}
}
