package pbx

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/diago"

	"github.com/frontdesk-pbx/frontdesk/media"
	"github.com/frontdesk-pbx/frontdesk/store"
	"github.com/frontdesk-pbx/frontdesk/store/secret"
)

// VoicemailCode is the feature code for dialling in to a voicemail box.
const VoicemailCode = "*56"

var pinPattern = regexp.MustCompile(`^[0-9]{4,10}$`)

// ValidPIN reports whether pin is a usable voicemail PIN: 4 to 10 digits.
func ValidPIN(pin string) bool { return pinPattern.MatchString(pin) }

// menuSession is one caller inside the *56 menu.
type menuSession struct {
	v      *voicemail
	cm     *callMedia
	ctx    context.Context
	box    store.Box
	caller party
	source string
	actor  string
}

// say plays prompts (interruptible); a digit pressed meanwhile is put back
// so the next read sees it first (type-ahead).
func (s *menuSession) say(words ...string) error {
	a, err := s.v.prompts.Join(words...)
	if err != nil {
		return err
	}
	d, err := s.cm.play(s.ctx, a, true)
	if d != 0 {
		s.cm.unreadDigit(d)
	}
	return err
}

// ask plays a menu prompt and waits for one key (0 after a timeout).
func (s *menuSession) ask(prompt string) (rune, error) {
	if err := s.say(prompt); err != nil {
		return 0, err
	}
	return s.cm.waitDigit(s.ctx, digitTimeout)
}

func (s *menuSession) audit(action string, messageID int64, detail string) {
	if err := s.v.store.Audit(context.WithoutCancel(s.ctx), s.actor, action, s.box.Number, messageID, detail); err != nil {
		s.v.log.Error("audit", "error", err)
	}
}

// menu runs *56: pick the box, check the PIN, then the message menu. rest is
// what was dialled after *56 (a box number, or nothing).
func (v *voicemail) menu(ds *diago.DialogServerSession, caller party, rest string) string {
	ctx := ds.Context()
	cm, err := v.answer(ds)
	if err != nil {
		v.log.Warn("voicemail menu: answer", "error", err)
		return store.CallFailed
	}
	s := &menuSession{v: v, cm: cm, ctx: ctx, caller: caller, source: ds.InviteRequest.Source(), actor: "ext:" + caller.Number}
	err = s.run(rest)
	if err != nil && !errors.Is(err, errHangup) {
		v.log.Warn("voicemail menu", "caller", caller.Number, "error", err)
	}
	return store.CallAnswered
}

func (s *menuSession) run(rest string) error {
	number := rest
	if number == "" {
		// The owner of a personal box calling from their extension skips the number.
		if b, err := s.v.store.PersonalBox(s.ctx, s.caller.Number); err == nil {
			number = b.Number
		}
	}
	if number == "" {
		if err := s.say("vm-enter-box"); err != nil {
			return err
		}
		n, err := s.cm.readDigits(s.ctx, 10, digitTimeout)
		if err != nil {
			return err
		}
		number = n
	}
	box, err := s.v.store.Box(s.ctx, number)
	if err != nil {
		return s.say("vm-no-such-box", "vm-goodbye")
	}
	s.box = box
	if ok, err := s.login(); !ok || err != nil {
		return err
	}
	s.audit("vm.login", 0, "from "+s.source)
	if err := s.announceCounts(); err != nil {
		return err
	}
	return s.mainMenu()
}

// login asks for the PIN up to three times. Ten wrong PINs within the
// lockout time (15 minutes by default), from any caller, lock the box for
// that long.
func (s *menuSession) login() (bool, error) {
	for attempt := 1; attempt <= pinAttempts; attempt++ {
		if box, err := s.v.store.Box(s.ctx, s.box.Number); err == nil && box.LockedUntil.After(s.v.now()) {
			s.audit("vm.locked_refused", 0, "from "+s.source)
			return false, s.say("vm-locked")
		}
		if err := s.say("vm-enter-pin"); err != nil {
			return false, err
		}
		pin, err := s.cm.readDigits(s.ctx, 10, digitTimeout)
		if err != nil {
			return false, err
		}
		// secret.Check compares in constant time; an empty hash never matches.
		if s.box.PINHash != "" && secret.Check(s.box.PINHash, pin) {
			_ = s.v.store.ClearPINFailures(s.ctx, s.box.Number)
			return true, nil
		}
		now := s.v.now()
		n, err := s.v.store.RecordPINFailure(context.WithoutCancel(s.ctx), s.box.Number, s.source, now, s.v.lockout)
		if err != nil {
			return false, err
		}
		s.audit("vm.wrong_pin", 0, fmt.Sprintf("from %s, %d in %s", s.source, n, s.v.lockout))
		if n >= lockoutFailures {
			until := now.Add(s.v.lockout)
			if err := s.v.store.LockBox(context.WithoutCancel(s.ctx), s.box.Number, until); err != nil {
				return false, err
			}
			s.v.log.Warn("voicemail box locked after repeated wrong PINs", "box", s.box.Number, "until", until, "last_source", s.source)
			s.audit("vm.box_locked", 0, "until "+until.UTC().Format(time.RFC3339))
			return false, s.say("vm-locked")
		}
		if err := s.say("vm-wrong-pin"); err != nil {
			return false, err
		}
	}
	return false, s.say("vm-goodbye")
}

