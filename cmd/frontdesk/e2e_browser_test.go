package main

// Browser end-to-end tests: Debian's chromium, headless, driven from Go by
// chromedp (over its pipe: no debugging port is opened), against the real
// server binary on loopback. The harness here gives a test one or more
// browsers (each its own chromium process and profile, so its own cookie
// jar: one browser is one user's session) with tabs that
//   - log the page's console, browser log entries (failed loads, CSP
//     violations) and failed API responses into the test log;
//   - fail the test on an uncaught exception or unhandled promise rejection
//     in the page, on a Content-Security-Policy violation (the pages' CSP
//     forbids inline code, so a violation is a broken page), and on any
//     5xx answer the page got;
//   - fail the test when a page shows a JavaScript value as text ("null",
//     "undefined", "NaN", "[object Object]": a rendering bug), checked at
//     each screenshot;
//   - accept JavaScript dialogs (confirm() before a delete) at once;
//   - record the responses to message audio requests (to prove the player
//     loaded through HTTP range requests);
//   - save a full-page PNG after each step: $FRONTDESK_ARTIFACTS (make test
//     sets it to <repo>/artifacts), or <repo>/artifacts, then
//     screenshots/<TestName>/NN-<browser>-<step>.png.
// Waits poll JavaScript conditions in a Go loop, so they survive the page
// navigating in between, and a failed wait says what the page showed.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

const (
	browserStep = 15 * time.Second // one navigation, click or wait for the page
	// A change to show in another browser. The spec says within a second;
	// the tests log how long it took and allow for a slow CI machine.
	browserLive  = 10 * time.Second
	browserStart = 30 * time.Second // chromium's start
)

// chromiumPath finds Debian's chromium (or a chromium-browser). Missing, the
// test fails: the browser tests are part of `make test`, which installs it.
func chromiumPath(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not installed: run make test-deps (it installs Debian's chromium package)")
	return ""
}

// repoRoot is the module root (where go.mod is), found upwards from the
// test's working directory.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			t.Fatalf("no go.mod above %s", dir)
		}
	}
}

// screenshots numbers and saves one test's screenshots, shared by all of its
// browsers so the files sort in the order the steps happened.
type screenshots struct {
	dir string
	mu  sync.Mutex
	n   int
}

// newScreenshots makes (emptied) the screenshot folder of test t.
func newScreenshots(t *testing.T) *screenshots {
	t.Helper()
	base := os.Getenv("FRONTDESK_ARTIFACTS")
	if base == "" {
		base = filepath.Join(repoRoot(t), "artifacts")
	}
	dir := filepath.Join(base, "screenshots", fileSafe(t.Name()))
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("creating the screenshot folder: %v", err)
	}
	t.Logf("screenshots in %s", dir)
	return &screenshots{dir: dir}
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func fileSafe(s string) string { return strings.Trim(unsafeChars.ReplaceAllString(s, "_"), "_") }

func (s *screenshots) next(who, step string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	return filepath.Join(s.dir, fmt.Sprintf("%02d-%s-%s.png", s.n, fileSafe(who), fileSafe(step)))
}

// browser is one chromium process with its own profile: one user's session.
type browser struct {
	t     *testing.T // the test that owns it (logs go there)
	name  string
	srv   *frontdeskServer
	shots *screenshots
	out   string // chromium's stdout and stderr

	main *tab

	mu       sync.Mutex
	closed   bool     // no more logging: the test is ending
	problems []string // uncaught exceptions, CSP violations, 5xx answers not yet reported
}

// tab is one page of a browser.
type tab struct {
	b    *browser
	name string
	ctx  context.Context

	mu    sync.Mutex
	audio []audioResponse
}

// audioResponse is the browser's view of one response to a message audio
// request.
type audioResponse struct {
	URL          string
	Status       int64
	ContentRange string
	Range        string // the request's Range header, when chromium tells
}

