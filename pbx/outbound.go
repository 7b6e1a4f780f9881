package pbx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/emiago/diago"
	"github.com/emiago/diago/media"
	"github.com/emiago/sipgo/sip"

	"github.com/frontdesk-pbx/frontdesk/store"
)

// Outbound permission levels, each allowing the ones before it.
var outboundLevels = []string{"internal", "local", "national", "international"}

// EmergencyNumbers can always be dialled, whatever an extension may call.
var EmergencyNumbers = []string{"911", "112", "999", "000", "110", "119"}

// allowed reports whether an extension with permission may call a number of class.
func allowed(permission, class string) bool {
	if class == "emergency" {
		return true
	}
	p, c := indexOf(outboundLevels, permission), indexOf(outboundLevels, class)
	return p >= 0 && c >= 0 && p >= c
}

func indexOf(list []string, v string) int {
	for i, x := range list {
		if x == v {
			return i
		}
	}
	return -1
}

// pickRule finds the dial rule for a number: the longest matching prefix.
// Emergency numbers use the rule for their own number, or else any rule.
func pickRule(rules []store.DialRule, number string) (store.DialRule, bool) {
	for _, r := range rules { // longest prefix first
		if strings.HasPrefix(number, r.Prefix) {
			return r, true
		}
	}
	return store.DialRule{}, false
}

// ruleClass is the class of a call to number by its rule. A number in
// international format ("+44...") that only the catch-all rule (empty
// prefix) covers can reach any country, so it counts as international
// whatever that rule says; rules with a "+" prefix class such numbers
// themselves. Emergency numbers are always "emergency".
func ruleClass(rule store.DialRule, number string) string {
	switch {
	case isEmergency(number):
		return "emergency"
	case strings.HasPrefix(number, "+") && rule.Prefix == "":
		return "international"
	}
	return rule.Class
}

// outboundPlan is how an outside number leaves the PBX.
type outboundPlan struct {
	trunk   store.Trunk
	dialled string // the number as sent to the provider
	class   string
}

// Reasons an outside number can't be called.
var (
	ErrNoRoute    = errors.New("no dial rule covers that number")
	ErrNotAllowed = errors.New("this extension may not call that kind of number")
	// ErrTrunkUnreachable: the number's trunk has a provider that stopped
	// answering (see trunkUnreachable).
	ErrTrunkUnreachable = errors.New("the trunk's provider is not answering")
)

// planOutbound picks the trunk for an outside number and checks that ext
// may call it (emergency numbers always).
func (b *b2bua) planOutbound(ctx context.Context, ext store.Extension, number string) (outboundPlan, error) {
	if !validDialString(number) {
		return outboundPlan{}, ErrNoRoute
	}
	rules, err := b.store.DialRules(ctx)
	if err != nil {
		return outboundPlan{}, err
	}
	rule, ok := pickRule(rules, number)
	if !ok {
		return outboundPlan{}, ErrNoRoute
	}
	class := ruleClass(rule, number)
	if !allowed(ext.Outbound, class) {
		return outboundPlan{class: class}, fmt.Errorf("%w: %s numbers (extension %s is %s only)", ErrNotAllowed, class, ext.Number, ext.Outbound)
	}
	trunk, err := b.store.Trunk(ctx, rule.Trunk)
	if err != nil {
		return outboundPlan{}, err
	}
	dialled := number
	if rule.Strip > 0 && rule.Strip <= len(dialled) {
		dialled = dialled[rule.Strip:]
	}
	return outboundPlan{trunk: trunk, dialled: rule.Prepend + dialled, class: class}, nil
}

// trunkHealth is what the trunk Keeper tells about a trunk's provider.
type trunkHealth interface {
	Unreachable(name string) (why string, down bool)
}

// trunkUnreachable says whether a planned call must not be sent to its
// trunk because the provider stopped answering the trunk's REGISTERs (see
// trunk.Keeper.Unreachable): over UDP its INVITE would go unanswered and
// the caller would hear nothing for 32 s before a 503, where refusing at
// once lets the phone say so (Asterisk: CHANUNAVAIL). A dial rule names
// one trunk, so there is no other to try. Emergency calls are still sent:
// the registration state may be a retry behind a provider that is back.
func trunkUnreachable(h trunkHealth, plan outboundPlan) (why string, down bool) {
	if h == nil || plan.class == "emergency" {
		return "", false
	}
	return h.Unreachable(plan.trunk.Name)
}