func (s *menuSession) announceCounts() error {
	unplayed, played, err := s.v.store.Counts(s.ctx, s.box.Number)
	if err != nil {
		return err
	}
	if unplayed+played == 0 {
		return s.say("vm-no-messages")
	}
	words := []string{"vm-you-have"}
	words = append(words, media.NumberWords(unplayed)...)
	words = append(words, "vm-new", plural(unplayed), "vm-and")
	words = append(words, media.NumberWords(played)...)
	words = append(words, "vm-saved", plural(played))
	return s.say(words...)
}

func plural(n int) string {
	if n == 1 {
		return "vm-message"
	}
	return "vm-messages"
}

func (s *menuSession) mainMenu() error {
	for tries := 0; tries < 3; {
		d, err := s.ask("vm-main-menu")
		if err != nil {
			return err
		}
		switch d {
		case '1':
			if err := s.listen(); err != nil {
				return err
			}
			tries = 0
		case '0':
			if err := s.options(); err != nil {
				return err
			}
			tries = 0
		case '#':
			return s.say("vm-goodbye")
		case '*':
			// help: the menu repeats
		case 0:
			tries++
		default:
			if err := s.say("vm-invalid"); err != nil {
				return err
			}
		}
	}
	return s.say("vm-goodbye")
}

// listen plays new messages, then saved ones, with the message menu.
func (s *menuSession) listen() error {
	msgs, err := s.v.store.Messages(s.ctx, s.box.Number)
	if err != nil {
		return err
	}
	if len(msgs) == 0 {
		return s.say("vm-no-messages")
	}
	i := 0
	intro := "vm-first-message"
	for i < len(msgs) {
		m := msgs[i]
		if err := s.say(intro); err != nil {
			return err
		}
		d, err := s.playMessage(m)
		if err != nil {
			return err
		}
		next := 0
		for next == 0 {
			if d == 0 {
				if err := s.say("vm-message-menu"); err != nil {
					return err
				}
				if d, err = s.cm.waitDigit(s.ctx, digitTimeout); err != nil {
					return err
				}
				if d == 0 {
					next = 1 // no answer: go on
					break
				}
			}
			switch d {
			case '5':
				if d, err = s.playMessage(m); err != nil {
					return err
				}
				continue
			case '4':
				if i == 0 {
					if err := s.say("vm-no-previous"); err != nil {
						return err
					}
					d = 0
					continue
				}
				next = -1
			case '6', '#':
				next = 1
			case '7':
				if err := s.v.store.TrashMessage(s.ctx, m.ID, s.v.now()); err != nil {
					return err
				}
				s.audit("message.delete", m.ID, "from *56")
				s.v.boxChanged(s.box.Number)
				if err := s.say("vm-deleted"); err != nil {
					return err
				}
				next = 1
			case '9':
				if err := s.v.store.SetStatus(s.ctx, m.ID, store.MessageDone); err != nil {
					return err
				}
				s.audit("message.done", m.ID, "from *56")
				if err := s.say("vm-marked-handled"); err != nil {
					return err
				}
				next = 1
			case '3':
				if err := s.envelope(m); err != nil {
					return err
				}
				d = 0
			case '*':
				d = 0 // help: the menu again
			default:
				if err := s.say("vm-invalid"); err != nil {
					return err
				}
				d = 0
			}
		}
		i += next
		intro = "vm-next-message"
	}
	return s.say("vm-no-more")
}

// playMessage plays one message and marks it played for everyone.
func (s *menuSession) playMessage(m store.Message) (rune, error) {
	if !m.Played {
		if err := s.v.store.SetPlayed(s.ctx, m.ID, true); err != nil {
			return 0, err
		}
		s.audit("message.played", m.ID, "from *56")
		s.v.boxChanged(s.box.Number)
	}
	a, err := media.ReadWAVFile(filepath.Join(s.v.dataDir, MessagesDir, m.Audio))
	if err != nil {
		return 0, err
	}
	return s.cm.play(s.ctx, toTelephone(a), true)
}