// newBrowser starts a headless chromium for the user called name (a label
// for logs and screenshots) against srv. It is closed by t.Cleanup.
func newBrowser(t *testing.T, srv *frontdeskServer, shots *screenshots, name string) *browser {
	t.Helper()
	b := &browser{t: t, name: name, srv: srv, shots: shots,
		out: filepath.Join(t.TempDir(), "chromium-"+fileSafe(name)+".log")}
	outFile, err := os.Create(b.out)
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		// chromium's sandbox refuses root and needs user namespaces, which
		// containers and CI rarely give; the pages are our own.
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("mute-audio", true),
		// The test plays a message without a click on the page.
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(outFile),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx,
		chromedp.WithLogf(b.logf), chromedp.WithErrorf(b.logf))
	t.Cleanup(func() {
		b.mu.Lock()
		b.closed = true
		problems := b.problems
		b.mu.Unlock()
		for _, p := range problems {
			t.Errorf("browser %s: %s", name, p)
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_ = chromedp.Cancel(cctx)
		cancel()
		cancelCtx()
		cancelAlloc()
		outFile.Close()
		if t.Failed() {
			if out, err := os.ReadFile(b.out); err == nil && len(out) > 0 {
				t.Logf("--- chromium %s output (%s) ---\n%s--- end of chromium output ---", name, b.out, tailOf(string(out), 4000))
			}
		}
	})
	// The first action starts chromium; it is bound to ctx, which has no
	// deadline, so the start gets its own timer.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("starting chromium for %s: %v (output in %s)", name, err, b.out)
		}
	case <-time.After(browserStart):
		t.Fatalf("chromium for %s did not start within %v", name, browserStart)
	}
	b.main = b.watch(ctx, name)
	return b
}

// NewTab opens another tab in the same browser (same session).
func (b *browser) NewTab(t *testing.T, label string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.main.ctx)
	b.t.Cleanup(cancel) // the tab lives as long as its browser, past the subtest that opened it
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("opening a tab in %s's browser: %v", b.name, err)
	}
	return b.watch(ctx, b.name+"-"+label)
}

func (b *browser) logf(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.t.Logf(format, args...)
	}
}

func (b *browser) problem(p string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.problems = append(b.problems, p)
		b.t.Logf("%s: PROBLEM: %s", b.name, p)
	}
}

// takeProblems returns and forgets the problems seen so far.
func (b *browser) takeProblems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.problems
	b.problems = nil
	return p
}

// watch starts the goroutines that log tab ctx's console, its failed API
// responses and audio responses, and accept its dialogs.
func (b *browser) watch(ctx context.Context, name string) *tab {
	tb := &tab{b: b, name: name, ctx: ctx}
	console := chromedp.Console(ctx)
	responses := chromedp.Events(ctx, network.ResponseReceived)
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			where := ""
			if m.URL != "" {
				where = fmt.Sprintf(" (%s:%d)", strings.TrimPrefix(m.URL, b.srv.HTTPURL), m.Line+1)
			}
			b.logf("[%s console] %s%s", name, m, where)
			switch {
			case m.IsException():
				b.problem(fmt.Sprintf("uncaught exception in the page: %s%s", m.Text, where))
			case strings.Contains(m.Text, "Content Security Policy"):
				b.problem(fmt.Sprintf("CSP violation: %s%s", m.Text, where))
			}
		}
	}()
	go func() {
		for ev, err := range responses {
			if err != nil {
				return
			}
			r := ev.Response
			path := strings.TrimPrefix(r.URL, b.srv.HTTPURL)
			if strings.Contains(path, "/audio") {
				tb.mu.Lock()
				tb.audio = append(tb.audio, audioResponse{URL: path, Status: r.Status,
					ContentRange: cdpHeader(r.Headers, "Content-Range"), Range: cdpHeader(r.RequestHeaders, "Range")})
				tb.mu.Unlock()
				b.logf("[%s network] %d %s (Content-Range %q)", name, r.Status, path, cdpHeader(r.Headers, "Content-Range"))
			} else if r.Status >= 500 {
				b.problem(fmt.Sprintf("server error %d for %s", r.Status, path))
			} else if r.Status >= 400 {
				b.logf("[%s network] %d %s", name, r.Status, path)
			}
		}
	}()
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.logf("[%s dialog] %s %q: accepting", name, ev.Type, ev.Message)
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	return tb
}

