package pbx

import (
	"net"
	"strings"
	"testing"

	"github.com/emiago/diago/media"
	"github.com/emiago/sipgo/sip"
)

// FuzzCheckOffer feeds arbitrary bodies and Content-Types through the INVITE
// offer check: it must answer 0, 415 or 488 (with an error exactly when
// refusing), never panic, and an offer it accepts must yield an SDP answer
// with a real audio codec.
func FuzzCheckOffer(f *testing.F) {
	const sdp = "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n" +
		"m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n" +
		"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
	f.Add("application/sdp", []byte(sdp))
	f.Add("application/SDP; charset=utf-8", []byte(sdp))
	f.Add("text/plain", []byte(sdp))
	f.Add("application/sdp", []byte(""))
	f.Add("application/sdp", []byte(strings.ReplaceAll(sdp, "0 8 101", "101")))
	f.Add("application/sdp", []byte(strings.ReplaceAll(sdp, "0 8 101", "9 18")))
	f.Add("application/sdp", []byte(strings.ReplaceAll(sdp, "RTP/AVP", "RTP/SAVP")))
	f.Add("application/sdp", []byte(strings.ReplaceAll(sdp, "c=IN IP4 192.0.2.10\r\n", "")))
	f.Add("application/sdp", []byte("v=0\r\nm=audio 99999 RTP/AVP 0\r\n"))
	f.Add("application/sdp", []byte("v=0\r\no=- 1 1 IN IP6 ::1\r\nc=IN IP6 ::1\r\nm=audio 4000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000/1\r\n"))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: "101", Host: "pbx.example"})
		if contentType != "" {
			ct := sip.ContentTypeHeader(contentType)
			req.AppendHeader(&ct)
		}
		req.SetBody(body)
		code, err := checkOffer(req)
		switch {
		case code == 0 && err == nil:
		case (code == 415 || code == 488) && err != nil:
			return
		default:
			t.Fatalf("checkOffer = %d, %v: want 0 and no error, or 415/488 and an error", code, err)
		}
		// Accepted: answering it (as diago does) must work and offer audio.
		sess := &media.MediaSession{Codecs: append([]media.Codec(nil), codecs...),
			Laddr: net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 10000}}
		if err := sess.RemoteSDP(body); err != nil {
			t.Fatalf("accepted offer does not parse a second time: %v", err)
		}
		answer := sess.LocalSDP()
		if !strings.Contains(string(answer), "m=audio ") {
			t.Fatalf("answer to an accepted offer has no audio line:\n%s", answer)
		}
		audio := false
		for _, c := range sess.CommonCodecs() {
			audio = audio || c.Name == "PCMU" || c.Name == "PCMA"
		}
		if !audio {
			t.Fatalf("accepted offer without PCMU/PCMA: %+v", sess.CommonCodecs())
		}
	})
}
