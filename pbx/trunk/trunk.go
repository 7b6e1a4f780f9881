// Package trunk owns the PBX's registrations to SIP providers.
//
// A trunk either registers to its provider (mode "register": an outbound
// REGISTER with digest authentication, refreshed before it expires, retried
// with exponential backoff when the provider fails or is unreachable) or is
// an IP-authenticated peer (mode "peer": nothing to keep up, the provider
// sends from known addresses). The Keeper follows the trunks table, so trunks
// added, changed or removed with the CLI take effect without a restart.
package trunk

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/frontdesk-pbx/frontdesk/store"
)

// Trunk modes.
const (
	ModeRegister = "register"
	ModePeer     = "peer"
)

// Registration states, as Status reports them.
const (
	StateRegistering = "registering" // first REGISTER (or first since a change) under way
	StateRegistered  = "registered"  // the provider accepted the last REGISTER
	StateFailed      = "failed"      // the last REGISTER failed; retrying with backoff
	StatePeer        = "peer"        // IP-authenticated: nothing to register
)

// Defaults for the Keeper's tunables.
const (
	DefaultPoll       = 3 * time.Second
	DefaultBackoffMin = 5 * time.Second
	DefaultBackoffMax = 5 * time.Minute
	// UnreachableRetryMax bounds the wait between REGISTERs while the
	// provider answers nothing: calls through the trunk are refused
	// meanwhile, and it may be back long before the backoff's maximum.
	UnreachableRetryMax      = time.Minute
	DefaultTimeout           = 10 * time.Second
	DefaultUnregisterTimeout = 2 * time.Second
	DefaultUserAgent         = "Frontdesk"
)

// Status is where one trunk's registration stands.
type Status struct {
	Name  string `json:"name"`
	Mode  string `json:"mode"`
	Host  string `json:"host"`
	State string `json:"state"`
	// LastError says why the last REGISTER failed ("" once it succeeds).
	LastError string `json:"last_error,omitempty"`
	// Expires is when the provider's binding lapses unless refreshed (zero
	// when never registered).
	Expires time.Time `json:"expires,omitzero"`
	// Unreachable is set when the last REGISTER got no answer at all (timed
	// out, or could not be sent): outbound calls skip the trunk rather than
	// INVITE into the void. An error answer (401, 403, 503...) proves the
	// provider is up, so it does not count.
	Unreachable bool `json:"unreachable,omitempty"`
	// Attempts counts the REGISTERs that failed in a row (0 when registered).
	Attempts int `json:"attempts"`
	// NextAttempt is when the next REGISTER (refresh or retry) leaves.
	NextAttempt time.Time `json:"next_attempt,omitzero"`
}

// Keeper keeps every trunk of mode "register" registered with its provider.
type Keeper struct {
	// Tunables: zero means the default. Set them before Run.

	// Poll is how often the trunks table is re-read (DefaultPoll).
	Poll time.Duration
	// BackoffMin is the wait after the first failed REGISTER; it doubles with
	// each further failure up to BackoffMax (DefaultBackoffMin, DefaultBackoffMax).
	BackoffMin, BackoffMax time.Duration
	// Timeout bounds one REGISTER exchange, challenge included (DefaultTimeout).
	Timeout time.Duration
	// UnregisterTimeout bounds the un-REGISTER of a trunk that goes away
	// (DefaultUnregisterTimeout).
	UnregisterTimeout time.Duration
	// UserAgent is sent in the User-Agent header (DefaultUserAgent).
	UserAgent string

	store       *store.Store
	client      *sipgo.Client
	contactHost string
	contactPort int
	log         *slog.Logger
	now         func() time.Time
	reload      chan struct{}
	wg          sync.WaitGroup

	mu      sync.Mutex
	trunks  map[string]*entry
	readErr string // the last failure to read the trunks table, logged once
}

// entry is one trunk the Keeper follows.
type entry struct {
	trunk  store.Trunk
	status Status // guarded by Keeper.mu

	// For registering trunks: cancel stops the goroutine, done is closed once
	// it has finished (its un-REGISTER sent).
	cancel context.CancelFunc
	done   chan struct{}
	// keepBinding, set before cancel, skips the un-REGISTER: the trunk is
	// restarted with new credentials for the same binding.
	keepBinding atomic.Bool
}

// New prepares a Keeper. REGISTERs leave through client, so they come from
// the PBX's SIP port when the client is bound to it; contactHost and
// contactPort are where the provider sends calls (the Contact). now is the
// clock Status reports in (time.Now when nil); waiting uses real timers.
func New(st *store.Store, client *sipgo.Client, contactHost string, contactPort int, log *slog.Logger, now func() time.Time) *Keeper {
	if log == nil {
		log = slog.Default()
	}
	if now == nil {
		now = time.Now
	}
	return &Keeper{
		store: st, client: client, contactHost: contactHost, contactPort: contactPort, log: log, now: now,
		reload: make(chan struct{}, 1),
		trunks: make(map[string]*entry),
	}
}

