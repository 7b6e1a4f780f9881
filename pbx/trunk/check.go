package trunk

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/frontdesk-pbx/frontdesk/store"
)

// Codecs a trunk may offer, in the PBX's order of preference.
var Codecs = []string{"PCMU", "PCMA"}

// Limits of the registration expiry a trunk asks for, in seconds.
const (
	MinExpires = 60
	MaxExpires = 3600
)

var (
	trunkName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$`)
	hostName  = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$`)
	callerID  = regexp.MustCompile(`^\+?[0-9]{1,20}$`)
)

// SplitHost splits a trunk's "HOST[:PORT]" (an IPv6 address with a port in
// brackets); port is 0 when not given.
func SplitHost(hostport string) (host string, port int, err error) {
	hostport = strings.TrimSpace(hostport)
	bad := func(why string) (string, int, error) {
		return "", 0, fmt.Errorf("host %q: %s", hostport, why)
	}
	if hostport == "" {
		return bad("empty")
	}
	if strings.Contains(hostport, "://") || strings.HasPrefix(strings.ToLower(hostport), "sip:") || strings.HasPrefix(strings.ToLower(hostport), "sips:") {
		return bad("give HOST or HOST:PORT, without a scheme")
	}
	host = hostport
	if ip, err := netip.ParseAddr(hostport); err == nil {
		return ip.String(), 0, nil // a bare IPv6 address has colons but no port
	}
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return bad("port must be 1 to 65535")
		}
		host, port = h, n
	} else if strings.Contains(hostport, ":") {
		return bad("want HOST or HOST:PORT")
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.String(), port, nil
	}
	if len(host) > 253 || !hostName.MatchString(host) {
		return bad("not an IP address or host name")
	}
	return strings.ToLower(host), port, nil
}

// Check returns t tidied up (spaces trimmed, names in canonical case,
// defaults filled in) or an error naming the first bad setting. A peer
// without allowed addresses is allowed its host, when that is an IP address.
func Check(t store.Trunk) (store.Trunk, error) {
	if !trunkName.MatchString(t.Name) {
		return t, fmt.Errorf("trunk name %q: want 1 to 32 letters, digits, '.', '_' or '-', starting with a letter or digit", t.Name)
	}
	t.Mode = strings.ToLower(strings.TrimSpace(t.Mode))
	if t.Mode != ModeRegister && t.Mode != ModePeer {
		return t, fmt.Errorf("mode %q: want register or peer", t.Mode)
	}
	t.Host = strings.TrimSpace(t.Host)
	host, _, err := SplitHost(t.Host)
	if err != nil {
		return t, err
	}
	t.Transport = strings.ToLower(strings.TrimSpace(t.Transport))
	if t.Transport == "" {
		t.Transport = "udp"
	}
	if t.Transport != "udp" && t.Transport != "tcp" {
		return t, fmt.Errorf("transport %q: want udp or tcp", t.Transport)
	}
	t.Username = strings.TrimSpace(t.Username)
	t.AuthUsername = strings.TrimSpace(t.AuthUsername)
	if strings.ContainsFunc(t.Username, func(r rune) bool { return r <= ' ' || strings.ContainsRune(`@:;<>"\?&=,`, r) || r == 0x7f }) {
		return t, fmt.Errorf("username %q: no spaces or any of @ : ; < > \" \\ ? & = ,", t.Username)
	}
	if strings.ContainsFunc(t.AuthUsername, func(r rune) bool { return r <= ' ' || r == '"' || r == '\\' || r == 0x7f }) {
		return t, fmt.Errorf("auth username %q: no spaces, quotes or backslashes", t.AuthUsername)
	}
	if strings.ContainsFunc(t.Password, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return t, fmt.Errorf("password: no control characters (line breaks, tabs)")
	}
	if t.Mode == ModeRegister {
		if t.Username == "" {
			return t, fmt.Errorf("a register trunk needs a username")
		}
		if t.Password == "" {
			return t, fmt.Errorf("a register trunk needs a password")
		}
	}
	t.CallerID = strings.TrimSpace(t.CallerID)
	if t.CallerID != "" && !callerID.MatchString(t.CallerID) {
		return t, fmt.Errorf("caller ID %q: want a number, digits with an optional leading +", t.CallerID)
	}
	if t.Codecs, err = checkCodecs(t.Codecs); err != nil {
		return t, err
	}
	if t.Expires == 0 {
		t.Expires = defaultExpires
	}
	if t.Expires < MinExpires || t.Expires > MaxExpires {
		return t, fmt.Errorf("expires %d: want %d to %d seconds", t.Expires, MinExpires, MaxExpires)
	}
	if t.AllowFrom, err = checkAllowFrom(t.AllowFrom); err != nil {
		return t, err
	}
	if t.Mode == ModePeer && t.AllowFrom == "" {
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return t, fmt.Errorf("a peer trunk whose host is a name needs allow-from: the provider's IP addresses or networks")
		}
		t.AllowFrom = ip.String()
	}
	return t, nil
}

// checkCodecs reads "PCMU,PCMA" (any case, no repeats); empty means all.
func checkCodecs(list string) (string, error) {
	var out []string
	for _, c := range strings.Split(list, ",") {
		c = strings.ToUpper(strings.TrimSpace(c))
		if c == "" {
			continue
		}
		if !slices.Contains(Codecs, c) {
			return "", fmt.Errorf("codec %q: want %s", c, strings.Join(Codecs, " or "))
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		out = Codecs
	}
	return strings.Join(out, ","), nil
}

// checkAllowFrom reads a comma-separated list of IP addresses, IP:PORTs and
// CIDR networks (what the PBX matches INVITE sources against), returning it
// in canonical form.
func checkAllowFrom(list string) (string, error) {
	var out []string
	for _, a := range strings.Split(list, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if ip, err := netip.ParseAddr(a); err == nil {
			a = ip.String()
		} else if ap, err := netip.ParseAddrPort(a); err == nil && ap.Port() != 0 {
			a = ap.String()
		} else if p, err := netip.ParsePrefix(a); err == nil {
			a = p.Masked().String()
		} else {
			return "", fmt.Errorf("allow-from %q: want an IP address, IP:PORT or a network such as 203.0.113.0/24", a)
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return strings.Join(out, ","), nil
}