// cdpHeader reads a header from a CDP header map, whatever its case.
func cdpHeader(h network.Headers, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return fmt.Sprint(v)
		}
	}
	return ""
}

func tailOf(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// audioResponses returns the audio responses the tab has seen.
func (tb *tab) audioResponses() []audioResponse {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]audioResponse(nil), tb.audio...)
}

// checkProblems fails t for each uncaught exception, CSP violation or 5xx
// answer the tab's browser saw since the last check.
func (tb *tab) checkProblems(t *testing.T) {
	t.Helper()
	for _, p := range tb.b.takeProblems() {
		t.Errorf("browser %s: %s", tb.b.name, p)
	}
}

// shot saves a full-page screenshot for step.
func (tb *tab) shot(t *testing.T, step string) {
	t.Helper()
	var png []byte
	var err error
	// A page that is navigating has no size yet: wait for it and retry.
	for try := 0; try < 10; try++ {
		ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
		png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
		cancel()
		if err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Logf("screenshot %s of %s: %v", step, tb.name, err)
		return
	}
	path := tb.b.shots.next(tb.name, step)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Errorf("saving screenshot: %v", err)
		return
	}
	t.Logf("screenshot: %s", path)
	if step != "FAILED" {
		tb.checkText(t, filepath.Base(path))
	}
}

// leakedValue finds JavaScript values that leaked into a page's text as
// words: "null" from a DOM call given null, "undefined", "NaN",
// "[object Object]", "Invalid Date".
const leakedValue = `(document.body?.innerText ?? "").split("\n").filter(l => /null|undefined|NaN|\[object Object\]|Invalid Date/.test(l))`

// checkText fails t when the page shows a leaked JavaScript value.
func (tb *tab) checkText(t *testing.T, where string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, browserStep)
	defer cancel()
	lines, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](leakedValue))
	if err != nil {
		return // the page is navigating: the next screenshot checks
	}
	for _, l := range lines {
		t.Errorf("%s (%s): the page shows a JavaScript value as text: %q", tb.name, where, l)
	}
}

// do runs chromedp actions with a step timeout; failing, it fails t with what
// the page shows.
func (tb *tab) do(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, browserStep)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.fail(t, fmt.Sprintf("%s: %v", what, err))
	}
}

// fail saves a screenshot, logs the page's state and fails t at once.
func (tb *tab) fail(t *testing.T, msg string) {
	t.Helper()
	tb.checkProblems(t)
	tb.shot(t, "FAILED")
	t.Fatalf("%s: %s\n%s", tb.name, msg, tb.describe())
}

// describe says where the page is and what it shows (for failures).
func (tb *tab) describe() string {
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`location.href + "\n--- page text ---\n" + (document.body ? document.body.innerText : "(no body)").slice(0, 3000)`))
	if err != nil {
		return fmt.Sprintf("(cannot read the page: %v)", err)
	}
	return s
}

