package pbx

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/sipgo/sip"

	"github.com/frontdesk-pbx/frontdesk/media"
	"github.com/frontdesk-pbx/frontdesk/store"
)

// Feature codes members dial to log in to or out of a queue: *45 + queue.
const (
	QueueLoginCode  = "*45"
	QueueLogoutCode = "*46"
)

// queues holds who waits in which queue, in arrival order, and which members
// are on a queue call; it lives as long as the server.
type queues struct {
	mu      sync.Mutex
	waiting map[string][]*call     // queue -> callers, first in line first
	busy    map[string]bool        // extensions on a queue call now
	next    map[string]int         // queue -> round-robin position
	music   map[string]media.Audio // file -> decoded audio
}

func newQueues() *queues {
	return &queues{waiting: map[string][]*call{}, busy: map[string]bool{}, next: map[string]int{}, music: map[string]media.Audio{}}
}

func (qs *queues) join(q string, c *call) {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	qs.waiting[q] = append(qs.waiting[q], c)
}

func (qs *queues) leave(q string, c *call) {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	qs.waiting[q] = slices.DeleteFunc(qs.waiting[q], func(x *call) bool { return x == c })
}

// position is the caller's place in line, 1 for first.
func (qs *queues) position(q string, c *call) int {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	return slices.Index(qs.waiting[q], c) + 1
}

// pick chooses the member to offer the call to: logged in, not on a queue
// call, and next in turn (round robin) or idle longest.
func (qs *queues) pick(q store.Queue, skip map[string]bool) (string, bool) {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	var free []store.QueueMember
	for _, m := range q.Members {
		if m.LoggedIn && !qs.busy[m.Extension] && !skip[m.Extension] {
			free = append(free, m)
		}
	}
	if len(free) == 0 {
		return "", false
	}
	if q.Strategy == "longest-idle" {
		slices.SortStableFunc(free, func(a, b store.QueueMember) int { return a.LastCallAt.Compare(b.LastCallAt) })
		return free[0].Extension, true
	}
	i := qs.next[q.Number] % len(free)
	qs.next[q.Number] = i + 1
	return free[i].Extension, true
}

func (qs *queues) setBusy(ext string, busy bool) {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	if busy {
		qs.busy[ext] = true
	} else {
		delete(qs.busy, ext)
	}
}

// queue holds the caller with music and announcements, offering the call to
// members in turn, until one answers, the caller presses the leave digit, the
// maximum wait passes, or nobody is logged in: then the fallback.
func (c *call) queue(q store.Queue) (string, string) {
	ctx := c.ds.Context()
	c.log = c.log.With("queue", q.Number)
	fallback := func(why string) (string, string) {
		c.log.Info("queue: to the fallback", "because", why, "dest", q.Fallback)
		if dest, err := ParseDestination(q.Fallback); err == nil {
			return c.route(dest)
		}
		respond(c.ds, sip.StatusTemporarilyUnavailable, "Nobody Available")
		return store.CallNoAnswer, ""
	}
	if !slices.ContainsFunc(q.Members, func(m store.QueueMember) bool { return m.LoggedIn }) {
		return fallback("no member logged in")
	}
	cm, err := c.answer()
	if err != nil {
		return store.CallFailed, ""
	}
	qs := c.b.queues
	qs.join(q.Number, c)
	defer qs.leave(q.Number, c)

	waitCtx, stopWaiting := context.WithTimeout(ctx, time.Duration(q.MaxWait)*time.Second)
	defer stopWaiting()
	stopMusic := c.holdMusic(waitCtx, cm, q)

	tried := map[string]bool{}
	for {
		if waitCtx.Err() != nil {
			stopMusic()
			if ctx.Err() != nil {
				return store.CallCanceled, "caller"
			}
			return fallback("maximum wait")
		}
		// Only the first in line is offered to members.
		if qs.position(q.Number, c) == 1 {
			fresh, err := c.b.store.Queue(ctx, q.Number) // logins change while callers wait
			if err == nil {
				q = fresh
			}
			if member, ok := qs.pick(q, tried); ok {
				tried[member] = true
				if status, hangup, done := c.offer(waitCtx, cm, q, member, stopMusic); done {
					return status, hangup
				}
				if len(tried) >= len(q.Members) {
					clear(tried) // everyone had a turn: start another round
				}
				continue
			}
			clear(tried)
		}
		select {
		case d := <-cm.digits:
			if q.LeaveDigit != "" && string(d) == q.LeaveDigit {
				stopMusic()
				return fallback("caller pressed " + q.LeaveDigit)
			}
		case <-time.After(time.Second):
		case <-waitCtx.Done():
		}
	}
}

