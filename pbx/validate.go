package pbx

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"

	"github.com/emiago/diago/media"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// checkRequest rejects requests that parse but are not valid SIP, before any
// handler sees them (RFC 3261 section 8.2 and 16.3). It returns nil for a
// request that may be processed, else the response to send.
func checkRequest(req *sip.Request) *sip.Response {
	bad := func(reason string) *sip.Response {
		return sip.NewResponseFromRequest(req, sip.StatusBadRequest, reason, nil)
	}
	if req.SipVersion != "SIP/2.0" {
		res := sip.NewResponseFromRequest(req, 505, "Version Not Supported", nil)
		res.SipVersion = "SIP/2.0"
		return res
	}
	via := req.Via()
	switch {
	case via == nil:
		return bad("Missing Via")
	case via.ProtocolName != "SIP" || via.ProtocolVersion != "2.0":
		return bad("Bad Via protocol")
	case via.Host == "":
		return bad("Bad Via host")
	case via.Port < 0 || via.Port > 65535:
		return bad("Bad Via port")
	case req.From() == nil:
		return bad("Missing From")
	case req.To() == nil:
		return bad("Missing To")
	case req.CallID() == nil || strings.TrimSpace(req.CallID().Value()) == "":
		return bad("Missing Call-ID")
	case req.CSeq() == nil:
		return bad("Missing CSeq")
	case req.CSeq().MethodName != req.Method:
		return bad("CSeq method does not match")
	case len(req.GetHeaders("Content-Length")) > 1:
		return bad("Duplicate Content-Length")
	}
	if s := strings.ToLower(req.Recipient.Scheme); s != "sip" && s != "sips" {
		return sip.NewResponseFromRequest(req, 416, "Unsupported URI Scheme", nil)
	}
	if req.IsInvite() {
		// An INVITE makes a dialog, which needs both (RFC 3261 8.1.1.3 and
		// 8.1.1.8): without them diago drops the INVITE unanswered and the
		// phone retransmits it for half a minute.
		if tag, _ := req.From().Params.Get("tag"); tag == "" {
			return bad("Missing From tag")
		}
		if req.Contact() == nil {
			return bad("Missing Contact")
		}
	}
	return nil
}

// guard wraps a request handler: it drops ACKs that fail checks silently
// (ACK gets no response), answers other invalid requests, and turns a panic
// in a handler into a logged 500 so one bad message can't stop the server.
func guard(log *slog.Logger, next sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		defer func() {
			if p := recover(); p != nil {
				log.Error("panic handling SIP request", "method", req.Method, "source", req.Source(), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusInternalServerError, "Server Error", nil))
			}
		}()
		if res := checkRequest(req); res != nil {
			log.Debug("invalid SIP request", "method", req.Method, "source", req.Source(), "status", res.StatusCode, "reason", res.Reason)
			if !req.IsAck() {
				_ = tx.Respond(res)
			}
			return
		}
		next(req, tx)
	}
}

// checkOffer tells whether an INVITE's SDP offer is one we can answer:
// audio over RTP/AVP with at least one of our codecs. It returns the SIP
// status to refuse it with (415 for a body that isn't SDP, 488 otherwise).
func checkOffer(req *sip.Request) (int, error) {
	body := req.Body()
	if len(body) == 0 {
		return 488, fmt.Errorf("no SDP offer (late offer is not supported)")
	}
	if ct := req.ContentType(); ct == nil || !strings.EqualFold(strings.TrimSpace(strings.Split(ct.Value(), ";")[0]), "application/sdp") {
		return 415, fmt.Errorf("body is not application/sdp")
	}
	sess := &media.MediaSession{Codecs: append([]media.Codec(nil), codecs...)}
	if err := remoteSDP(sess, body); err != nil {
		return 488, err
	}
	for _, c := range sess.CommonCodecs() {
		if c.Name != "telephone-event" {
			return 0, nil
		}
	}
	return 488, fmt.Errorf("no common audio codec")
}

// remoteSDP parses an offer into sess, turning a panic in diago's SDP parser
// into an error: diago v0.31 indexes out of range on an empty line ("\n"
// at the start of the body or "\n\n" inside it).
func remoteSDP(sess *media.MediaSession, body []byte) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("malformed SDP: %v", p)
		}
	}()
	return sess.RemoteSDP(body)
}
