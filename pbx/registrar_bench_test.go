package pbx

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/frontdesk-pbx/frontdesk/pbx/sipauth"
	"github.com/frontdesk-pbx/frontdesk/store"
)

// benchTx is a server transaction that keeps the response it is given.
type benchTx struct {
	res  *sip.Response
	done chan struct{}
}

func (tx *benchTx) Terminate()                         {}
func (tx *benchTx) OnTerminate(sip.FnTxTerminate) bool { return false }
func (tx *benchTx) Done() <-chan struct{}              { return tx.done }
func (tx *benchTx) Err() error                         { return nil }
func (tx *benchTx) Respond(res *sip.Response) error    { tx.res = res; return nil }
func (tx *benchTx) Acks() <-chan *sip.Request          { return nil }
func (tx *benchTx) OnCancel(sip.FnTxCancel) bool       { return false }

func benchSecret(ext string) string { return "bench-" + ext }

func benchMD5(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// benchRequest parses a request as the transport layer does.
func benchRequest(raw string) (*sip.Request, error) {
	msg, err := sip.ParseMessage([]byte(raw))
	if err != nil {
		return nil, err
	}
	req := msg.(*sip.Request)
	req.SetSource("127.0.0.1:5070")
	req.SetTransport("UDP")
	return req, nil
}

// benchProcessCPU is the CPU time (user and system) this process has used.
func benchProcessCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchRegister is SIPp's register_inf.xml: REGISTER for ext, CSeq cseq,
// with auth (an Authorization line) or without.
func benchRegister(ext string, n int, cseq int, auth string) string {
	lines := []string{
		"REGISTER sip:127.0.0.1:5060 SIP/2.0",
		"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-" + strconv.Itoa(n) + "-" + strconv.Itoa(cseq) + ";rport",
		"From: <sip:" + ext + "@127.0.0.1:5060>;tag=4242REG" + strconv.Itoa(n),
		"To: <sip:" + ext + "@127.0.0.1:5060>",
		"Call-ID: " + strconv.Itoa(n) + "-4242@127.0.0.1",
		fmt.Sprintf("CSeq: %d REGISTER", cseq),
		"Contact: <sip:" + ext + "@127.0.0.1:5070;transport=UDP>",
	}
	if auth != "" {
		lines = append(lines, "Authorization: "+auth)
	}
	lines = append(lines, "Max-Forwards: 70", "Expires: 3600", "User-Agent: sipp-frontdesk-e2e", "Content-Length: 0")
	return strings.Join(lines, "\r\n") + "\r\n\r\n"
}

// benchAnswer answers an MD5 challenge as SIPp does (qop=auth).
func benchAnswer(chal *digest.Challenge, ext string) string {
	ha1 := benchMD5(ext + ":" + chal.Realm + ":" + benchSecret(ext))
	ha2 := benchMD5("REGISTER:sip:127.0.0.1:5060")
	cnonce, nc := "6b8b4567", "00000001"
	resp := benchMD5(ha1 + ":" + chal.Nonce + ":" + nc + ":" + cnonce + ":auth:" + ha2)
	return `Digest username="` + ext + `",realm="` + chal.Realm + `",cnonce="` + cnonce + `",nc=` + nc +
		`,qop=auth,uri="sip:127.0.0.1:5060",nonce="` + chal.Nonce + `",response="` + resp + `",algorithm=MD5`
}

// benchRegistrar is a registrar as New builds it (MD5 challenges, abuse guard
// with default settings, logs discarded at warn) with users extensions.
func benchRegistrar(b *testing.B, users int) *registrar {
	b.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	for i := range users {
		ext := strconv.Itoa(4000 + i)
		h := sipauth.HashSecret(ext, sipauth.DefaultRealm, benchSecret(ext))
		if err := st.AddExtension(ctx, store.Extension{Number: ext, Name: "Bench " + ext,
			Realm: sipauth.DefaultRealm, HA1MD5: h.HA1MD5, HA1SHA256: h.HA1SHA256}, ""); err != nil {
			b.Fatal(err)
		}
	}
	auth, err := sipauth.New(sipauth.DefaultRealm)
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c := &counters{}
	return &registrar{store: st, auth: auth, log: log, now: time.Now, slots: make(chan struct{}, maxConcurrentRegisters),
		counters: c, abuse: newAbuseGuard(AbuseConfig{Rate: -1}, log, c, time.Now)}
}

// BenchmarkRegistration measures one authenticated registration (REGISTER,
// 401, REGISTER with MD5 digest, 200) through the registrar's handler, as
// the server runs it: each request parsed from bytes, handled on a goroutine
// of its own, the response serialised; 300 extensions in turn, several
// phones at once.
//
//	go test -run '^$' -bench BenchmarkRegistration -cpuprofile cpu.out ./pbx
func BenchmarkRegistration(b *testing.B) {
	const users = 300
	r := benchRegistrar(b, users)
	handler := r.abuse.middleware(guard(r.log, r.handle))
	var seq atomic.Int64
	step := func(raw string) (*sip.Response, error) {
		req, err := benchRequest(raw)
		if err != nil {
			return nil, err
		}
		tx := &benchTx{done: make(chan struct{})}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); handler(req, tx) }() // sipgo handles each request on its own goroutine
		wg.Wait()
		_ = tx.res.String() // the transport layer serialises it
		return tx.res, nil
	}
	b.SetParallelism(4)
	b.ReportAllocs()
	cpu0 := benchProcessCPU(b)
	b.ResetTimer()
	defer func() {
		// Wall time is shared with whatever else runs on the machine: the
		// process's CPU time per registration is the figure to compare.
		b.ReportMetric(float64(benchProcessCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
	}()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := int(seq.Add(1))
			ext := strconv.Itoa(4000 + n%users)
			res, err := step(benchRegister(ext, n, 1, ""))
			if err != nil || res.StatusCode != 401 {
				b.Errorf("first REGISTER: %v %v", res, err)
				return
			}
			chal, err := digest.ParseChallenge(res.GetHeader("WWW-Authenticate").Value())
			if err != nil {
				b.Error(err)
				return
			}
			res, err = step(benchRegister(ext, n, 2, benchAnswer(chal, ext)))
			if err != nil || res.StatusCode != 200 {
				b.Errorf("second REGISTER: %v %v", res, err)
				return
			}
		}
	})
}
