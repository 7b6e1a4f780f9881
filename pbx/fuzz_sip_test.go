package pbx

import (
	"context"
	"io"
	"log/slog"
	"math"
	"reflect"
	"testing"
	"unsafe"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/emiago/sipgo/siptest"

	"github.com/frontdesk-pbx/frontdesk/pbx/sipauth"
	"github.com/frontdesk-pbx/frontdesk/store"
)

// sipRouter is what the SIP server does with a request once the transaction
// layer has made it a transaction: the handler registered for its method
// (ours, or diago's INVITE/ACK/BYE/CANCEL), else the no-route handler.
type sipRouter struct {
	handlers map[sip.RequestMethod]sipgo.RequestHandler
	noRoute  sipgo.RequestHandler
}

func (r sipRouter) handle(req *sip.Request, tx sip.ServerTransaction) {
	if h, ok := r.handlers[req.Method]; ok {
		h(req, tx)
		return
	}
	r.noRoute(req, tx)
}

// routerOf reads the handler table of a sipgo server. sipgo keeps it
// unexported and dispatches only from its transaction layer, which needs a
// transport; tests read it to serve requests in-process.
func routerOf(t testing.TB, srv *sipgo.Server) sipRouter {
	t.Helper()
	field := func(name string) reflect.Value {
		f := reflect.ValueOf(srv).Elem().FieldByName(name)
		if !f.IsValid() {
			t.Fatalf("sipgo.Server has no field %s any more: update routerOf", name)
		}
		return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
	}
	handlers, ok1 := field("requestHandlers").Interface().(map[sip.RequestMethod]sipgo.RequestHandler)
	noRoute, ok2 := field("noRouteHandler").Interface().(sipgo.RequestHandler)
	if !ok1 || !ok2 || handlers[sip.INVITE] == nil || handlers[sip.REGISTER] == nil || noRoute == nil {
		t.Fatal("sipgo.Server's handler table changed shape: update routerOf")
	}
	return sipRouter{handlers: handlers, noRoute: noRoute}
}

// fuzzTx is a recorded server transaction whose INVITE ends as soon as it
// is refused, as if the phone's ACK came at once: sipgo waits for that ACK
// (up to 32 s) before the handler may return.
type fuzzTx struct {
	*siptest.ServerTxRecorder
}

func (tx fuzzTx) Respond(res *sip.Response) error {
	err := tx.ServerTxRecorder.Respond(res)
	if res.StatusCode >= 300 && tx.Origin().IsInvite() {
		tx.Terminate()
	}
	return err
}

// newFuzzServer is a whole SIP side (New, as the binary builds it) on a
// fresh store with extension 101 and box 101, that never listens: requests
// go straight to its handlers. The abuse guard counts and limits but, at
// these settings, never blocks nor drops, so every request gets an answer.
func newFuzzServer(t testing.TB) (*Server, sipRouter) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := sipauth.HashSecret("101", sipauth.DefaultRealm, "secret101")
	if err := st.AddExtension(ctx, store.Extension{Number: "101", Name: "Alice",
		Realm: sipauth.DefaultRealm, HA1MD5: h.HA1MD5, HA1SHA256: h.HA1SHA256}, ""); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{SIPListen: "127.0.0.1:5060", RTPPortMin: 30000, RTPPortMax: 30100, DataDir: dir,
		Abuse:  AbuseConfig{BlockAfter: math.MaxInt32, Rate: 1e9, Burst: math.MaxInt32},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, st)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.ua.Close() })
	// Run installs the call handler as it starts listening; here nothing listens.
	s.dg.HandleFunc(s.calls.serve)
	return s, routerOf(t, s.sip)
}

// FuzzSIPRequest feeds arbitrary bytes through sipgo's parser and, when
// they are a request the transaction layer would take (it answers the rest
// with a stateless 400 itself), through the server's whole request
// handling: abuse guard, validation, then the registrar, calls (INVITE via
// diago), MWI subscriptions, INFO, OPTIONS or the 405 for other methods.
// Nothing may panic, and every request but ACK gets a final answer: a
// phone that hears nothing retransmits for half a minute and gives up.
func FuzzSIPRequest(f *testing.F) {
	const hdrs = "Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK776;rport\r\nFrom: <sip:101@192.0.2.1>;tag=49583\r\nTo: <sip:101@192.0.2.1>\r\nCall-ID: fz1@192.0.2.10\r\nMax-Forwards: 70\r\n"
	for _, s := range []string{
		"REGISTER sip:192.0.2.1 SIP/2.0\r\n" + hdrs + "CSeq: 1 REGISTER\r\nContact: <sip:101@192.0.2.10:5062>\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n",
		"OPTIONS sip:101@192.0.2.1 SIP/2.0\r\n" + hdrs + "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
		"SUBSCRIBE sip:101@192.0.2.1 SIP/2.0\r\n" + hdrs + "CSeq: 1 SUBSCRIBE\r\nEvent: message-summary\r\nContact: <sip:101@192.0.2.10:5062>\r\nContent-Length: 0\r\n\r\n",
		"INVITE sip:600@192.0.2.1 SIP/2.0\r\n" + hdrs + "CSeq: 1 INVITE\r\nContact: <sip:101@192.0.2.10:5062>\r\nContent-Type: application/sdp\r\nContent-Length: 0\r\n\r\n",
		"INFO sip:101@192.0.2.1 SIP/2.0\r\n" + hdrs + "CSeq: 2 INFO\r\nContent-Type: application/dtmf-relay\r\nContent-Length: 10\r\n\r\nSignal=5\r\n",
		"MESSAGE sip:101@192.0.2.1 SIP/2.0\r\n" + hdrs + "CSeq: 1 MESSAGE\r\nContent-Length: 2\r\n\r\nhi",
		"BYE sip:101@192.0.2.1 SIP/2.0\r\n" + hdrs + "CSeq: 3 BYE\r\nContent-Length: 0\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	_, router := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := sip.ParseMessage(data)
		if err != nil {
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			return
		}
		if _, err := sip.ServerTxKeyMake(req); err != nil {
			return // sipgo's transaction layer answers 400 without us
		}
		req.SetSource("198.51.100.7:5062")
		req.SetTransport("UDP")
		tx := fuzzTx{siptest.NewServerTxRecorder(req)}
		defer tx.Terminate()
		router.handle(req, tx)
		if req.IsAck() {
			return
		}
		final := false
		for _, res := range tx.Result() {
			if res.StatusCode >= 200 {
				final = true
			}
		}
		if !final {
			t.Fatalf("no final answer to %s (%d responses)", req.StartLine(), len(tx.Result()))
		}
	})
}
