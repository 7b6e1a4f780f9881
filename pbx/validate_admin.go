package pbx

// Validation of what an admin sets (extensions, voicemail boxes, greetings),
// shared by the CLI and the web admin portal so both accept and refuse
// exactly the same values with the same explanations.

import (
	"context"
	"errors"
	"net/mail"
	"slices"
	"strings"

	"github.com/frontdesk-pbx/frontdesk/media"
	"github.com/frontdesk-pbx/frontdesk/pbx/sipauth"
	"github.com/frontdesk-pbx/frontdesk/store"
	"github.com/frontdesk-pbx/frontdesk/store/secret"
)

// fieldErr is a value that fails validation, as an *Invalid naming the
// setting as the JSON API spells it (ring_seconds); the CLI just prints it.
func fieldErr(field, format string, args ...any) error {
	return InvalidField(field, format, args...)
}

// MinSecretLength is the shortest SIP password accepted.
const MinSecretLength = 8

// OutboundClasses are what an extension may dial out to, narrowest first.
var OutboundClasses = []string{"internal", "local", "national", "international"}

// CheckExtensionNumber checks the number of a new extension or box.
func CheckExtensionNumber(n string) error {
	if !dialableNumber.MatchString(n) {
		return fieldErr("number", "extension number %q: want 2 to 8 digits, not starting with 0", n)
	}
	return nil
}

// SecretOrGenerated returns the given SIP password, or a generated one
// (and true) when it is empty.
func SecretOrGenerated(given string) (string, bool, error) {
	if given == "" {
		s, err := secret.Random(20)
		return s, true, err
	}
	if len(given) < MinSecretLength {
		return "", false, fieldErr("secret", "secret is too short: use at least %d characters, or leave it out to have one generated", MinSecretLength)
	}
	return given, false, nil
}

// PINOrGenerated checks a voicemail PIN, or makes a 6-digit one when none is
// given, and returns it with its hash.
func PINOrGenerated(given string) (pin, hash string, generated bool, err error) {
	if given == "" {
		if given, err = secret.RandomDigits(6); err != nil {
			return "", "", false, err
		}
		generated = true
	} else if !ValidPIN(given) {
		return "", "", false, fieldErr("pin", "PIN must be 4 to 10 digits")
	}
	hash, err = secret.Hash(given)
	return given, hash, generated, err
}

// CheckOutbound checks an outbound class.
func CheckOutbound(s string) error {
	if !slices.Contains(OutboundClasses, s) {
		return fieldErr("outbound", "outbound %q: want internal, local, national or international", s)
	}
	return nil
}

// CheckRingSeconds checks how long an extension rings.
func CheckRingSeconds(n int) error {
	if n < 1 || n > 600 {
		return fieldErr("ring_seconds", "ring seconds %d: want 1 to 600", n)
	}
	return nil
}

// CheckForward checks a forward destination of field ("" is the own box);
// a voicemail destination's box must exist.
func CheckForward(ctx context.Context, st *store.Store, field, value string) error {
	if value == "" {
		return nil
	}
	d, err := ParseDestination(value)
	if err != nil {
		return fieldErr(field, "%s", err)
	}
	if d.Kind == DestVoicemail {
		if _, err := st.Box(ctx, d.Number); errors.Is(err, store.ErrNotFound) {
			return fieldErr(field, "%s: there is no voicemail box %s", value, d.Number)
		} else if err != nil {
			return err
		}
	}
	return nil
}

// ExtensionCredentials are the stored digest hashes of an extension's secret.
func ExtensionCredentials(number, sipSecret string) store.Credentials {
	h := sipauth.HashSecret(number, sipauth.DefaultRealm, sipSecret)
	return store.Credentials{Realm: sipauth.DefaultRealm, HA1MD5: h.HA1MD5, HA1SHA256: h.HA1SHA256}
}

