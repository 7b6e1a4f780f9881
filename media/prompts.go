package media

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Prompts plays the voice prompts of one language: the built-in set, or an
// admin's own directory (--sounds-dir) whose files override built-in ones
// of the same name. Files are decoded once and kept.
type Prompts struct {
	builtin fs.FS
	dir     string // optional override directory; its LANG/NAME.wav or NAME.wav win
	lang    string

	mu    sync.Mutex
	cache map[string]Audio
}

// NewPrompts serves lang from builtin, overridden by files in dir when set.
func NewPrompts(builtin fs.FS, dir, lang string) *Prompts {
	return &Prompts{builtin: builtin, dir: dir, lang: lang, cache: map[string]Audio{}}
}

// Get returns one prompt as 8 kHz audio.
func (p *Prompts) Get(name string) (Audio, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a, ok := p.cache[name]; ok {
		return a, nil
	}
	a, err := p.load(name)
	if err != nil {
		return Audio{}, err
	}
	if a.Rate != SampleRate {
		a = Audio{Rate: SampleRate, Samples: Resample(a.Samples, a.Rate, SampleRate)}
	}
	p.cache[name] = a
	return a, nil
}

func (p *Prompts) load(name string) (Audio, error) {
	file := name + ".wav"
	if p.dir != "" {
		candidates := []string{path.Join(p.dir, p.lang, file), path.Join(p.dir, file)}
		if a, ok := AsteriskName(name); ok {
			candidates = append(candidates, path.Join(p.dir, p.lang, a+".wav"), path.Join(p.dir, a+".wav"))
		}
		for _, candidate := range candidates {
			if _, err := os.Stat(candidate); err == nil {
				return ReadWAVFile(candidate)
			}
		}
	}
	f, err := p.builtin.Open(path.Join(p.lang, file))
	if err != nil {
		return Audio{}, fmt.Errorf("prompt %s/%s: %w", p.lang, name, err)
	}
	defer f.Close()
	a, err := ReadWAV(f)
	if err != nil {
		return Audio{}, fmt.Errorf("prompt %s/%s: %w", p.lang, name, err)
	}
	return a, nil
}

// Join concatenates prompts into one piece of audio, with a short gap
// between words so numbers and dates sound natural.
func (p *Prompts) Join(names ...string) (Audio, error) {
	gap := Silence(0.08, SampleRate)
	var out []int16
	for i, n := range names {
		a, err := p.Get(n)
		if err != nil {
			return Audio{}, err
		}
		if i > 0 {
			out = append(out, gap...)
		}
		out = append(out, a.Samples...)
	}
	return Audio{Rate: SampleRate, Samples: out}, nil
}

// DigitWords names the prompts that read out a string of digits one by one.
func DigitWords(s string) []string {
	var out []string
	for _, r := range s {
		if r >= '0' && r <= '9' {
			out = append(out, "digit-"+string(r))
		}
	}
	return out
}

// NumberWords names the prompts that say n (0 to 999) as a number.
func NumberWords(n int) []string {
	switch {
	case n < 0 || n > 999:
		return DigitWords(strconv.Itoa(n))
	case n < 10:
		return []string{"digit-" + strconv.Itoa(n)}
	case n < 20:
		return []string{"n-" + strconv.Itoa(n)}
	case n < 100:
		out := []string{"n-" + strconv.Itoa(n/10*10)}
		if n%10 != 0 {
			out = append(out, "digit-"+strconv.Itoa(n%10))
		}
		return out
	}
	out := []string{"digit-" + strconv.Itoa(n/100), "n-hundred"}
	if n%100 != 0 {
		out = append(out, NumberWords(n%100)...)
	}
	return out
}

// OrdinalWords names the prompts for a day of the month (1 to 31).
func OrdinalWords(n int) []string {
	switch {
	case n <= 20 || n == 30:
		return []string{"ord-" + strconv.Itoa(n)}
	default:
		return []string{"n-" + strconv.Itoa(n/10*10), "ord-" + strconv.Itoa(n%10)}
	}
}

// DateTimeWords names the prompts that say t, e.g. "Monday November
// twenty third, three oh five P M".
func DateTimeWords(t time.Time) []string {
	out := []string{"day-" + strconv.Itoa(int(t.Weekday())), "month-" + strconv.Itoa(int(t.Month()))}
	out = append(out, OrdinalWords(t.Day())...)
	h := t.Hour() % 12
	if h == 0 {
		h = 12
	}
	out = append(out, NumberWords(h)...)
	switch m := t.Minute(); {
	case m == 0:
		out = append(out, "n-oclock")
	case m < 10:
		out = append(out, "n-oh", "digit-"+strconv.Itoa(m))
	default:
		out = append(out, NumberWords(m)...)
	}
	if t.Hour() < 12 {
		return append(out, "time-am")
	}
	return append(out, "time-pm")
}

// asteriskNames maps our prompt names to the files of Asterisk's core sound
// set (Debian's asterisk-core-sounds-en-wav), so --sounds-dir can point at
// /usr/share/asterisk/sounds and its recordings are used where they fit.
var asteriskNames = map[string]string{
	"vm-leave-message":   "vm-intro",
	"vm-not-available":   "vm-isunavail",
	"vm-mailbox":         "vm-theperson",
	"vm-extension":       "vm-extension",
	"vm-message-saved":   "vm-msgsaved",
	"vm-enter-box":       "vm-login",
	"vm-enter-pin":       "vm-password",
	"vm-wrong-pin":       "vm-incorrect",
	"vm-you-have":        "vm-youhave",
	"vm-new":             "vm-INBOX",
	"vm-saved":           "vm-Old",
	"vm-message":         "vm-message",
	"vm-messages":        "vm-messages",
	"vm-and":             "vm-and",
	"vm-no-messages":     "vm-nomore",
	"vm-first-message":   "vm-first",
	"vm-next-message":    "vm-next",
	"vm-no-more":         "vm-nomore",
	"vm-deleted":         "vm-deleted",
	"vm-received-from":   "vm-from",
	"vm-received-at":     "vm-received",
	"vm-record-greeting": "vm-rec-unv",
	"vm-new-pin":         "vm-newpassword",
	"vm-repeat-pin":      "vm-reenterpassword",
	"vm-pin-changed":     "vm-passchanged",
	"vm-pin-mismatch":    "vm-mismatch",
	"vm-invalid":         "vm-sorry",
	"vm-goodbye":         "vm-goodbye",
	"n-hundred":          "digits/hundred",
	"n-oh":               "digits/oh",
	"n-oclock":           "digits/oclock",
	"time-am":            "digits/a-m",
	"time-pm":            "digits/p-m",
}

// AsteriskName is the Asterisk sound file (without .wav) for one of our
// prompts, when there is one.
func AsteriskName(name string) (string, bool) {
	if a, ok := asteriskNames[name]; ok {
		return a, true
	}
	for prefix, dir := range map[string]string{"digit-": "digits/", "n-": "digits/", "day-": "digits/day-", "ord-": "digits/h-"} {
		if rest, ok := strings.CutPrefix(name, prefix); ok {
			if _, err := strconv.Atoi(rest); err == nil {
				return dir + rest, true
			}
		}
	}
	if rest, ok := strings.CutPrefix(name, "month-"); ok {
		if m, err := strconv.Atoi(rest); err == nil {
			return "digits/mon-" + strconv.Itoa(m-1), true // Asterisk counts months from 0
		}
	}
	return "", false
}
