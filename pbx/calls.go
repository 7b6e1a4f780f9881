package pbx

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/diago/media"
	"github.com/emiago/diago/media/sdp"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/frontdesk-pbx/frontdesk/pbx/sipauth"
	"github.com/frontdesk-pbx/frontdesk/store"
)

// codecs the PBX offers and accepts. Both legs of a call settle on the same
// one, so audio is relayed packet by packet without transcoding.
var codecs = []media.Codec{media.CodecAudioUlaw, media.CodecAudioAlaw, media.CodecTelephoneEvent8000}

// b2bua connects calls between extensions: every call is two SIP dialogs, the
// caller's leg answered by the PBX and one callee leg per registered device,
// with RTP flowing through the PBX so phones behind NAT hear each other.
type b2bua struct {
	store *store.Store
	auth  *sipauth.Authenticator
	dg    *diago.Diago
	log   *slog.Logger
	now   func() time.Time
	// scheduleClock is the time business hours are judged by.
	scheduleClock func() time.Time

	vm     *voicemail
	queues *queues

	host       string // our address in From headers we write
	mediaIP    net.IP // local address RTP sockets bind to
	externalIP net.IP // address written in SDP when it differs (--public-ip)

	// active counts calls in progress; draining refuses new ones (shutdown).
	active   atomic.Int64
	draining atomic.Bool
	counters *counters
	// abuse counts failed authentications per source.
	abuse *abuseGuard
	// trunks tells which trunks' providers stopped answering (nil: none).
	trunks trunkHealth
}

// party is who is calling: an extension, or an outside caller from a trunk.
type party struct {
	Number, Name string
	// Ext is the calling extension; nil for outside callers.
	Ext *store.Extension
	// Display is shown to callees; "Group name: caller" when a group rings.
	Display string
}

func extensionParty(e store.Extension) party {
	return party{Number: e.Number, Name: e.Name, Ext: &e, Display: e.Name}
}