// NewExtension is a new extension as an admin describes it.
type NewExtension struct {
	Number, Name string
	Secret       string // "" generates one
	PIN          string // "" generates one (when Voicemail)
	Voicemail    bool
	Outbound     string // "" is national
	RingSeconds  int    // 0 is store.DefaultRingSeconds
	// Forwards: a destination such as vm:600, or "" for the own box.
	ForwardNoAnswer, ForwardBusy, ForwardUnavailable string
}

// PreparedExtension is a checked NewExtension, ready for store.AddExtension.
type PreparedExtension struct {
	Extension     store.Extension
	PINHash       string
	Secret, PIN   string // the plain values, to show once when generated
	SecretCreated bool
	PINCreated    bool
}

// Prepare checks e, generating the secret and PIN left out.
func (e NewExtension) Prepare(ctx context.Context, st *store.Store) (PreparedExtension, error) {
	var p PreparedExtension
	if err := CheckExtensionNumber(e.Number); err != nil {
		return p, err
	}
	if strings.TrimSpace(e.Name) == "" {
		return p, fieldErr("name", "a name is required")
	}
	if e.Outbound == "" {
		e.Outbound = "national"
	}
	if err := CheckOutbound(e.Outbound); err != nil {
		return p, err
	}
	if e.RingSeconds == 0 {
		e.RingSeconds = store.DefaultRingSeconds
	}
	if err := CheckRingSeconds(e.RingSeconds); err != nil {
		return p, err
	}
	for _, f := range []struct{ field, v string }{
		{"forward_no_answer", e.ForwardNoAnswer}, {"forward_busy", e.ForwardBusy}, {"forward_unavailable", e.ForwardUnavailable},
	} {
		if err := CheckForward(ctx, st, f.field, f.v); err != nil {
			return p, err
		}
	}
	var err error
	if p.Secret, p.SecretCreated, err = SecretOrGenerated(e.Secret); err != nil {
		return p, err
	}
	if e.Voicemail {
		if p.PIN, p.PINHash, p.PINCreated, err = PINOrGenerated(e.PIN); err != nil {
			return p, err
		}
	}
	c := ExtensionCredentials(e.Number, p.Secret)
	p.Extension = store.Extension{Number: e.Number, Name: e.Name, Realm: c.Realm, HA1MD5: c.HA1MD5, HA1SHA256: c.HA1SHA256,
		RingSeconds: e.RingSeconds, Voicemail: e.Voicemail, Outbound: e.Outbound,
		ForwardNoAnswer: e.ForwardNoAnswer, ForwardBusy: e.ForwardBusy, ForwardUnavailable: e.ForwardUnavailable}
	return p, nil
}

// ExtensionChange is a change to an extension; nil fields stay as they are.
type ExtensionChange struct {
	Name        *string
	RingSeconds *int
	// Secret: a new SIP password; NewSecret generates one instead.
	Secret                                           *string
	NewSecret                                        bool
	Outbound                                         *string
	ForwardNoAnswer, ForwardBusy, ForwardUnavailable *string
}

// Update checks c and turns it into a store update for extension number;
// secret is the new SIP password when one was generated.
func (c ExtensionChange) Update(ctx context.Context, st *store.Store, number string) (u store.ExtensionUpdate, generated string, err error) {
	if c.Name != nil {
		if strings.TrimSpace(*c.Name) == "" {
			return u, "", fieldErr("name", "the name can't be empty")
		}
		u.Name = c.Name
	}
	if c.RingSeconds != nil {
		if err := CheckRingSeconds(*c.RingSeconds); err != nil {
			return u, "", err
		}
		u.RingSeconds = c.RingSeconds
	}
	if c.Secret != nil && c.NewSecret {
		return u, "", fieldErr("secret", "give a new secret or ask for a generated one, not both")
	}
	if c.Secret != nil || c.NewSecret {
		given := ""
		if c.Secret != nil {
			given = *c.Secret
		}
		s, gen, err := SecretOrGenerated(given)
		if err != nil {
			return u, "", err
		}
		if gen {
			generated = s
		}
		cr := ExtensionCredentials(number, s)
		u.Credentials = &cr
	}
	if c.Outbound != nil {
		if err := CheckOutbound(*c.Outbound); err != nil {
			return u, "", err
		}
		u.Outbound = c.Outbound
	}
	for _, f := range []struct {
		field string
		src   *string
		dst   **string
	}{
		{"forward_no_answer", c.ForwardNoAnswer, &u.ForwardNoAnswer},
		{"forward_busy", c.ForwardBusy, &u.ForwardBusy},
		{"forward_unavailable", c.ForwardUnavailable, &u.ForwardUnavailable},
	} {
		if f.src == nil {
			continue
		}
		if err := CheckForward(ctx, st, f.field, *f.src); err != nil {
			return u, "", err
		}
		*f.dst = f.src
	}
	return u, generated, nil
}

