package pbx

import (
	"strings"
	"sync"

	"github.com/emiago/sipgo/sip"
)

// infoDigits routes DTMF sent as SIP INFO (application/dtmf-relay or
// application/dtmf) to the voicemail session of that call. Phones that don't
// send RFC 4733 events use it.
type infoDigits struct {
	mu       sync.Mutex
	sessions map[string]*callMedia // by Call-ID
}

func (d *infoDigits) add(callID string, cm *callMedia) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sessions == nil {
		d.sessions = map[string]*callMedia{}
	}
	d.sessions[callID] = cm
}

func (d *infoDigits) remove(callID string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.sessions, callID)
}

func (d *infoDigits) handle(req *sip.Request, tx sip.ServerTransaction) {
	d.mu.Lock()
	cm := d.sessions[req.CallID().Value()]
	d.mu.Unlock()
	if cm == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
		return
	}
	digit, ok := parseInfoDigit(headerValue(req, "Content-Type"), string(req.Body()))
	if !ok {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 415, "Unsupported Media Type", nil))
		return
	}
	cm.pushDigit(digit)
	_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
}

// parseInfoDigit reads one key from an INFO body: "Signal=5\r\nDuration=160"
// (application/dtmf-relay) or "5" (application/dtmf).
func parseInfoDigit(contentType, body string) (rune, bool) {
	ct := strings.ToLower(strings.TrimSpace(strings.Split(contentType, ";")[0]))
	var v string
	switch ct {
	case "application/dtmf-relay":
		for _, line := range strings.Split(body, "\n") {
			k, val, ok := strings.Cut(line, "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "signal") {
				v = strings.TrimSpace(val)
			}
		}
	case "application/dtmf":
		v = strings.TrimSpace(body)
	default:
		return 0, false
	}
	if len(v) != 1 || !strings.ContainsAny(v, "0123456789*#ABCDabcd") {
		return 0, false
	}
	return rune(strings.ToUpper(v)[0]), true
}