// Unreachable says whether calls through the named trunk should not be
// tried, and why: it registers, and its provider did not answer the last
// REGISTER at all. Over UDP nothing else tells that the provider is gone,
// so an INVITE would only time out (32 s of silence for the caller). Peers,
// trunks whose provider answered (even with an error) and trunks not
// registered yet are reachable. A nil Keeper knows of no unreachable trunk.
func (k *Keeper) Unreachable(name string) (why string, down bool) {
	if k == nil {
		return "", false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	e := k.trunks[name]
	if e == nil || e.trunk.Mode != ModeRegister || !e.status.Unreachable {
		return "", false
	}
	return e.status.LastError, true
}

// Run follows the trunks table until ctx ends, then un-REGISTERs every trunk
// (bounded by UnregisterTimeout) and returns. Call it once.
func (k *Keeper) Run(ctx context.Context) {
	k.reconcile(ctx)
	t := time.NewTicker(cmp.Or(k.Poll, DefaultPoll))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			k.wg.Wait()
			return
		case <-t.C:
		case <-k.reload:
		}
		k.reconcile(ctx)
	}
}

// Reload makes Run re-read the trunks table now rather than at the next poll.
func (k *Keeper) Reload() {
	select {
	case k.reload <- struct{}{}:
	default:
	}
}

// Status reports every trunk, by name.
func (k *Keeper) Status() []Status {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]Status, 0, len(k.trunks))
	for _, e := range k.trunks {
		out = append(out, e.status)
	}
	slices.SortFunc(out, func(a, b Status) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// reconcile starts, restarts and stops registrations to match the table.
func (k *Keeper) reconcile(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	trunks, err := k.store.Trunks(ctx)
	if err != nil {
		if ctx.Err() == nil && err.Error() != k.readErr {
			k.log.Warn("read trunks", "error", err)
			k.readErr = err.Error()
		}
		return
	}
	k.readErr = ""
	k.mu.Lock()
	defer k.mu.Unlock()
	seen := make(map[string]bool, len(trunks))
	for _, t := range trunks {
		seen[t.Name] = true
		old := k.trunks[t.Name]
		if old != nil && !needsRestart(old.trunk, t) {
			old.trunk = t // caller ID, codecs, allowed addresses: nothing to redo
			continue
		}
		var prev <-chan struct{}
		if old != nil && old.cancel != nil {
			// The same binding with new credentials or expiry is simply
			// re-registered; anything else is un-REGISTERed first.
			old.keepBinding.Store(t.Mode == ModeRegister && sameBinding(old.trunk, t))
			old.cancel()
			prev = old.done
		}
		if old != nil {
			k.log.Info("trunk changed", "trunk", t.Name, "mode", t.Mode, "host", t.Host)
		}
		k.trunks[t.Name] = k.start(ctx, t, prev)
	}
	for name, e := range k.trunks {
		if seen[name] {
			continue
		}
		delete(k.trunks, name)
		if e.cancel != nil {
			e.cancel() // un-REGISTERs on its way out
		}
		k.log.Info("trunk removed", "trunk", name)
	}
}

// needsRestart says whether a change to a trunk means registering anew.
func needsRestart(a, b store.Trunk) bool {
	return a.Mode != b.Mode || a.Host != b.Host || a.Transport != b.Transport || a.Username != b.Username ||
		a.Password != b.Password || a.AuthUsername != b.AuthUsername || a.Expires != b.Expires
}

// sameBinding says whether two trunks register the same address of record
// at the same provider (so one REGISTER replaces the other's binding).
func sameBinding(a, b store.Trunk) bool {
	return a.Host == b.Host && a.Transport == b.Transport && a.Username == b.Username
}

// start begins following one trunk; a registering trunk waits for prev (the
// goroutine of its previous settings) to finish first.
func (k *Keeper) start(ctx context.Context, t store.Trunk, prev <-chan struct{}) *entry {
	e := &entry{trunk: t, status: Status{Name: t.Name, Mode: t.Mode, Host: t.Host, State: StatePeer}}
	if t.Mode != ModeRegister {
		return e
	}
	e.status.State = StateRegistering
	e.status.NextAttempt = k.now()
	e.done = make(chan struct{})
	var rctx context.Context
	rctx, e.cancel = context.WithCancel(ctx)
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		defer close(e.done)
		if prev != nil {
			select {
			case <-prev:
			case <-rctx.Done():
				return
			}
		}
		k.keep(rctx, e, t)
	}()
	return e
}