// offer rings one member for the queue's ring time; done is true when the
// call ended here (answered, or the caller left or hung up meanwhile).
func (c *call) offer(ctx context.Context, cm *callMedia, q store.Queue, member string, stopMusic func()) (string, string, bool) {
	devices, err := c.b.store.Bindings(ctx, member, c.b.now())
	if err != nil || len(devices) == 0 {
		return "", "", false
	}
	c.log.Debug("queue: offering the call", "member", member)
	ringCtx, stopRinging := context.WithTimeout(ctx, time.Duration(q.RingSeconds)*time.Second)
	defer stopRinging()
	from := c.caller
	from.Display = q.Name + ": " + c.caller.Display
	result := make(chan *diago.DialogClientSession, 1)
	go func() {
		dc, _ := c.b.ringDevicesFor(ringCtx, c.ds, func() {}, from, devices, c.log)
		result <- dc
	}()
	for {
		select {
		case dc := <-result:
			if dc == nil {
				return "", "", false
			}
			stopMusic()
			c.b.queues.setBusy(member, true)
			defer c.b.queues.setBusy(member, false)
			_ = c.b.store.QueueCallTaken(context.WithoutCancel(ctx), q.Number, member, c.b.now())
			c.log.Info("queue: member took the call", "member", member)
			status, hangup := c.answerAndBridge(dc)
			return status, hangup, true
		case d := <-cm.digits:
			if q.LeaveDigit != "" && string(d) == q.LeaveDigit {
				stopRinging()
				if dc := <-result; dc != nil {
					c.b.hangUpLate(dc)
				}
				stopMusic()
				if dest, err := ParseDestination(q.Fallback); err == nil {
					c.log.Info("queue: caller left for the fallback", "dest", dest.String())
					status, hangup := c.route(dest)
					return status, hangup, true
				}
				return store.CallNoAnswer, "", true
			}
		}
	}
}

// hangUpLate ends a leg that answered after the call went elsewhere.
func (b *b2bua) hangUpLate(dc *diago.DialogClientSession) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = dc.Ack(ctx)
	_ = dc.Hangup(ctx)
	dc.Close()
}

// holdMusic plays the queue's music to the caller, with their position in
// line every announce interval, until the returned stop is called.
func (c *call) holdMusic(ctx context.Context, cm *callMedia, q store.Queue) (stop func()) {
	musicCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tracks := c.b.queues.tracks(c.b.vm, q.Music)
		if q.LeaveDigit != "" {
			if a, err := c.b.vm.prompts.Join(append([]string{"q-press-to-leave"}, media.DigitWords(q.LeaveDigit)...)...); err == nil {
				_, _ = cm.play(musicCtx, a, false)
			}
		}
		joined := time.Now()
		nextAnnounce := joined.Add(time.Duration(q.AnnounceSeconds) * time.Second)
		for i := 0; musicCtx.Err() == nil; i++ {
			if q.AnnounceSeconds > 0 && time.Now().After(nextAnnounce) {
				words := append([]string{"q-position"}, media.NumberWords(c.b.queues.position(q.Number, c))...)
				words = append(words, "q-in-line")
				words = append(words, waitedWords(time.Since(joined))...)
				if a, err := c.b.vm.prompts.Join(words...); err == nil {
					_, _ = cm.play(musicCtx, a, false)
				}
				nextAnnounce = time.Now().Add(time.Duration(q.AnnounceSeconds) * time.Second)
			}
			track := tracks[i%len(tracks)]
			// Play in slices so announcements come on time.
			until := min(len(track.Samples), media.SampleRate*max(q.AnnounceSeconds, 5))
			if _, err := cm.play(musicCtx, media.Audio{Rate: track.Rate, Samples: track.Samples[:until]}, false); err != nil {
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
}

// waitedWords names the prompts that say how long a caller has waited.
func waitedWords(d time.Duration) []string {
	minutes := int(d.Minutes())
	switch minutes {
	case 0:
		return []string{"q-waited", "q-under-a-minute"}
	case 1:
		return []string{"q-waited", "digit-1", "q-minute"}
	}
	return append(append([]string{"q-waited"}, media.NumberWords(minutes)...), "q-minutes")
}

// tracks returns a queue's music: its WAV files under the data dir's music/,
// or the built-in hold music.
func (qs *queues) tracks(v *voicemail, files []string) []media.Audio {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	var out []media.Audio
	for _, f := range files {
		if a, ok := qs.music[f]; ok {
			out = append(out, a)
			continue
		}
		a, err := media.ReadWAVFile(filepath.Join(v.dataDir, MusicDir, filepath.Base(f)))
		if err != nil {
			v.log.Warn("queue music unreadable", "file", f, "error", err)
			continue
		}
		a = toTelephone(a)
		qs.music[f] = a
		out = append(out, a)
	}
	if len(out) == 0 {
		if a, ok := qs.music[""]; ok {
			return []media.Audio{a}
		}
		a := media.HoldMusic(media.SampleRate)
		qs.music[""] = a
		out = append(out, a)
	}
	return out
}

// MusicDir holds uploaded music on hold, under the data dir.
const MusicDir = "music"

// queueLogin handles *45<queue> and *46<queue> from a member's phone.
func (c *call) queueLogin(code, queue string) (string, string) {
	ctx := c.ds.Context()
	in := code == QueueLoginCode
	if c.caller.Ext == nil {
		respond(c.ds, sip.StatusForbidden, "Forbidden")
		return store.CallRefused, ""
	}
	if err := c.b.store.SetQueueLogin(ctx, strings.TrimSpace(queue), c.caller.Ext.Number, in); err != nil {
		c.log.Info("queue login refused", "queue", queue, "error", err)
		respond(c.ds, sip.StatusNotFound, "Not Found")
		return store.CallNotFound, ""
	}
	_ = c.b.store.Audit(context.WithoutCancel(ctx), "ext:"+c.caller.Ext.Number, map[bool]string{true: "queue.login", false: "queue.logout"}[in], "", 0, queue)
	c.log.Info("queue login changed", "queue", queue, "logged_in", in)
	cm, err := c.answer()
	if err != nil {
		return store.CallFailed, ""
	}
	prompt := map[bool]string{true: "q-logged-in", false: "q-logged-out"}[in]
	_, _ = cm.play(ctx, c.b.vm.audioOr("", prompt), false)
	return store.CallAnswered, ""
}
