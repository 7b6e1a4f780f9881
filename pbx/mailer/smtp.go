package mailer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"strings"
	"time"
)

// serverError is a failure before any recipient was named (connecting, the
// greeting, EHLO, STARTTLS, AUTH): every mail would fail the same way now.
type serverError struct{ err error }

func (e *serverError) Error() string { return e.err.Error() }
func (e *serverError) Unwrap() error { return e.err }

func isServerError(err error) bool {
	var se *serverError
	return errors.As(err, &se)
}

// replyError is the server's refusal, e.g. "550 5.1.1 no such user".
type replyError struct{ r *textproto.Error }

func (e *replyError) Error() string { return fmt.Sprintf("%d %s", e.r.Code, e.r.Msg) }
func (e *replyError) Unwrap() error { return e.r }

// helloName is the name we give in EHLO.
func helloName() string {
	if h, err := os.Hostname(); err == nil && h != "" && !strings.ContainsAny(h, " \r\n") {
		return h
	}
	return "localhost"
}

// tlsConfig is the client TLS configuration for host.
func (m *Mailer) tlsConfig(host string) *tls.Config {
	var c *tls.Config
	if m.TLSConfig != nil {
		c = m.TLSConfig.Clone()
	} else {
		c = &tls.Config{}
	}
	if c.ServerName == "" {
		c.ServerName = host
	}
	if c.MinVersion == 0 {
		c.MinVersion = tls.VersionTLS12
	}
	return c
}

// send delivers one mail, bounded by the attempt timeout.
func (m *Mailer) send(ctx context.Context, s Settings, to string, msg []byte) error {
	from, err := mail.ParseAddress(s.From)
	if err != nil {
		return fmt.Errorf("sender address %q: %w", s.From, err)
	}
	ctx, cancel := context.WithTimeout(ctx, m.Timeout)
	defer cancel()
	addr := s.Addr()
	fail := func(what string, err error) error {
		return &serverError{fmt.Errorf("smtp %s (%s): %s: %w", addr, s.Security, what, err)}
	}

	// wrap words an error for the log and the outbox.
	wrap := func(err error) error {
		var reply *textproto.Error
		switch {
		case errors.As(err, &reply):
			return &replyError{reply}
		case errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
			if errors.Is(ctx.Err(), context.Canceled) {
				return fmt.Errorf("%w (%v)", context.Canceled, err)
			}
			return fmt.Errorf("no answer within %v (%v)", m.Timeout, err)
		}
		return err
	}

	dialer := &net.Dialer{}
	var conn net.Conn
	if s.Security == SecurityTLS {
		conn, err = (&tls.Dialer{NetDialer: dialer, Config: m.tlsConfig(s.Host)}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = dialer.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return fail("connect", wrap(err))
	}
	defer conn.Close()
	// The deadline bounds every read and write; cancelling (shutdown) cuts
	// them short too.
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	c, err := smtp.NewClient(conn, s.Host)
	if err != nil {
		return fail("greeting", wrap(err))
	}
	defer c.Close()
	if err := c.Hello(helloName()); err != nil {
		return fail("EHLO", wrap(err))
	}
	if s.Security == SecurityStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fail("STARTTLS", errors.New("the server does not offer STARTTLS (use security tls or none)"))
		}
		if err := c.StartTLS(m.tlsConfig(s.Host)); err != nil {
			return fail("STARTTLS", wrap(err))
		}
	}
	if s.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return fail("AUTH", errors.New("the server offers no AUTH, but a username is set"))
		}
		if err := c.Auth(smtp.PlainAuth("", s.Username, s.Password, s.Host)); err != nil {
			return fail("AUTH PLAIN as "+s.Username, wrap(err))
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return fail("MAIL FROM:<"+from.Address+">", wrap(err))
	}
	if err := c.Rcpt(to); err != nil {
		return fmt.Errorf("smtp %s: RCPT TO:<%s>: %w", addr, to, wrap(err))
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp %s: DATA: %w", addr, wrap(err))
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("smtp %s: sending the mail: %w", addr, wrap(err))
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp %s: end of DATA: %w", addr, wrap(err))
	}
	// The server has taken the mail; a failing QUIT changes nothing.
	c.Quit()
	return nil
}