// keep registers trunk t until ctx ends, then un-REGISTERs it. It reads
// only t, its own copy: e.trunk belongs to reconcile.
func (k *Keeper) keep(ctx context.Context, e *entry, t store.Trunk) {
	s, err := newSession(t, k.contactHost, k.contactPort, cmp.Or(k.UserAgent, DefaultUserAgent))
	if err != nil {
		// Checked settings cannot get here; a hand-edited database can.
		k.failed(e, t, err, 1, 0)
		<-ctx.Done()
		return
	}
	k.log.Debug("trunk registering", "trunk", t.Name, "host", t.Host, "username", t.Username)
	var boundUntil time.Time // a binding may exist at the provider until then
	failures := 0
	for ctx.Err() == nil {
		actx, cancel := context.WithTimeout(ctx, cmp.Or(k.Timeout, DefaultTimeout))
		granted, err := k.register(actx, s)
		cancel()
		if ctx.Err() != nil {
			break
		}
		var wait time.Duration
		if err == nil {
			failures = 0
			boundUntil = k.now().Add(granted)
			wait = refreshAfter(granted)
			k.registered(e, t, granted, wait)
		} else {
			failures++
			wait = k.retryWait(failures, err)
			k.failed(e, t, err, failures, wait)
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-timer.C:
		}
		timer.Stop()
	}
	if boundUntil.IsZero() || !k.now().Before(boundUntil) || e.keepBinding.Load() {
		return
	}
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cmp.Or(k.UnregisterTimeout, DefaultUnregisterTimeout))
	defer cancel()
	if err := k.unregister(uctx, s); err != nil {
		k.log.Info("trunk un-REGISTER failed", "trunk", t.Name, "host", t.Host, "error", err)
		return
	}
	k.log.Info("trunk unregistered", "trunk", t.Name, "host", t.Host)
}

// registered records a successful REGISTER, logging the change to registered.
func (k *Keeper) registered(e *entry, t store.Trunk, granted, wait time.Duration) {
	now := k.now()
	k.mu.Lock()
	was := e.status.State
	e.status.State = StateRegistered
	e.status.LastError = ""
	e.status.Unreachable = false
	e.status.Attempts = 0
	e.status.Expires = now.Add(granted)
	e.status.NextAttempt = now.Add(wait)
	k.mu.Unlock()
	if was != StateRegistered {
		k.log.Info("trunk registered", "trunk", t.Name, "host", t.Host, "username", t.Username,
			"expires", granted.String(), "refresh_in", wait.Round(time.Millisecond).String())
		return
	}
	k.log.Debug("trunk registration refreshed", "trunk", t.Name, "expires", granted.String(), "refresh_in", wait.Round(time.Millisecond).String())
}

// failed records a failed REGISTER. The first failure, and a failure for a
// different reason, is a warning; the same failure again is debug.
func (k *Keeper) failed(e *entry, t store.Trunk, err error, attempts int, wait time.Duration) {
	now := k.now()
	msg := err.Error()
	k.mu.Lock()
	changed := e.status.State != StateFailed || e.status.LastError != msg
	e.status.State = StateFailed
	e.status.LastError = msg
	e.status.Unreachable = unanswered(err)
	e.status.Attempts = attempts
	e.status.NextAttempt = now.Add(wait)
	k.mu.Unlock()
	args := []any{"trunk", t.Name, "host", t.Host, "error", msg, "attempts", attempts, "retry_in", wait.Round(time.Millisecond).String(),
		"unreachable", unanswered(err)}
	if changed {
		k.log.Warn("trunk registration failed", args...)
		return
	}
	k.log.Debug("trunk registration failed again", args...)
}

// retryWait is the wait before the next REGISTER after failures in a row,
// the last with err: the backoff, or longer if the provider asked for it
// (Retry-After), but at most UnreachableRetryMax while it answers nothing.
func (k *Keeper) retryWait(failures int, err error) time.Duration {
	wait := k.backoff(failures)
	if ra := retryAfter(err); ra > wait {
		wait = min(ra, cmp.Or(k.BackoffMax, DefaultBackoffMax))
	}
	if unanswered(err) {
		wait = min(wait, UnreachableRetryMax)
	}
	return wait
}

// backoff is the wait after the given number of failures in a row:
// BackoffMin doubling up to BackoffMax, give or take 10 %.
func (k *Keeper) backoff(failures int) time.Duration {
	lo, hi := cmp.Or(k.BackoffMin, DefaultBackoffMin), cmp.Or(k.BackoffMax, DefaultBackoffMax)
	d := lo
	for i := 1; i < failures && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	d = time.Duration(float64(d) * (0.9 + 0.2*rand.Float64()))
	return min(d, hi)
}

// refreshAfter is when to refresh a binding granted for d: at 80 % of it or
// 30 s before it lapses, whichever is earlier, but not before half of it has
// passed (a provider granting little time is not hammered) nor within a second.
func refreshAfter(d time.Duration) time.Duration {
	r := min(d*8/10, d-30*time.Second)
	r = max(r, d/2)
	return max(r, time.Second)
}

// AwaitListener waits until sipgo serves the UDP listener at addr. Requests a
// client bound to the SIP port sends (REGISTERs, NOTIFYs) reuse that
// listener once it is in the transport's pool; before then sipgo binds the
// port a second time and the send fails with "address already in use". Both
// sipgo's and diago's ready signals come just before the listener joins the
// pool, so this closes that gap.
func AwaitListener(ctx context.Context, tl *sip.TransportLayer, addr string) error {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		if c, err := tl.GetConnection("udp", addr); err == nil {
			c.Ref(-1) // GetConnection took a reference
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("SIP listener %s not serving: %w", addr, context.Cause(ctx))
		case <-tick.C:
		}
	}
}