// CheckEmails checks notification addresses and returns them cleaned
// (blank ones dropped, display names removed).
func CheckEmails(in []string) ([]string, error) {
	out := []string{}
	for _, e := range in {
		if e = strings.TrimSpace(e); e == "" {
			continue
		}
		a, err := mail.ParseAddress(e)
		if err != nil {
			return nil, fieldErr("emails", "email %q: %s", e, strings.TrimPrefix(err.Error(), "mail: "))
		}
		out = append(out, a.Address)
	}
	return out, nil
}

// ValidLanguage: auto, or a two- or three-letter lower-case code.
func ValidLanguage(s string) bool {
	if s == "auto" {
		return true
	}
	if len(s) < 2 || len(s) > 3 {
		return false
	}
	for _, r := range s {
		if r < 'a' || r > 'z' {
			return false
		}
	}
	return true
}

// BoxChange is a change to a voicemail box; nil fields stay as they are.
type BoxChange struct {
	Name, PIN, Language, Operator, TranscribeLang *string
	Emails                                        *[]string
	Attach, Transcribe                            *bool
	MaxSeconds, SilenceSeconds                    *int
}

// Update checks c and turns it into a store update.
func (c BoxChange) Update() (store.BoxUpdate, error) {
	var u store.BoxUpdate
	if c.Name != nil {
		if strings.TrimSpace(*c.Name) == "" {
			return u, fieldErr("name", "the name can't be empty")
		}
		u.Name = c.Name
	}
	if c.PIN != nil {
		if *c.PIN == "" {
			return u, fieldErr("pin", "PIN must be 4 to 10 digits")
		}
		_, hash, _, err := PINOrGenerated(*c.PIN)
		if err != nil {
			return u, err
		}
		u.PINHash = &hash
	}
	if c.Emails != nil {
		emails, err := CheckEmails(*c.Emails)
		if err != nil {
			return u, err
		}
		u.Emails = &emails
	}
	u.EmailAttach = c.Attach
	if c.Language != nil {
		if !ValidLanguage(*c.Language) || *c.Language == "auto" {
			return u, fieldErr("language", "language %q: want a two-letter code such as en", *c.Language)
		}
		u.Language = c.Language
	}
	if c.Operator != nil {
		if *c.Operator != "" {
			if _, err := ParseDestination(*c.Operator); err != nil {
				return u, fieldErr("operator", "%s", err)
			}
		}
		u.Operator = c.Operator
	}
	if c.MaxSeconds != nil {
		if *c.MaxSeconds < 5 || *c.MaxSeconds > 3600 {
			return u, fieldErr("max_seconds", "max seconds %d: want 5 to 3600", *c.MaxSeconds)
		}
		u.MaxSeconds = c.MaxSeconds
	}
	u.Transcribe = c.Transcribe
	if c.TranscribeLang != nil {
		if !ValidLanguage(*c.TranscribeLang) {
			return u, fieldErr("transcribe_language", "transcribe language %q: want auto or a two-letter code such as en", *c.TranscribeLang)
		}
		u.TranscribeLang = c.TranscribeLang
	}
	if c.SilenceSeconds != nil {
		if *c.SilenceSeconds < 0 || *c.SilenceSeconds > 60 {
			return u, fieldErr("silence_seconds", "silence seconds %d: want 0 to 60", *c.SilenceSeconds)
		}
		u.SilenceSeconds = c.SilenceSeconds
	}
	return u, nil
}

