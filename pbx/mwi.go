package pbx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/frontdesk-pbx/frontdesk/pbx/sipauth"
	"github.com/frontdesk-pbx/frontdesk/store"
)

// Message-waiting indication (RFC 3842): phones SUBSCRIBE to the
// message-summary event and the PBX NOTIFYs them whenever a box they watch
// changes. An extension watches its own box and the shared boxes it is a
// member of with the lamp on; the counts are summed.

const (
	mwiEvent          = "message-summary"
	mwiContentType    = "application/simple-message-summary"
	mwiDefaultExpires = 3600
)

type subscription struct {
	ext       string
	callID    string
	localTag  string  // our tag (To of the SUBSCRIBE, From of NOTIFY)
	localURI  sip.Uri // To address of the SUBSCRIBE
	remoteTag string
	remoteURI sip.Uri // From address of the SUBSCRIBE
	target    sip.Uri // where NOTIFY goes: the Contact, at the source address
	transport string
	cseq      uint32
	expires   time.Time
}

type mwi struct {
	store       *store.Store
	auth        *sipauth.Authenticator
	client      *sipgo.Client
	contact     sip.ContactHeader
	log         *slog.Logger
	now         func() time.Time
	unsolicited bool // also NOTIFY registered phones that never subscribed
	// abuse counts wrong credentials and unknown users per source, as for
	// REGISTER and INVITE: else SUBSCRIBE is a way to guess secrets unseen.
	abuse *abuseGuard

	mu   sync.Mutex
	subs map[string]*subscription // by Call-ID
}

func newMWI(st *store.Store, auth *sipauth.Authenticator, client *sipgo.Client, contact sip.ContactHeader, log *slog.Logger, unsolicited bool, abuse *abuseGuard) *mwi {
	return &mwi{store: st, auth: auth, client: client, contact: contact, log: log, now: time.Now,
		unsolicited: unsolicited, abuse: abuse, subs: map[string]*subscription{}}
}

func (m *mwi) handleSubscribe(req *sip.Request, tx sip.ServerTransaction) {
	if ev := headerValue(req, "Event"); !strings.EqualFold(strings.TrimSpace(strings.Split(ev, ";")[0]), mwiEvent) {
		res := sip.NewResponseFromRequest(req, 489, "Bad Event", nil)
		res.AppendHeader(sip.NewHeader("Allow-Events", mwiEvent))
		_ = tx.Respond(res)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	user, err := m.auth.Verify(headerValue(req, "Authorization"), string(req.Method), secretsLookup(ctx, m.store))
	switch {
	case errors.Is(err, sipauth.ErrNoCredentials), errors.Is(err, sipauth.ErrStale):
		if from := req.From(); errors.Is(err, sipauth.ErrNoCredentials) && from != nil && m.abuse.tracks(req.Source()) {
			// Probing for extensions: the same challenge, but it counts.
			if _, err := m.store.Extension(ctx, from.Address.User); errors.Is(err, store.ErrNotFound) {
				m.abuse.fail(req.Source(), failUnknownUser)
			}
		}
		_ = tx.Respond(challenge(req, m.auth, sip.StatusUnauthorized, "WWW-Authenticate", errors.Is(err, sipauth.ErrStale)))
		return
	case err != nil:
		m.abuse.fail(req.Source(), failWrongCredentials)
		m.log.Info("mwi: subscription refused: authentication failed", "source", req.Source())
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusForbidden, "Forbidden", nil))
		return
	}
	expires := mwiDefaultExpires
	if h := req.GetHeader("Expires"); h != nil {
		v, err := strconv.Atoi(strings.TrimSpace(h.Value()))
		if err != nil || v < 0 {
			_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusBadRequest, "Bad Expires", nil))
			return
		}
		expires = min(v, mwiDefaultExpires)
		if expires > 0 && expires < minExpires {
			expires = minExpires
		}
	}
	contact := req.Contact()
	if contact == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusBadRequest, "Missing Contact", nil))
		return
	}
	target, err := deviceURI(store.Binding{Contact: contact.Address.String(), Source: req.Source()})
	if err != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusBadRequest, "Bad Contact", nil))
		return
	}

	callID := req.CallID().Value()
	m.mu.Lock()
	sub, exists := m.subs[callID]
	if !exists {
		localTag, _ := req.To().Params.Get("tag")
		if localTag == "" {
			localTag = sip.GenerateTagN(16)
		}
		remoteTag, _ := req.From().Params.Get("tag")
		sub = &subscription{ext: user, callID: callID, localTag: localTag, localURI: req.To().Address,
			remoteTag: remoteTag, remoteURI: req.From().Address}
		m.subs[callID] = sub
	}
	sub.target, sub.transport = target, req.Transport()
	sub.expires = m.now().Add(time.Duration(expires) * time.Second)
	if expires == 0 {
		delete(m.subs, callID)
	}
	localTag := sub.localTag
	m.mu.Unlock()

	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	if to := res.To(); to != nil {
		if _, ok := to.Params.Get("tag"); !ok {
			to.Params.Add("tag", localTag)
		}
	}
	res.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(expires)))
	res.AppendHeader(&m.contact)
	if err := tx.Respond(res); err != nil {
		m.log.Debug("mwi: SUBSCRIBE response", "error", err)
		return
	}
	m.log.Debug("mwi: subscribed", "extension", user, "expires", expires)
	// The first NOTIFY follows the 200 at once (RFC 6665 4.2.1.2).
	go m.notify(sub, expires == 0)
}

