package mailer

// A tiny SMTP server for the tests, on 127.0.0.1: EHLO, STARTTLS, AUTH
// PLAIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT. It records what it receives.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// testCert is a self-signed certificate for 127.0.0.1 and localhost, with a
// pool that trusts it.
func testCert(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "frontdesk test SMTP"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

// smtpConfig says how a test server behaves.
type smtpConfig struct {
	starttls    bool   // offer STARTTLS (AUTH only after it)
	implicitTLS bool   // TLS from the first byte
	user, pass  string // require AUTH PLAIN with these
	cert        tls.Certificate
}

// received is one mail the server accepted.
type received struct {
	From     string
	To       []string
	Data     []byte // LF line ends, dots unstuffed
	TLS      bool
	AuthUser string
}

type smtpServer struct {
	cfg  smtpConfig
	ln   net.Listener
	Port int
	got  chan received
	wg   sync.WaitGroup
}

// startSMTP serves on addr ("127.0.0.1:0" for any port) until the test ends.
func startSMTP(t testing.TB, addr string, cfg smtpConfig) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		t.Fatalf("test SMTP server: %v", err)
	}
	s := &smtpServer{cfg: cfg, ln: ln, Port: ln.Addr().(*net.TCPAddr).Port, got: make(chan received, 16)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(s.Close)
	return s
}

func (s *smtpServer) Close() {
	s.ln.Close()
	s.wg.Wait()
}

// wait returns the next mail, failing the test after timeout.
func (s *smtpServer) wait(t testing.TB, timeout time.Duration) received {
	t.Helper()
	select {
	case r := <-s.got:
		return r
	case <-time.After(timeout):
		t.Fatalf("no mail reached the test SMTP server within %v", timeout)
		return received{}
	}
}

func (s *smtpServer) serve(conn net.Conn) {
	defer func() { conn.Close() }()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	isTLS := false
	if s.cfg.implicitTLS {
		tc := tls.Server(conn, &tls.Config{Certificates: []tls.Certificate{s.cfg.cert}})
		if tc.Handshake() != nil {
			return
		}
		conn, isTLS = tc, true
	}
	tp := textproto.NewConn(conn)
	reply := func(code int, lines ...string) {
		for i, l := range lines {
			sep := "-"
			if i == len(lines)-1 {
				sep = " "
			}
			tp.PrintfLine("%d%s%s", code, sep, l)
		}
	}
	reply(220, "test.invalid ESMTP ready")
	var (
		authUser string
		cur      *received
		hello    bool
	)
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			hello, cur = true, nil
			ext := []string{"test.invalid greets " + arg, "8BITMIME", "SIZE 10000000"}
			if s.cfg.starttls && !isTLS {
				ext = append(ext, "STARTTLS")
			}
			if s.cfg.user != "" && (isTLS || !s.cfg.starttls) {
				ext = append(ext, "AUTH PLAIN")
			}
			reply(250, append(ext, "HELP")...)
		case "STARTTLS":
			if !s.cfg.starttls || isTLS {
				reply(502, "5.5.1 no STARTTLS here")
				continue
			}
			reply(220, "2.0.0 go ahead")
			tc := tls.Server(conn, &tls.Config{Certificates: []tls.Certificate{s.cfg.cert}})
			if tc.Handshake() != nil {
				return
			}
			conn, isTLS, hello, authUser = tc, true, false, ""
			tp = textproto.NewConn(conn)
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			if s.cfg.user == "" || !strings.EqualFold(mech, "PLAIN") {
				reply(504, "5.5.4 unrecognized authentication type")
				continue
			}
			if resp == "" {
				reply(334, "")
				if resp, err = tp.ReadLine(); err != nil {
					return
				}
			}
			raw, _ := base64.StdEncoding.DecodeString(resp)
			parts := strings.Split(string(raw), "\x00")
			if len(parts) == 3 && parts[1] == s.cfg.user && parts[2] == s.cfg.pass {
				authUser = parts[1]
				reply(235, "2.7.0 authentication successful")
			} else {
				reply(535, "5.7.8 authentication credentials invalid")
			}
		case "MAIL":
			switch {
			case !hello:
				reply(503, "5.5.1 EHLO first")
			case s.cfg.starttls && !isTLS:
				reply(530, "5.7.0 must issue a STARTTLS command first")
			case s.cfg.user != "" && authUser == "":
				reply(530, "5.7.0 authentication required")
			default:
				from, _, _ := strings.Cut(strings.TrimPrefix(arg, "FROM:"), " ")
				cur = &received{From: strings.Trim(from, "<>"), TLS: isTLS, AuthUser: authUser}
				reply(250, "2.1.0 ok")
			}
		case "RCPT":
			if cur == nil {
				reply(503, "5.5.1 MAIL first")
				continue
			}
			to := strings.Trim(strings.TrimPrefix(arg, "TO:"), "<>")
			if strings.HasPrefix(to, "nobody@") {
				reply(550, "5.1.1 no such user here")
				continue
			}
			cur.To = append(cur.To, to)
			reply(250, "2.1.5 ok")
		case "DATA":
			if cur == nil || len(cur.To) == 0 {
				reply(503, "5.5.1 RCPT first")
				continue
			}
			reply(354, "end data with <CR><LF>.<CR><LF>")
			data, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			cur.Data = data
			s.got <- *cur
			cur = nil
			reply(250, "2.0.0 queued as "+strconv.Itoa(len(data)))
		case "RSET":
			cur = nil
			reply(250, "2.0.0 ok")
		case "NOOP":
			reply(250, "2.0.0 ok")
		case "QUIT":
			reply(221, "2.0.0 bye")
			return
		default:
			reply(502, "5.5.2 command not recognized")
		}
	}
}