// outsideParty is the caller named in an INVITE from a trunk.
func outsideParty(req *sip.Request) party {
	p := party{Number: "anonymous"}
	if f := req.From(); f != nil {
		if f.Address.User != "" {
			p.Number = f.Address.User
		}
		p.Name = f.DisplayName
	}
	p.Display = orDefault(p.Name, p.Number)
	return p
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// call is one incoming call being routed.
type call struct {
	b      *b2bua
	ds     *diago.DialogServerSession
	caller party
	id     int64
	log    *slog.Logger
	hops   int // destinations followed so far, to stop forwarding loops
	// cm is the PBX's own media on the caller's leg once the PBX has
	// answered it (auto attendant, voicemail); later destinations reuse it.
	cm *callMedia
}

// answer answers the caller's leg once and keeps its media.
func (c *call) answer() (*callMedia, error) {
	if c.cm == nil {
		cm, err := c.b.vm.answer(c.ds)
		if err != nil {
			return nil, err
		}
		c.cm = cm
	}
	return c.cm, nil
}

// maxHops bounds how many destinations one call may be passed through.
const maxHops = 8

// serve handles one incoming INVITE from start to hangup. diago calls it on
// its own goroutine and sends BYE to the caller (or a final error response)
// when it returns.
func (b *b2bua) serve(ds *diago.DialogServerSession) {
	if b.draining.Load() {
		respondRetryLater(ds)
		return
	}
	b.active.Add(1)
	defer b.active.Add(-1)
	b.counters.call()
	req := ds.InviteRequest
	trunk, fromTrunk := b.trunkFor(ds.Context(), req)
	var caller party
	if fromTrunk {
		caller = outsideParty(req)
	} else {
		ext, ok := b.authenticate(ds)
		if !ok {
			return
		}
		caller = extensionParty(ext)
	}
	if code, err := checkOffer(req); err != nil {
		b.log.Info("call refused: unusable offer", "from", caller.Number, "status", code, "error", err)
		reason := "Not Acceptable Here"
		if code == 415 {
			reason = "Unsupported Media Type"
		}
		respond(ds, code, reason)
		return
	}
	target := req.Recipient.User
	started := b.now()
	id, err := b.store.StartCall(context.Background(), store.Call{
		SIPCallID:  req.CallID().Value(),
		FromNumber: caller.Number,
		FromName:   caller.Name,
		ToNumber:   target,
		StartedAt:  started,
		Status:     store.CallRinging,
	})
	if err != nil {
		b.log.Error("call log", "error", err)
	}
	c := &call{b: b, ds: ds, caller: caller, id: id, log: b.log.With("call", id, "from", caller.Number, "to", target)}
	var status, hangupBy string
	if fromTrunk {
		c.log = c.log.With("trunk", trunk.Name)
		c.log.Info("call started")
		status, hangupBy = c.inbound(target)
	} else {
		c.log.Info("call started")
		status, hangupBy = c.dial(target)
	}
	if err := b.store.EndCall(context.Background(), id, b.now(), status, hangupBy); err != nil {
		c.log.Error("call log", "error", err)
	}
	c.log.Info("call ended", "status", status, "hangup_by", hangupBy, "seconds", int(b.now().Sub(started).Seconds()))
}

// dial routes what an extension dialled: a feature code, an internal
// number, or an outside number through a trunk.
func (c *call) dial(target string) (string, string) {
	if rest, ok := strings.CutPrefix(target, VoicemailCode); ok {
		return c.b.vm.menu(c.ds, c.caller, rest), ""
	}
	for _, code := range []string{QueueLoginCode, QueueLogoutCode} {
		if queue, ok := strings.CutPrefix(target, code); ok {
			return c.queueLogin(code, queue)
		}
	}
	if dest, ok := c.internal(target); ok {
		return c.route(dest)
	}
	return c.outbound(target)
}

// internal finds what owns an internal number.
func (c *call) internal(number string) (Destination, bool) {
	ctx := c.ds.Context()
	if _, err := c.b.store.Extension(ctx, number); err == nil {
		return Destination{Kind: DestExtension, Number: number}, true
	}
	if box, err := c.b.store.Box(ctx, number); err == nil && box.Kind == store.BoxShared {
		return Destination{Kind: DestVoicemail, Number: number}, true
	}
	if _, err := c.b.store.RingGroup(ctx, number); err == nil {
		return Destination{Kind: DestGroup, Number: number}, true
	}
	if _, err := c.b.store.Attendant(ctx, number); err == nil {
		return Destination{Kind: DestAttendant, Number: number}, true
	}
	if _, err := c.b.store.Queue(ctx, number); err == nil {
		return Destination{Kind: DestQueue, Number: number}, true
	}
	return Destination{}, false
}

// inbound routes a call that arrived on a trunk by the number it was for,
// honouring the number's after-hours destination.
func (c *call) inbound(number string) (string, string) {
	ctx := c.ds.Context()
	in, err := c.b.store.InboundNumber(ctx, number)
	if err != nil {
		c.log.Info("inbound call for an unknown number")
		respond(c.ds, sip.StatusNotFound, "Not Found")
		return store.CallNotFound, ""
	}
	destText := in.Dest
	if in.Schedule != "" && in.AfterHoursDest != "" && !c.b.openNow(ctx, in.Schedule, c.log) {
		destText = in.AfterHoursDest
		c.log.Info("after hours", "schedule", in.Schedule)
	}
	dest, err := ParseDestination(destText)
	if err != nil {
		c.log.Warn("inbound number has a bad destination", "dest", destText)
		respond(c.ds, sip.StatusServiceUnavailable, "Service Unavailable")
		return store.CallFailed, ""
	}
	return c.route(dest)
}

// openNow reports whether a schedule is open; an unreadable schedule counts
// as open, so a mistake in it never sends daytime calls away.
func (b *b2bua) openNow(ctx context.Context, schedule string, log *slog.Logger) bool {
	sc, err := b.store.Schedule(ctx, schedule)
	if err != nil {
		log.Warn("schedule", "schedule", schedule, "error", err)
		return true
	}
	open, err := isOpen(sc, b.scheduleClock())
	if err != nil {
		log.Warn("schedule", "schedule", schedule, "error", err)
		return true
	}
	return open
}

// route sends the call to a destination.
func (c *call) route(dest Destination) (string, string) {
	c.hops++
	if c.hops > maxHops {
		c.log.Warn("call passed through too many destinations", "dest", dest.String())
		respond(c.ds, 482, "Loop Detected")
		return store.CallFailed, ""
	}
	ctx := c.ds.Context()
	switch dest.Kind {
	case DestExtension:
		return c.connect(dest.Number)
	case DestVoicemail:
		if box, err := c.b.store.Box(ctx, dest.Number); err == nil {
			cm, err := c.answer()
			if err != nil {
				c.log.Warn("answer for voicemail", "error", err)
				return store.CallFailed, ""
			}
			return c.b.vm.deposit(c.ds, cm, box, c.caller, dest.Number), ""
		}
	case DestAttendant:
		if a, err := c.b.store.Attendant(ctx, dest.Number); err == nil {
			return c.attendant(a)
		}
	case DestQueue:
		if q, err := c.b.store.Queue(ctx, dest.Number); err == nil {
			return c.queue(q)
		}
	case DestGroup:
		if g, err := c.b.store.RingGroup(ctx, dest.Number); err == nil {
			return c.ringGroup(g)
		}
	}
	c.log.Warn("destination not available", "dest", dest.String())
	respond(c.ds, sip.StatusNotFound, "Not Found")
	return store.CallNotFound, ""
}

// authenticate challenges the INVITE and returns the calling extension.
func (b *b2bua) authenticate(ds *diago.DialogServerSession) (store.Extension, bool) {
	req := ds.InviteRequest
	ctx := context.Background()
	user, err := b.auth.Verify(headerValue(req, "Proxy-Authorization"), string(sip.INVITE), secretsLookup(ctx, b.store))
	switch {
	case errors.Is(err, sipauth.ErrNoCredentials), errors.Is(err, sipauth.ErrStale):
		if from := req.From(); errors.Is(err, sipauth.ErrNoCredentials) && from != nil && b.abuse.tracks(req.Source()) {
			// A caller that is no extension (scanners try numbers): the
			// same challenge, but it counts against the source.
			if _, err := b.store.Extension(ctx, from.Address.User); errors.Is(err, store.ErrNotFound) {
				b.abuse.fail(req.Source(), failUnknownUser)
			}
		}
		res := challenge(req, b.auth, sip.StatusProxyAuthRequired, "Proxy-Authenticate", errors.Is(err, sipauth.ErrStale))
		respond(ds, res.StatusCode, res.Reason, res.GetHeaders("Proxy-Authenticate")...)
		return store.Extension{}, false
	case err != nil:
		b.abuse.fail(req.Source(), failWrongCredentials)
		b.log.Info("call refused: authentication failed", "source", req.Source())
		respond(ds, sip.StatusForbidden, "Forbidden")
		return store.Extension{}, false
	}
	ext, err := b.store.Extension(ctx, user)
	if err != nil {
		// Removed between the check and now.
		respond(ds, sip.StatusForbidden, "Forbidden")
		return store.Extension{}, false
	}
	return ext, true
}

func respond(ds *diago.DialogServerSession, code int, reason string, headers ...sip.Header) {
	_ = ds.Respond(code, reason, nil, headers...)
}

// respondRetryLater refuses a call while the server shuts down; phones and
// trunks try again (or fail over) after Retry-After.
func respondRetryLater(ds *diago.DialogServerSession) {
	respond(ds, sip.StatusServiceUnavailable, "Shutting Down", sip.NewHeader("Retry-After", "30"))
}

// leg is the outcome of ringing one device.
type leg struct {
	dc   *diago.DialogClientSession
	code int // final SIP status when it failed; 0 when answered
	err  error
}

// connect rings an extension's devices, bridges the first to answer with the
// caller, and waits until either side hangs up. It returns the call-log status.
func (c *call) connect(target string) (status, hangupBy string) {
	ctx := c.ds.Context()
	callee, err := c.b.store.Extension(ctx, target)
	if err != nil {
		respond(c.ds, sip.StatusNotFound, "Not Found")
		return store.CallNotFound, ""
	}
	// refuse ends an unanswered call: to the callee's forward for this case
	// (by default its own voicemail box) when there is one, else with code.
	refuse := func(code int, reason, status string) (string, string) {
		if dest, ok := forwardFor(callee, status); ok {
			c.log.Info("call forwarded", "dest", dest.String(), "because", status)
			return c.route(dest)
		}
		respond(c.ds, code, reason)
		return status, ""
	}
	devices, err := c.b.store.Bindings(ctx, target, c.b.now())
	if err != nil || len(devices) == 0 {
		return refuse(sip.StatusTemporarilyUnavailable, "Temporarily Unavailable", store.CallUnavailable)
	}
	_ = c.ds.Trying()

	ringCtx, stopRinging := context.WithTimeout(ctx, time.Duration(callee.RingSeconds)*time.Second)
	defer stopRinging()
	answered, codes := c.b.ringDevices(ringCtx, c.ds, c.caller, devices, c.log)

	if answered == nil {
		switch {
		case ctx.Err() != nil:
			return store.CallCanceled, "caller"
		case slices.Contains(codes, sip.StatusBusyHere) || slices.Contains(codes, 600): // 600 Busy Everywhere
			return refuse(sip.StatusBusyHere, "Busy Here", store.CallBusy)
		case slices.Contains(codes, 603): // Decline
			return refuse(603, "Decline", store.CallBusy)
		case ringCtx.Err() != nil:
			return refuse(sip.StatusTemporarilyUnavailable, "No Answer", store.CallNoAnswer)
		default:
			return refuse(sip.StatusTemporarilyUnavailable, "Temporarily Unavailable", store.CallUnavailable)
		}
	}
	return c.answerAndBridge(answered)
}

// answerAndBridge answers the caller with the codec the callee chose and
// relays media until one side hangs up.
func (c *call) answerAndBridge(answered *diago.DialogClientSession) (string, string) {
	defer answered.Close()
	if c.cm != nil {
		// Answered already (attendant, voicemail): hand its audio to the bridge.
		c.cm.pause()
		return c.b.bridge(c.ds, answered, c.id, c.log)
	}
	chosen := answered.MediaSession().CommonCodecs()
	if err := c.ds.AnswerOptions(diago.AnswerOptions{Codecs: chosen, RTPNAT: media.RTPNATSymetric}); err != nil {
		c.log.Warn("answer caller", "error", err)
		_ = answered.Ack(context.Background())
		_ = answered.Hangup(context.Background())
		if c.ds.Context().Err() != nil {
			return store.CallCanceled, "caller"
		}
		return store.CallFailed, ""
	}
	return c.b.bridge(c.ds, answered, c.id, c.log)
}

// ringGroup rings a group's members, all at once or one after another, and
// sends the call to the group's no-answer destination when nobody answers.
func (c *call) ringGroup(g store.RingGroup) (string, string) {
	ctx := c.ds.Context()
	c.log = c.log.With("group", g.Number)
	from := c.caller
	from.Display = g.Name + ": " + c.caller.Display
	_ = c.ds.Trying()
	overall, cancel := context.WithTimeout(ctx, time.Duration(g.Timeout)*time.Second)
	defer cancel()

	var answered *diago.DialogClientSession
	if g.Strategy == "order" {
		for _, member := range g.Members {
			devices, err := c.b.store.Bindings(ctx, member, c.b.now())
			if err != nil || len(devices) == 0 {
				continue
			}
			memberCtx, stop := context.WithTimeout(overall, time.Duration(g.RingSeconds)*time.Second)
			c.log.Debug("ringing group member", "member", member)
			answered, _ = c.b.ringDevices(memberCtx, c.ds, from, devices, c.log)
			stop()
			if answered != nil || overall.Err() != nil {
				break
			}
		}
	} else {
		var devices []store.Binding
		for _, member := range g.Members {
			if ds, err := c.b.store.Bindings(ctx, member, c.b.now()); err == nil {
				devices = append(devices, ds...)
			}
		}
		if len(devices) > 0 {
			ringCtx, stop := context.WithTimeout(overall, time.Duration(min(g.RingSeconds, g.Timeout))*time.Second)
			answered, _ = c.b.ringDevices(ringCtx, c.ds, from, devices, c.log)
			stop()
		}
	}
	if answered != nil {
		return c.answerAndBridge(answered)
	}
	if ctx.Err() != nil {
		return store.CallCanceled, "caller"
	}
	if dest, err := ParseDestination(g.NoAnswer); err == nil {
		c.log.Info("nobody in the group answered", "dest", dest.String())
		return c.route(dest)
	}
	respond(c.ds, sip.StatusTemporarilyUnavailable, "No Answer")
	return store.CallNoAnswer, ""
}

// ringDevices rings every device at once and returns the first to answer
// (nil if none did before ctx ended) and the final codes of those that
// refused. Devices still ringing are cancelled; any that answered at the
// same moment are hung up.
func (b *b2bua) ringDevices(ctx context.Context, ds *diago.DialogServerSession, caller party, devices []store.Binding, log *slog.Logger) (*diago.DialogClientSession, []int) {
	return b.ringDevicesFor(ctx, ds, func() { _ = ds.Ringing() }, caller, devices, log)
}

// ringDevicesFor is ringDevices for any originating leg (a caller's, or the
// first leg of a click-to-call); ringing is called once when a device rings.
func (b *b2bua) ringDevicesFor(ctx context.Context, originator diago.DialogSession, ringing func(), caller party, devices []store.Binding, log *slog.Logger) (*diago.DialogClientSession, []int) {
	ringCtx, stopRinging := context.WithCancel(ctx)
	defer stopRinging()
	var ringOnce sync.Once
	ringingOnce := func() { ringOnce.Do(ringing) }

	legs := make(chan leg, len(devices))
	for _, d := range devices {
		go func() { legs <- b.ring(ringCtx, originator, caller, d, ringingOnce) }()
	}
	var answered *diago.DialogClientSession
	var codes []int
	received := 0
	for received < len(devices) {
		l := <-legs
		received++
		if l.err == nil {
			answered = l.dc
			break
		}
		if l.code != 0 {
			codes = append(codes, l.code)
		}
		log.Debug("device did not answer", "code", l.code, "error", l.err)
	}
	stopRinging()
	go drainLegs(legs, len(devices)-received, b.log)
	return answered, codes
}

// forwardFor is where an extension's unanswered call goes for a status:
// its setting for that case, else its own box when it has one.
func forwardFor(callee store.Extension, status string) (Destination, bool) {
	var setting string
	switch status {
	case store.CallNoAnswer:
		setting = callee.ForwardNoAnswer
	case store.CallBusy:
		setting = callee.ForwardBusy
	case store.CallUnavailable:
		setting = callee.ForwardUnavailable
	default:
		return Destination{}, false
	}
	if setting == "" {
		if !callee.Voicemail {
			return Destination{}, false
		}
		return Destination{Kind: DestVoicemail, Number: callee.Number}, true
	}
	d, err := ParseDestination(setting)
	return d, err == nil
}

// operator connects a caller who is already in voicemail (they pressed 0
// during the greeting) to the box's operator extension. It reports false,
// leaving the caller in voicemail, when nobody answers there.
func (b *b2bua) operator(ds *diago.DialogServerSession, cm *callMedia, caller party, dest Destination) (string, bool) {
	log := b.log.With("from", caller.Number, "operator", dest.String())
	if dest.Kind != DestExtension {
		log.Warn("operator destination not supported yet")
		return "", false
	}
	ctx := ds.Context()
	op, err := b.store.Extension(ctx, dest.Number)
	if err != nil {
		return "", false
	}
	devices, err := b.store.Bindings(ctx, op.Number, b.now())
	if err != nil || len(devices) == 0 {
		return "", false
	}
	ringCtx, cancel := context.WithTimeout(ctx, time.Duration(op.RingSeconds)*time.Second)
	defer cancel()
	answered, _ := b.ringDevices(ringCtx, ds, caller, devices, log)
	if answered == nil {
		return "", false
	}
	defer answered.Close()
	cm.pause() // the bridge reads the caller's audio from now on
	log.Info("voicemail caller transferred to the operator")
	status, _ := b.bridge(ds, answered, 0, log)
	return status, true
}

// ring sends one INVITE to one device and waits for its final answer.
func (b *b2bua) ring(ctx context.Context, originator diago.DialogSession, caller party, d store.Binding, ringing func()) leg {
	uri, err := deviceURI(d)
	if err != nil {
		return leg{err: err}
	}
	from := &sip.FromHeader{
		DisplayName: caller.Display,
		Address:     sip.Uri{Scheme: "sip", User: caller.Number, Host: b.host},
		Params:      sip.NewParams(),
	}
	dc, code, err := b.invite(ctx, uri, d.Transport, codecs, diago.InviteClientOptions{
		Originator: originator,
		Headers:    []sip.Header{from},
	}, ringing)
	return leg{dc: dc, code: code, err: err}
}

// invite places one outgoing leg and waits for its final answer. The leg
// gets its own media session that learns the far end's real RTP address
// from the packets it sends (symmetric RTP), as the caller's leg does.
// On failure it returns the final SIP status when there was one.
func (b *b2bua) invite(ctx context.Context, uri sip.Uri, transport string, offer []media.Codec, opts diago.InviteClientOptions, ringing func()) (*diago.DialogClientSession, int, error) {
	dc, err := b.dg.NewDialog(uri, diago.NewDialogOptions{Transport: transport})
	if err != nil {
		return nil, 0, err
	}
	sess := &media.MediaSession{
		Codecs:     append([]media.Codec(nil), offer...),
		Laddr:      net.UDPAddr{IP: b.mediaIP},
		ExternalIP: b.externalIP,
		Mode:       sdp.ModeSendrecv,
		RTPNAT:     media.RTPNATSymetric,
	}
	if err := sess.Init(); err != nil {
		return nil, 0, err
	}
	dc.InitMediaSession(sess, nil, nil)
	opts.OnResponse = func(res *sip.Response) error {
		if res.StatusCode == sip.StatusRinging || res.StatusCode == sip.StatusSessionInProgress {
			ringing()
		}
		return nil
	}
	if err := dc.Invite(ctx, opts); err != nil {
		dc.Close()
		var resErr *sipgo.ErrDialogResponse
		if errors.As(err, &resErr) {
			return nil, resErr.Res.StatusCode, err
		}
		return nil, 0, err
	}
	return dc, 0, nil
}

// bridge relays media between the answered caller leg and the callee leg
// and waits for a hangup on either side.
func (b *b2bua) bridge(ds *diago.DialogServerSession, dc *diago.DialogClientSession, id int64, log *slog.Logger) (status, hangupBy string) {
	if id != 0 {
		if err := b.store.CallAnswered(context.Background(), id, b.now()); err != nil {
			log.Error("call log", "error", err)
		}
	}
	if err := dc.Ack(ds.Context()); err != nil {
		log.Warn("ACK callee", "error", err)
	}
	log.Info("call answered")
	return store.CallAnswered, relay(ds, dc, log)
}

// relay bridges two answered legs (RTP and RFC 4733 events pass through)
// until one hangs up, then hangs up the other. It says which ended first:
// "caller" for a, "callee" for c.
func relay(a, c diago.DialogSession, log *slog.Logger) string {
	br := diago.NewBridge()
	br.DTMFpass = true
	if err := br.AddDialogSession(a); err != nil {
		log.Warn("bridge caller", "error", err)
	}
	if err := br.AddDialogSession(c); err != nil {
		log.Warn("bridge callee", "error", err)
	}
	other, who := c, "caller"
	select {
	case <-a.Context().Done():
	case <-c.Context().Done():
		other, who = a, "callee"
	}
	hctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := other.Hangup(hctx); err != nil {
		log.Debug("hang up the other leg", "error", err)
	}
	return who
}

// drainLegs collects the outcome of devices still ringing after the call was
// decided, and hangs up any that answered in the meantime.
func drainLegs(legs <-chan leg, n int, log *slog.Logger) {
	for range n {
		l := <-legs
		if l.err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := l.dc.Ack(ctx); err == nil {
			if err := l.dc.Hangup(ctx); err != nil {
				log.Debug("hang up second device", "error", err)
			}
		}
		cancel()
		l.dc.Close()
	}
}
