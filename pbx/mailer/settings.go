package mailer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"

	"github.com/frontdesk-pbx/frontdesk/store"
)

// Connection security: plain SMTP, STARTTLS after the greeting, or TLS from
// the first byte (SMTPS).
const (
	SecurityNone     = "none"
	SecurityStartTLS = "starttls"
	SecurityTLS      = "tls"
)

// Keys of the mail settings in the store's settings table.
const (
	KeyHost     = "smtp.host"
	KeyPort     = "smtp.port"
	KeySecurity = "smtp.security"
	KeyUsername = "smtp.username"
	KeyPassword = "smtp.password"
	KeyFrom     = "smtp.from"
	KeyLinkBase = "smtp.link_base"
)

// Settings say how notifications reach the mail server.
type Settings struct {
	Host string `json:"host"`
	// Port is the server's port; 0 means the default for Security.
	Port     int    `json:"port"`
	Security string `json:"security"`
	// Username, when set, logs in with AUTH PLAIN (never over an
	// unencrypted connection, except to this machine).
	Username string `json:"username,omitempty"`
	Password string `json:"-"`
	// From is the sender, e.g. "Frontdesk <pbx@example.com>".
	From string `json:"from"`
	// LinkBase, when set, is the web UI's base URL: mails without the audio
	// link to LinkBase + "/messages/<id>".
	LinkBase string `json:"link_base,omitempty"`
}

// DefaultPort is the usual port for a security mode: 25, 587 or 465.
func DefaultPort(security string) int {
	switch security {
	case SecurityTLS:
		return 465
	case SecurityStartTLS:
		return 587
	}
	return 25
}

// Configured reports whether a mail server is set at all.
func (s Settings) Configured() bool { return s.Host != "" }

// Addr is the server's host:port, the default port filled in.
func (s Settings) Addr() string {
	port := s.Port
	if port == 0 {
		port = DefaultPort(s.Security)
	}
	return net.JoinHostPort(s.Host, strconv.Itoa(port))
}

// Validate checks settings before they are saved or used.
func (s Settings) Validate() error {
	if s.Host == "" {
		return errors.New("no SMTP host is set")
	}
	if strings.ContainsAny(s.Host, " \t\r\n/:@") && net.ParseIP(s.Host) == nil {
		return fmt.Errorf("SMTP host %q: want a host name or IP address", s.Host)
	}
	if s.Port < 0 || s.Port > 65535 {
		return fmt.Errorf("SMTP port %d: want 1 to 65535", s.Port)
	}
	switch s.Security {
	case SecurityNone, SecurityStartTLS, SecurityTLS:
	default:
		return fmt.Errorf("SMTP security %q: want none, starttls or tls", s.Security)
	}
	if s.Username != "" && s.Security == SecurityNone && !isLoopback(s.Host) {
		return fmt.Errorf("a password would cross the network unencrypted to %s: use security starttls or tls", s.Host)
	}
	if s.Username == "" && s.Password != "" {
		return errors.New("an SMTP password needs a username")
	}
	if s.From == "" {
		return errors.New("no sender (from) address is set")
	}
	if _, err := mail.ParseAddress(s.From); err != nil {
		return fmt.Errorf("sender address %q: %w", s.From, err)
	}
	if s.LinkBase != "" {
		u, err := url.Parse(s.LinkBase)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("link base %q: want an http or https URL such as https://pbx.example.com", s.LinkBase)
		}
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// LoadSettings reads the mail settings; unset ones are empty, the security
// defaults to starttls.
func LoadSettings(ctx context.Context, st *store.Store) (Settings, error) {
	var s Settings
	for _, f := range []struct {
		key string
		v   *string
	}{
		{KeyHost, &s.Host}, {KeySecurity, &s.Security}, {KeyUsername, &s.Username},
		{KeyPassword, &s.Password}, {KeyFrom, &s.From}, {KeyLinkBase, &s.LinkBase},
	} {
		v, err := st.Setting(ctx, f.key)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return Settings{}, err
		}
		*f.v = v
	}
	if s.Security == "" {
		s.Security = SecurityStartTLS
	}
	port, err := st.Setting(ctx, KeyPort)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Settings{}, err
	}
	if port != "" {
		if s.Port, err = strconv.Atoi(port); err != nil {
			return Settings{}, fmt.Errorf("setting %s = %q: not a port number", KeyPort, port)
		}
	}
	return s, nil
}

// SaveSettings checks and stores the mail settings.
func SaveSettings(ctx context.Context, st *store.Store, s Settings) error {
	if err := s.Validate(); err != nil {
		return err
	}
	port := ""
	if s.Port != 0 {
		port = strconv.Itoa(s.Port)
	}
	for _, kv := range [][2]string{
		{KeyHost, s.Host}, {KeyPort, port}, {KeySecurity, s.Security}, {KeyUsername, s.Username},
		{KeyPassword, s.Password}, {KeyFrom, s.From}, {KeyLinkBase, strings.TrimRight(s.LinkBase, "/")},
	} {
		if err := st.SetSetting(ctx, kv[0], kv[1]); err != nil {
			return err
		}
	}
	return nil
}