// outbound sends a call to an outside number through the trunk its dial
// rule names, if the calling extension may call that kind of number.
func (c *call) outbound(number string) (string, string) {
	ctx := c.ds.Context()
	if c.caller.Ext == nil {
		respond(c.ds, sip.StatusNotFound, "Not Found")
		return store.CallNotFound, ""
	}
	plan, err := c.b.planOutbound(ctx, *c.caller.Ext, number)
	switch {
	case errors.Is(err, ErrNotAllowed):
		c.log.Warn("outbound call refused by permission", "permission", c.caller.Ext.Outbound, "class", plan.class)
		respond(c.ds, sip.StatusForbidden, "Forbidden: "+plan.class+" calls not allowed from this extension")
		return store.CallRefused, ""
	case errors.Is(err, ErrNoRoute), errors.Is(err, store.ErrNotFound):
		respond(c.ds, sip.StatusNotFound, "Not Found")
		return store.CallNotFound, ""
	case err != nil:
		respond(c.ds, sip.StatusServiceUnavailable, "Service Unavailable")
		return store.CallFailed, ""
	}
	c.log = c.log.With("trunk", plan.trunk.Name, "dialled", plan.dialled, "class", plan.class)
	if why, down := trunkUnreachable(c.b.trunks, plan); down {
		c.log.Warn("outbound call refused: trunk unreachable", "reason", why)
		respond(c.ds, sip.StatusServiceUnavailable, "Trunk Unreachable")
		return store.CallUnavailable, ""
	}
	c.log.Info("outbound call")
	_ = c.ds.Trying()
	dc, code, err := c.b.dialTrunk(ctx, c.ds, func() { _ = c.ds.Ringing() }, c.caller, plan.trunk, plan.dialled)
	if err != nil {
		c.log.Info("outbound call not answered", "code", code, "error", err)
		switch {
		case ctx.Err() != nil:
			return store.CallCanceled, "caller"
		case code == sip.StatusBusyHere || code == 600:
			respond(c.ds, sip.StatusBusyHere, "Busy Here")
			return store.CallBusy, ""
		case code >= 400:
			respond(c.ds, code, "Call Failed")
		default:
			respond(c.ds, sip.StatusServiceUnavailable, "Service Unavailable")
		}
		return store.CallFailed, ""
	}
	return c.answerAndBridge(dc)
}

// dialTrunk INVITEs a number at a provider, answering its digest challenge
// with the trunk's credentials, and waits for the answer.
func (b *b2bua) dialTrunk(ctx context.Context, originator diago.DialogSession, ringing func(), caller party, t store.Trunk, number string) (*diago.DialogClientSession, int, error) {
	host, port := splitHostPort(t.Host)
	callerID := orDefault(t.CallerID, caller.Number)
	from := &sip.FromHeader{
		DisplayName: caller.Name,
		Address:     sip.Uri{Scheme: "sip", User: orDefault(t.Username, callerID), Host: host},
		Params:      sip.NewParams(),
	}
	headers := []sip.Header{from}
	if t.CallerID != "" {
		headers = append(headers, sip.NewHeader("P-Asserted-Identity", "<sip:"+t.CallerID+"@"+host+">"))
	}
	return b.invite(ctx, sip.Uri{Scheme: "sip", User: number, Host: host, Port: port}, t.Transport, trunkCodecs(t.Codecs),
		diago.InviteClientOptions{
			Originator: originator,
			Headers:    headers,
			Username:   orDefault(t.AuthUsername, t.Username),
			Password:   t.Password,
		}, ringing)
}

// trunkCodecs is our codec list limited to what a trunk allows ("PCMU,PCMA"),
// always with telephone-events; all of ours when the setting names none.
func trunkCodecs(allowed string) []media.Codec {
	var out []media.Codec
	for _, c := range codecs {
		if c.Name == "telephone-event" || strings.Contains(","+strings.ToUpper(strings.ReplaceAll(allowed, " ", ""))+",", ","+c.Name+",") {
			out = append(out, c)
		}
	}
	if len(out) <= 1 {
		return append([]media.Codec(nil), codecs...)
	}
	return out
}

func splitHostPort(hostport string) (string, int) {
	host, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport, 5060
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return host, 5060
	}
	return host, port
}

func isEmergency(number string) bool {
	return indexOf(EmergencyNumbers, number) >= 0
}

// validDialString: digits with an optional leading +.
func validDialString(s string) bool {
	s = strings.TrimPrefix(s, "+")
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// trunkFor tells whether an INVITE comes from a trunk, so it needs no digest
// answer: from a registration trunk's provider address (IP and port), or
// from an address a peer trunk allows (IP, IP:port or CIDR).
func (b *b2bua) trunkFor(ctx context.Context, req *sip.Request) (store.Trunk, bool) {
	src, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return store.Trunk{}, false
	}
	trunks, err := b.store.Trunks(ctx)
	if err != nil {
		return store.Trunk{}, false
	}
	for _, t := range trunks {
		if t.Mode == "peer" {
			for _, a := range strings.Split(t.AllowFrom, ",") {
				if matchSource(strings.TrimSpace(a), src) {
					return t, true
				}
			}
			continue
		}
		host, port := splitHostPort(t.Host)
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			continue
		}
		for _, ip := range ips {
			if ip.Unmap() == src.Addr().Unmap() && int(src.Port()) == port {
				return t, true
			}
		}
	}
	return store.Trunk{}, false
}

// matchSource matches a source against "IP", "IP:port" or "CIDR".
func matchSource(allow string, src netip.AddrPort) bool {
	if allow == "" {
		return false
	}
	if ap, err := netip.ParseAddrPort(allow); err == nil {
		return ap.Addr().Unmap() == src.Addr().Unmap() && ap.Port() == src.Port()
	}
	if ip, err := netip.ParseAddr(allow); err == nil {
		return ip.Unmap() == src.Addr().Unmap()
	}
	if p, err := netip.ParsePrefix(allow); err == nil {
		return p.Contains(src.Addr().Unmap())
	}
	return false
}