// open loads path (e.g. "/login") of the server.
// A navigation the page itself started meanwhile (after a delete, say)
// aborts ours: then it waits a little and loads path again.
func (tb *tab) open(t *testing.T, path string) {
	t.Helper()
	for try := 1; ; try++ {
		ctx, cancel := context.WithTimeout(tb.ctx, browserStep)
		err := chromedp.Do(ctx, chromedp.Navigate(tb.b.srv.HTTPURL+path))
		cancel()
		if err == nil {
			return
		}
		if !strings.Contains(err.Error(), "ERR_ABORTED") || try == 3 {
			tb.fail(t, fmt.Sprintf("opening %s: %v", path, err))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// evalJS evaluates a JavaScript expression in tb, decoding its value into T
// (a promise is awaited). An error fails t.
func evalJS[T any](t *testing.T, tb *tab, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, browserStep)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.fail(t, fmt.Sprintf("evaluating %s: %v", expr, err))
	}
	return v
}

// waitJS waits until the JavaScript condition cond holds (an exception
// counts as false: the element may not be there yet). what says what is
// awaited, for the failure message.
func (tb *tab) waitJS(t *testing.T, what string, timeout time.Duration, cond string) {
	t.Helper()
	expr := `(() => { try { return !!(` + cond + `); } catch (e) { return false; } })()`
	deadline := time.Now().Add(timeout)
	var lastErr error
	for {
		ctx, cancel := context.WithTimeout(tb.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		if err != nil {
			lastErr = err // e.g. the page is navigating: try again
		}
		if time.Now().After(deadline) {
			msg := fmt.Sprintf("timed out after %v waiting for %s (condition: %s)", timeout, what, cond)
			if lastErr != nil {
				msg += fmt.Sprintf("; last error: %v", lastErr)
			}
			tb.fail(t, msg)
		}
		if tb.ctx.Err() != nil {
			tb.fail(t, "the browser is gone: "+tb.ctx.Err().Error())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitSelector waits until sel matches an element.
func (tb *tab) waitSelector(t *testing.T, sel string, timeout time.Duration) {
	t.Helper()
	tb.waitJS(t, "an element matching "+sel, timeout, fmt.Sprintf("document.querySelector(%s)", jsString(sel)))
}

// waitGone waits until sel matches nothing.
func (tb *tab) waitGone(t *testing.T, sel string, timeout time.Duration) {
	t.Helper()
	tb.waitJS(t, "no element matching "+sel, timeout, fmt.Sprintf("document.readyState == 'complete' && !document.querySelector(%s)", jsString(sel)))
}

// waitText waits until the text of the first element matching sel contains
// want (case-insensitive).
func (tb *tab) waitText(t *testing.T, sel, want string, timeout time.Duration) {
	t.Helper()
	tb.waitJS(t, fmt.Sprintf("%s to say %q", sel, want), timeout,
		fmt.Sprintf("document.querySelector(%s).textContent.toLowerCase().includes(%s)", jsString(sel), jsString(strings.ToLower(want))))
}

// text returns the trimmed text of the first element matching sel ("" if none).
func (tb *tab) text(t *testing.T, sel string) string {
	t.Helper()
	return evalJS[string](t, tb, fmt.Sprintf(`(document.querySelector(%s)?.textContent ?? "").trim()`, jsString(sel)))
}

// path returns location.pathname.
func (tb *tab) path(t *testing.T) string {
	t.Helper()
	return evalJS[string](t, tb, `location.pathname`)
}

// click clicks (with the mouse) the first visible element matching sel;
// the failure tells a missing element from a hidden one.
func (tb *tab) click(t *testing.T, sel string) {
	t.Helper()
	tb.waitSelector(t, sel, browserStep)
	ctx, cancel := context.WithTimeout(tb.ctx, browserStep)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		tb.fail(t, fmt.Sprintf("clicking %s (the element is there but not visible or not clickable): %v", sel, err))
	}
}

// typeInto clears the field sel and types text into it as keystrokes. It
// checks the field then holds text: a page that was still loading may have
// filled it meanwhile (a search box from the URL), and then it types again.
func (tb *tab) typeInto(t *testing.T, sel, text string) {
	t.Helper()
	for try := 1; ; try++ {
		tb.waitJS(t, "a loaded page with "+sel, browserStep,
			fmt.Sprintf(`document.readyState == "complete" && document.querySelector(%s)`, jsString(sel)))
		evalJS[chromedp.Void](t, tb, fmt.Sprintf(`(e => { e.value = ""; e.focus(); })(document.querySelector(%s))`, jsString(sel)))
		tb.do(t, "typing into "+sel, chromedp.SendKeys(chromedp.CSS(sel), text))
		got := evalJS[string](t, tb, fmt.Sprintf(`document.querySelector(%s).value`, jsString(sel)))
		if got == text {
			return
		}
		if try == 3 {
			tb.fail(t, fmt.Sprintf("typed %q into %s, but it holds %q", text, sel, got))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// key presses keys on the page itself (nothing focused), as a user does for
// the inbox shortcuts.
func (tb *tab) key(t *testing.T, keys string) {
	t.Helper()
	evalJS[chromedp.Void](t, tb, `document.activeElement && document.activeElement.blur && document.activeElement.blur(), undefined`)
	tb.do(t, "pressing "+keys, chromedp.KeyEvent(keys))
}

// selectOption picks the option of the select sel whose text contains
// label, firing input and change as a user's choice does.
func (tb *tab) selectOption(t *testing.T, sel, label string) {
	t.Helper()
	tb.waitJS(t, fmt.Sprintf("an option %q in %s", label, sel), browserStep,
		fmt.Sprintf(`[...document.querySelector(%s).options].some(o => o.textContent.toLowerCase().includes(%s))`, jsString(sel), jsString(strings.ToLower(label))))
	evalJS[chromedp.Void](t, tb, fmt.Sprintf(`(() => {
		const s = document.querySelector(%s);
		const o = [...s.options].find(o => o.textContent.toLowerCase().includes(%s));
		s.value = o.value;
		s.dispatchEvent(new Event("input", {bubbles: true}));
		s.dispatchEvent(new Event("change", {bubbles: true}));
	})()`, jsString(sel), jsString(strings.ToLower(label))))
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// login signs in through form#login on /login and waits to leave the login
// page. It returns the path the server sent the user to.
func (tb *tab) login(t *testing.T, name, password string) string {
	t.Helper()
	tb.open(t, "/login")
	tb.waitSelector(t, "form#login", browserStep)
	tb.typeInto(t, "form#login input[name=name]", name)
	tb.typeInto(t, "form#login input[name=password]", password)
	tb.shot(t, "login-filled")
	tb.click(t, "form#login button[type=submit]")
	tb.waitJS(t, "leaving the login page (or an error)", browserStep,
		`document.readyState == "complete" && (location.pathname != "/login" || document.querySelector("p.form-error")?.textContent.trim())`)
	if p := tb.path(t); p == "/login" {
		tb.fail(t, fmt.Sprintf("logging in as %s failed: %q", name, tb.text(t, "p.form-error")))
	}
	tb.shot(t, "logged-in")
	return tb.path(t)
}

// changePassword changes the password on /settings through
// form#password-form: password fields named like "current"/"old" get the
// old password, the others (new, confirmation) the new one.
func (tb *tab) changePassword(t *testing.T, old, new string) {
	t.Helper()
	if p := tb.path(t); p != "/settings" {
		tb.open(t, "/settings#password")
	}
	tb.waitSelector(t, "form#password-form", browserStep)
	fields := evalJS[[]string](t, tb, `[...document.querySelectorAll("form#password-form input[type=password]")].map(i => i.name)`)
	if len(fields) < 2 {
		tb.fail(t, fmt.Sprintf("form#password-form has password fields %q: want the current one and the new one", fields))
	}
	for _, f := range fields {
		v := new
		if l := strings.ToLower(f); strings.Contains(l, "current") || strings.Contains(l, "old") {
			v = old
		}
		tb.typeInto(t, fmt.Sprintf("form#password-form input[name=%q]", f), v)
	}
	tb.shot(t, "password-filled")
	evalJS[chromedp.Void](t, tb, `window.__fdPasswordSubmitted = true, undefined`)
	tb.click(t, "form#password-form button[type=submit]")
	// Done when the page moves on (a reload or another page), says so in
	// the toast, or shows an error.
	tb.waitJS(t, "the password change to be answered", browserStep, `document.readyState == "complete" && (
		!window.__fdPasswordSubmitted || location.pathname != "/settings" ||
		document.querySelector("#toast")?.textContent.trim() ||
		document.querySelector("form#password-form p.form-error")?.textContent.trim() ||
		[...document.querySelectorAll("form#password-form .field-error")].some(e => e.textContent.trim()))`)
	msg := evalJS[string](t, tb, `[...document.querySelectorAll("form#password-form p.form-error, form#password-form .field-error")].map(e => e.textContent.trim()).join(" ")`)
	if strings.TrimSpace(msg) != "" {
		tb.fail(t, "changing the password failed: "+msg)
	}
	tb.shot(t, "password-changed")
}

// ---------------------------------------------------------------------------
// Test set-up: users, boxes, messages.

// runCLIInput is runCLI with stdin (for --password-stdin).
func runCLIInput(t testing.TB, dataDir, stdin string, args ...string) string {
	t.Helper()
	bin := frontdeskBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--data", dataDir}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("frontdesk --data %s %s: %v\nstderr:\n%s\nstdout:\n%s", dataDir, strings.Join(args, " "), err, stderr.String(), out.String())
	}
	return out.String()
}

// addWebUser creates a member user with password and access to box.
func addWebUser(t testing.TB, dataDir, name, password, box, access string) {
	t.Helper()
	runCLIInput(t, dataDir, password+"\n", "user", "add", name, "--password-stdin")
	runCLI(t, dataDir, "user", "set", name, "--box", box+"="+access)
}

// ---------------------------------------------------------------------------

// TestBrowserHarness proves the harness on what any build serves: chromium
// starts, loads the server's pages and static files, the console is
// captured, an uncaught exception is caught, and screenshots are written.
func TestBrowserHarness(t *testing.T) {
	srv := startServer(t, "")
	shots := newScreenshots(t)
	b := newBrowser(t, srv, shots, "harness")
	tb := b.main

	tb.open(t, "/healthz")
	tb.waitJS(t, "the health check's body", browserStep, `document.body.innerText.trim().length > 0`)
	tb.shot(t, "healthz")

	tb.open(t, "/static/app.css")
	if css := evalJS[string](t, tb, `document.body.innerText`); !strings.Contains(css, "{") {
		t.Errorf("/static/app.css shows %q, want a style sheet", tailOf(css, 200))
	}
	got := evalJS[map[string]any](t, tb, `fetch("/static/fd.js").then(async r => ({status: r.status, type: r.headers.get("Content-Type"), exports: (await r.text()).includes("export")}))`)
	if got["status"] != float64(200) || got["exports"] != true {
		t.Errorf("GET /static/fd.js from the page: %v, want 200 and an ES module", got)
	}

	// A CSP violation is noticed: the pages allow no inline script.
	tb.open(t, "/login")
	tb.waitSelector(t, "form#login", browserStep)
	evalJS[chromedp.Void](t, tb, `(s => { s.textContent = "window.__inline = 1"; document.body.append(s); })(document.createElement("script")), undefined`)
	var csp []string
	if !waitFor(5*time.Second, func() bool {
		csp = append(csp, b.takeProblems()...)
		return len(csp) > 0
	}) {
		t.Errorf("an inline script on /login ran without a CSP violation: the pages must send the Content-Security-Policy of the design (script-src 'self')")
	} else if !strings.Contains(strings.Join(csp, "\n"), "CSP violation") {
		t.Errorf("problems %q, want a CSP violation", csp)
	}

	// The console and exceptions reach the test.
	evalJS[chromedp.Void](t, tb, `console.log("harness says hello"), setTimeout(() => { throw new Error("harness boom") }), undefined`)
	var problems []string
	if !waitFor(5*time.Second, func() bool {
		problems = append(problems, b.takeProblems()...)
		return len(problems) > 0
	}) {
		t.Fatal("an uncaught exception in the page was not noticed")
	}
	if !strings.Contains(strings.Join(problems, "\n"), "harness boom") {
		t.Errorf("problems %q, want the uncaught \"harness boom\"", problems)
	}

	entries, err := os.ReadDir(shots.dir)
	if err != nil || len(entries) == 0 {
		t.Fatalf("no screenshot written in %s: %v", shots.dir, err)
	}
	png, err := os.ReadFile(filepath.Join(shots.dir, entries[0].Name()))
	if err != nil || !strings.HasPrefix(string(png), "\x89PNG") {
		t.Fatalf("screenshot %s is not a PNG: %v", entries[0].Name(), err)
	}
}

// TestBrowserFirstAdminLogin: the first admin logs in with the one-time
// password the first start printed, is sent to change it (settings,
// form#password-form) before anything else, changes it through the page,
// and reaches the inbox; the old password then fails and the new one works.
func TestBrowserFirstAdminLogin(t *testing.T) {
	srv := startServer(t, "")
	oneTime := adminPassword(t, srv)
	shots := newScreenshots(t)
	b := newBrowser(t, srv, shots, "admin")
	tb := b.main

	// Any page sends a visitor to the login page.
	tb.open(t, "/")
	tb.waitSelector(t, "form#login", browserStep)
	if p := tb.path(t); p != "/login" {
		t.Errorf("a visitor to / is at %s, want /login", p)
	}
	tb.shot(t, "login-page")

	// A wrong password says so on the page.
	tb.typeInto(t, "form#login input[name=name]", "admin")
	tb.typeInto(t, "form#login input[name=password]", "not-the-password")
	tb.click(t, "form#login button[type=submit]")
	tb.waitJS(t, "the login error", browserStep, `document.querySelector("p.form-error")?.textContent.trim()`)
	tb.shot(t, "wrong-password")

	// The one-time password works, and leads to the password change.
	if to := tb.login(t, "admin", oneTime); to != "/settings" {
		t.Errorf("after the first login the admin is at %s, want /settings (#password): the one-time password must be changed first", to)
	}
	tb.waitSelector(t, "form#password-form", browserStep)
	// Every other page also sends them back there until it is changed.
	tb.open(t, "/")
	tb.waitJS(t, "being sent back to the settings", browserStep, `location.pathname == "/settings"`)

	const newPassword = "Correct-Horse-Battery-42"
	tb.changePassword(t, oneTime, newPassword)
	// Changed, the inbox opens.
	tb.open(t, "/")
	tb.waitJS(t, "the inbox (no more redirect to settings)", browserStep, `location.pathname == "/" && document.querySelector("table#inbox-list")`)
	tb.shot(t, "inbox")
	tb.checkProblems(t)

	// Log out, then the old password fails and the new one works.
	tb.click(t, "#logout")
	tb.waitJS(t, "the login page after logging out", browserStep, `location.pathname == "/login"`)
	tb.open(t, "/")
	tb.waitJS(t, "the login page (logged out)", browserStep, `location.pathname == "/login"`)
	tb.typeInto(t, "form#login input[name=name]", "admin")
	tb.typeInto(t, "form#login input[name=password]", oneTime)
	tb.click(t, "form#login button[type=submit]")
	tb.waitJS(t, "the one-time password to be refused", browserStep, `document.querySelector("p.form-error")?.textContent.trim()`)
	if to := tb.login(t, "admin", newPassword); to != "/" {
		t.Errorf("after logging in with the new password the admin is at %s, want /", to)
	}
	tb.waitSelector(t, "table#inbox-list", browserStep)
	tb.checkProblems(t)

	// The session cookie is out of the page's reach and not sent cross-site.
	ctx, cancel := context.WithTimeout(tb.ctx, browserStep)
	defer cancel()
	cookies, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{})
	if err != nil {
		t.Fatal(err)
	}
	pageCookies := evalJS[string](t, tb, `document.cookie`)
	sessions := 0
	for _, c := range cookies.Cookies {
		t.Logf("cookie %s: HttpOnly %v, Secure %v, SameSite %q", c.Name, c.HTTPOnly, c.Secure, c.SameSite)
		if c.HTTPOnly {
			sessions++
			if c.SameSite != network.CookieSameSiteStrict && c.SameSite != network.CookieSameSiteLax {
				t.Errorf("cookie %s has SameSite %q, want Strict or Lax", c.Name, c.SameSite)
			}
		}
		if c.Value != "" && strings.Contains(pageCookies, c.Value) && len(c.Value) >= 16 {
			t.Errorf("the page's script can read cookie %s: a session cookie must be HttpOnly", c.Name)
		}
	}
	if sessions == 0 {
		t.Errorf("no HttpOnly cookie after logging in (cookies: %d): the session cookie must be HttpOnly", len(cookies.Cookies))
	}
}

// parseMessageID parses a data-id.
func parseMessageID(t *testing.T, s string) int64 {
	t.Helper()
	var id int64
	if _, err := fmt.Sscan(s, &id); err != nil || id <= 0 {
		t.Fatalf("data-id %q is not a message id", s)
	}
	return id
}