// summary sums the counts of every box an extension watches.
func (m *mwi) summary(ctx context.Context, ext string) (string, error) {
	boxes, err := m.store.BoxesOf(ctx, ext)
	if err != nil {
		return "", err
	}
	var unplayed, played int
	for _, b := range boxes {
		u, p, err := m.store.Counts(ctx, b)
		if err != nil {
			return "", err
		}
		unplayed, played = unplayed+u, played+p
	}
	waiting := "no"
	if unplayed > 0 {
		waiting = "yes"
	}
	return fmt.Sprintf("Messages-Waiting: %s\r\nMessage-Account: sip:%s%s@%s\r\nVoice-Message: %d/%d (0/0)\r\n",
		waiting, VoicemailCode, ext, m.contact.Address.Host, unplayed, played), nil
}

// notify sends one NOTIFY in a subscription's dialog.
func (m *mwi) notify(sub *subscription, terminated bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	body, err := m.summary(ctx, sub.ext)
	if err != nil {
		m.log.Warn("mwi: counts", "extension", sub.ext, "error", err)
		return
	}
	m.mu.Lock()
	sub.cseq++
	cseq := sub.cseq
	left := int(time.Until(sub.expires).Seconds())
	m.mu.Unlock()
	state := fmt.Sprintf("active;expires=%d", max(left, 0))
	if terminated || left <= 0 {
		state = "terminated;reason=timeout"
	}
	req := sip.NewRequest(sip.NOTIFY, sub.target)
	fromParams := sip.NewParams()
	fromParams.Add("tag", sub.localTag)
	req.AppendHeader(&sip.FromHeader{Address: sub.localURI, Params: fromParams})
	toParams := sip.NewParams()
	if sub.remoteTag != "" {
		toParams.Add("tag", sub.remoteTag)
	}
	req.AppendHeader(&sip.ToHeader{Address: sub.remoteURI, Params: toParams})
	callID := sip.CallIDHeader(sub.callID)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: sip.NOTIFY})
	m.send(ctx, req, sub.transport, state, body, sub.ext)
}

// send fills in the common NOTIFY headers and sends it.
func (m *mwi) send(ctx context.Context, req *sip.Request, transport, state, body, ext string) {
	req.SetTransport(strings.ToUpper(transport))
	req.SetDestination(fmt.Sprintf("%s:%d", req.Recipient.Host, req.Recipient.Port))
	req.AppendHeader(&m.contact)
	req.AppendHeader(sip.NewHeader("Event", mwiEvent))
	req.AppendHeader(sip.NewHeader("Subscription-State", state))
	req.AppendHeader(sip.NewHeader("Content-Type", mwiContentType))
	req.SetBody([]byte(body))
	res, err := m.client.Do(ctx, req)
	if err != nil {
		m.log.Debug("mwi: NOTIFY not delivered", "extension", ext, "error", err)
		return
	}
	if res.StatusCode == sip.StatusCallTransactionDoesNotExists {
		m.mu.Lock()
		if cid := req.CallID(); cid != nil {
			delete(m.subs, cid.Value())
		}
		m.mu.Unlock()
	}
	m.log.Debug("mwi: NOTIFY", "extension", ext, "status", res.StatusCode)
}

// boxChanged updates the lamps of everyone watching box.
func (m *mwi) boxChanged(box string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	watchers, err := m.store.LampWatchers(ctx, box)
	if err != nil {
		m.log.Warn("mwi: watchers", "box", box, "error", err)
		return
	}
	now := m.now()
	for _, ext := range watchers {
		m.mu.Lock()
		var mine []*subscription
		for id, s := range m.subs {
			if s.expires.Before(now) {
				delete(m.subs, id)
				continue
			}
			if s.ext == ext {
				mine = append(mine, s)
			}
		}
		m.mu.Unlock()
		for _, s := range mine {
			go m.notify(s, false)
		}
		if len(mine) == 0 && m.unsolicited {
			go m.notifyUnsolicited(ext)
		}
	}
}

// notifyUnsolicited sends an out-of-dialog NOTIFY to each registered device
// of an extension, for phones configured to light their lamp without subscribing.
func (m *mwi) notifyUnsolicited(ext string) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	body, err := m.summary(ctx, ext)
	if err != nil {
		return
	}
	devices, err := m.store.Bindings(ctx, ext, m.now())
	if err != nil {
		return
	}
	for _, d := range devices {
		target, err := deviceURI(d)
		if err != nil {
			continue
		}
		req := sip.NewRequest(sip.NOTIFY, target)
		aor := sip.Uri{Scheme: "sip", User: ext, Host: m.contact.Address.Host}
		fromParams := sip.NewParams()
		fromParams.Add("tag", sip.GenerateTagN(16))
		req.AppendHeader(&sip.FromHeader{Address: aor, Params: fromParams})
		req.AppendHeader(&sip.ToHeader{Address: aor, Params: sip.NewParams()})
		m.send(ctx, req, d.Transport, "active", body, ext)
	}
}
