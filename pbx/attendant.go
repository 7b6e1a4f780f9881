package pbx

import (
	"path/filepath"
	"time"

	"github.com/frontdesk-pbx/frontdesk/media"
	"github.com/frontdesk-pbx/frontdesk/store"
)

// Special attendant options besides destinations.
const (
	OptionDialByExtension = "dial-by-extension"
	OptionRepeat          = "repeat"
)

// attendantTimeout is how long the attendant waits for a key after its greeting.
const attendantTimeout = 5 * time.Second

// attendant answers as a virtual receptionist: a greeting, then one
// destination per key, dial-by-extension, and destinations for no key and
// for a wrong one; after hours (by its schedule) its own greeting or
// destination.
func (c *call) attendant(a store.Attendant) (string, string) {
	ctx := c.ds.Context()
	c.log = c.log.With("attendant", a.Number)
	if a.Schedule != "" && !c.b.openNow(ctx, a.Schedule, c.log) {
		c.log.Info("attendant after hours")
		if a.AfterHoursGreeting == "" && a.AfterHoursDest != "" {
			if dest, err := ParseDestination(a.AfterHoursDest); err == nil {
				return c.route(dest)
			}
		}
		cm, err := c.answer()
		if err != nil {
			return store.CallFailed, ""
		}
		if _, err := cm.play(ctx, c.b.vm.audioOr(a.AfterHoursGreeting, "aa-after-hours"), false); err != nil {
			return store.CallCanceled, "caller"
		}
		if dest, err := ParseDestination(a.AfterHoursDest); err == nil {
			return c.route(dest)
		}
		return store.CallAnswered, ""
	}
	cm, err := c.answer()
	if err != nil {
		c.log.Warn("answer for attendant", "error", err)
		return store.CallFailed, ""
	}
	greeting := c.b.vm.audioOr(a.Greeting, "aa-welcome")
	for round := 0; round < 3; round++ {
		d, err := cm.play(ctx, greeting, true)
		if err != nil {
			return store.CallCanceled, "caller"
		}
		if d == 0 {
			if d, err = cm.waitDigit(ctx, attendantTimeout); err != nil {
				return store.CallCanceled, "caller"
			}
		}
		if d == 0 {
			if dest, err := ParseDestination(a.TimeoutDest); err == nil {
				c.log.Info("attendant: no key pressed", "dest", dest.String())
				return c.route(dest)
			}
			continue
		}
		option, ok := a.Options[string(d)]
		switch {
		case ok && option == OptionRepeat:
			continue
		case ok && option == OptionDialByExtension:
			if status, hangup, done := c.dialByExtension(cm); done {
				return status, hangup
			}
			continue
		case ok:
			if dest, err := ParseDestination(option); err == nil {
				c.log.Info("attendant: key pressed", "key", string(d), "dest", dest.String())
				return c.route(dest)
			}
		case d >= '1' && d <= '9' && len(a.Options) == 0:
			// No menu: a key starts an extension number.
			cm.unreadDigit(d)
			if status, hangup, done := c.dialByExtension(cm); done {
				return status, hangup
			}
			continue
		}
		if dest, err := ParseDestination(a.InvalidDest); err == nil {
			c.log.Info("attendant: invalid key", "key", string(d), "dest", dest.String())
			return c.route(dest)
		}
		if _, err := cm.play(ctx, c.b.vm.audioOr("", "vm-invalid"), false); err != nil {
			return store.CallCanceled, "caller"
		}
	}
	_, _ = cm.play(ctx, c.b.vm.audioOr("", "vm-goodbye"), false)
	return store.CallAnswered, ""
}

// dialByExtension asks for an extension number and connects to it; done is
// false when the number was no extension (the attendant goes on).
func (c *call) dialByExtension(cm *callMedia) (string, string, bool) {
	ctx := c.ds.Context()
	if len(cm.digits) == 0 {
		d, err := cm.play(ctx, c.b.vm.audioOr("", "aa-enter-extension"), true)
		if err != nil {
			return store.CallCanceled, "caller", true
		}
		if d != 0 {
			cm.unreadDigit(d) // the key that cut the prompt short is the number's first
		}
	}
	number, err := cm.readDigits(ctx, 8, digitTimeout)
	if err != nil {
		return store.CallCanceled, "caller", true
	}
	if _, err := c.b.store.Extension(ctx, number); err != nil {
		c.log.Info("attendant: dialled a number that is no extension", "number", number)
		_, _ = cm.play(ctx, c.b.vm.audioOr("", "vm-invalid"), false)
		return "", "", false
	}
	c.log.Info("attendant: dial by extension", "extension", number)
	status, hangup := c.route(Destination{Kind: DestExtension, Number: number})
	return status, hangup, true
}

// audioOr reads a greeting file from the data dir's greetings, or returns
// the named built-in prompt when the file is unset or unreadable.
func (v *voicemail) audioOr(file, prompt string) media.Audio {
	if file != "" {
		if a, err := media.ReadWAVFile(filepath.Join(v.dataDir, GreetingsDir, file)); err == nil {
			return toTelephone(a)
		}
	}
	a, err := v.prompts.Get(prompt)
	if err != nil {
		v.log.Warn("prompt missing", "prompt", prompt, "error", err)
		return media.Audio{Rate: media.SampleRate, Samples: media.Silence(0.5, media.SampleRate)}
	}
	return a
}