// envelope says who left the message and when.
func (s *menuSession) envelope(m store.Message) error {
	words := []string{"vm-received-from"}
	if m.CallerNumber == "" {
		words = append(words, "vm-unknown-caller")
	} else {
		words = append(words, media.DigitWords(m.CallerNumber)...)
	}
	words = append(words, "vm-received-at")
	words = append(words, media.DateTimeWords(m.StartedAt.Local())...)
	return s.say(words...)
}

// options: record the greeting, change the PIN.
func (s *menuSession) options() error {
	for {
		d, err := s.ask("vm-options-menu")
		if err != nil {
			return err
		}
		switch d {
		case '1':
			if err := s.recordGreeting(); err != nil {
				return err
			}
		case '2':
			if err := s.changePIN(); err != nil {
				return err
			}
		case '*', 0:
			return nil
		default:
			if err := s.say("vm-invalid"); err != nil {
				return err
			}
		}
	}
}

func (s *menuSession) recordGreeting() error {
	for {
		if err := s.say("vm-record-greeting"); err != nil {
			return err
		}
		if _, err := s.cm.play(s.ctx, media.Audio{Rate: media.SampleRate, Samples: media.Tone(beepHz, 0.3, media.SampleRate, 0.4)}, false); err != nil {
			return err
		}
		var samples []int16
		stop := s.cm.record(func(f []int16) { samples = append(samples, f...) })
		_, err := s.cm.readDigits(s.ctx, 1, 60*time.Second) // '#' or any key ends it
		stop()
		if err != nil {
			return err
		}
		greeting := media.Audio{Rate: media.SampleRate, Samples: media.TrimTrailingSilence(samples, media.SampleRate, media.SampleRate/4)}
		for reviewed := false; !reviewed; {
			d, err := s.ask("vm-greeting-review")
			if err != nil {
				return err
			}
			switch d {
			case '1':
				if err := s.v.SaveGreeting(context.WithoutCancel(s.ctx), s.box.Number, greeting); err != nil {
					return err
				}
				s.audit("vm.greeting_recorded", 0, "from *56")
				return s.say("vm-greeting-saved")
			case '2':
				if _, err := s.cm.play(s.ctx, greeting, true); err != nil {
					return err
				}
			case '3':
				reviewed = true
			case 0:
				return nil
			}
		}
	}
}

// SaveGreeting stores audio as a box's greeting (crash-safe) and points the box at it.
func (v *voicemail) SaveGreeting(ctx context.Context, box string, a media.Audio) error {
	return SaveGreeting(ctx, v.store, v.dataDir, box, a)
}

// SaveGreeting stores a box's greeting in dataDir and records it; the CLI uses it too.
func SaveGreeting(ctx context.Context, st *store.Store, dataDir, box string, a media.Audio) error {
	name, err := StoreGreetingFile(dataDir, "greeting-"+box, a)
	if err != nil {
		return err
	}
	return st.UpdateBox(ctx, box, store.BoxUpdate{Greeting: &name})
}

// StoreGreetingFile writes audio as 8 kHz WAV under dataDir's greetings
// (crash-safe) and returns the file name to record.
func StoreGreetingFile(dataDir, prefix string, a media.Audio) (string, error) {
	name := prefix + "-" + strconv.FormatInt(time.Now().UnixNano(), 36) + ".wav"
	return name, storeAudio(filepath.Join(dataDir, GreetingsDir), name, a)
}

// StoreMusicFile reads a WAV and keeps it as 8 kHz music on hold under
// dataDir's music/, returning the name queues refer to it by.
func StoreMusicFile(dataDir, file string) (string, error) {
	a, err := media.ReadWAVFile(file)
	if err != nil {
		return "", err
	}
	name := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file)) + ".wav"
	return name, storeAudio(filepath.Join(dataDir, MusicDir), name, a)
}

// storeAudio writes audio as 8 kHz WAV into dir, crash-safe.
func storeAudio(dir, name string, a media.Audio) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	return media.WriteWAVFileAtomic(filepath.Join(dir, name), toTelephone(a))
}

func (s *menuSession) changePIN() error {
	if err := s.say("vm-new-pin"); err != nil {
		return err
	}
	first, err := s.cm.readDigits(s.ctx, 10, digitTimeout)
	if err != nil {
		return err
	}
	if err := s.say("vm-repeat-pin"); err != nil {
		return err
	}
	second, err := s.cm.readDigits(s.ctx, 10, digitTimeout)
	if err != nil {
		return err
	}
	if first != second || !ValidPIN(first) {
		return s.say("vm-pin-mismatch")
	}
	hash, err := secret.Hash(first)
	if err != nil {
		return err
	}
	if err := s.v.store.UpdateBox(context.WithoutCancel(s.ctx), s.box.Number, store.BoxUpdate{PINHash: &hash}); err != nil {
		return err
	}
	s.box.PINHash = hash
	s.audit("vm.pin_changed", 0, "from *56")
	return s.say("vm-pin-changed")
}