// ParseMembers turns extension numbers into members of a box with one
// access level.
func ParseMembers(list []string, access string, lamp bool) ([]store.Member, error) {
	if !slices.Contains(store.AccessLevels, access) {
		return nil, fieldErr("access", "access %q: want one of %s", access, strings.Join(store.AccessLevels, ", "))
	}
	var out []store.Member
	for _, m := range list {
		if m = strings.TrimSpace(m); m == "" {
			continue
		}
		if !dialableNumber.MatchString(m) {
			return nil, fieldErr("extension", "extension number %q: want 2 to 8 digits, not starting with 0", m)
		}
		out = append(out, store.Member{Extension: m, Access: access, Lamp: lamp})
	}
	return out, nil
}

// Greeting limits.
const (
	MinGreetingSeconds = 0.5
	MaxGreetingSeconds = 120
	MaxGreetingText    = 2000
)

// CheckGreeting checks a greeting's length.
func CheckGreeting(a media.Audio) error {
	if s := a.Seconds(); s < MinGreetingSeconds || s > MaxGreetingSeconds {
		return fieldErr("file", "greeting is %.1f s long: want 0.5 to 120 s", s)
	}
	return nil
}

// CheckGreetingText checks text to be spoken as a greeting.
func CheckGreetingText(text string) error {
	if strings.TrimSpace(text) == "" || len(text) > MaxGreetingText {
		return fieldErr("text", "greeting text must be 1 to %d characters", MaxGreetingText)
	}
	return nil
}

// NewBox is a new shared voicemail box as an admin describes it.
type NewBox struct {
	Number, Name, PIN string
	Emails            []string
	Attach            bool
	Language          string // "" is en
	Operator          string
	MaxSeconds        int // 0 is 180
	SilenceSeconds    int // 0 is 5
	Transcribe        *bool
	TranscribeLang    *string
	Members           []store.Member
}

// Prepare checks b and returns the box to add and the transcription
// settings to apply after it (AddBox leaves them at their defaults).
func (b NewBox) Prepare() (store.Box, store.BoxUpdate, error) {
	if err := CheckExtensionNumber(b.Number); err != nil {
		return store.Box{}, store.BoxUpdate{}, err
	}
	if strings.TrimSpace(b.Name) == "" {
		return store.Box{}, store.BoxUpdate{}, fieldErr("name", "a name is required")
	}
	if b.PIN == "" {
		return store.Box{}, store.BoxUpdate{}, fieldErr("pin", "a PIN is required (4 to 10 digits)")
	}
	if b.Language == "" {
		b.Language = "en"
	}
	if b.MaxSeconds == 0 {
		b.MaxSeconds = 180
	}
	if b.SilenceSeconds == 0 {
		b.SilenceSeconds = 5
	}
	c := BoxChange{Name: &b.Name, PIN: &b.PIN, Language: &b.Language, Operator: &b.Operator, Emails: &b.Emails,
		MaxSeconds: &b.MaxSeconds, SilenceSeconds: &b.SilenceSeconds, Transcribe: b.Transcribe, TranscribeLang: b.TranscribeLang}
	u, err := c.Update()
	if err != nil {
		return store.Box{}, store.BoxUpdate{}, err
	}
	box := store.Box{Number: b.Number, Name: b.Name, Kind: store.BoxShared, Language: b.Language, PINHash: *u.PINHash,
		Emails: *u.Emails, EmailAttach: b.Attach, Operator: b.Operator, MaxSeconds: b.MaxSeconds, SilenceSeconds: b.SilenceSeconds,
		Members: b.Members}
	return box, store.BoxUpdate{Transcribe: u.Transcribe, TranscribeLang: u.TranscribeLang}, nil
}
