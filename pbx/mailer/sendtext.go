package mailer

import (
	"context"
	"fmt"
	"net/mail"
)

// SendText sends one plain-text mail to one address now, with the stored
// SMTP settings and the same connection rules as the voicemail notices
// (security, AUTH, Timeout, TLSConfig). It does not queue or retry: callers
// with an outbox of their own (notification rules) do that.
func (m *Mailer) SendText(ctx context.Context, to, subject, text string) error {
	s, err := LoadSettings(ctx, m.st)
	if err != nil {
		return fmt.Errorf("mail settings: %w", err)
	}
	if err := s.Validate(); err != nil {
		return fmt.Errorf("mail settings: %w", err)
	}
	addr, err := mail.ParseAddress(to)
	if err != nil {
		return fmt.Errorf("address %q: %w", to, err)
	}
	from, _ := mail.ParseAddress(s.From) // Validate checked it
	return m.send(ctx, s, addr.Address, compose(from, addr.Address, subject, text, m.now(), "", nil))
}
