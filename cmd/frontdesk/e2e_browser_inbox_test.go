package main

// The team inbox in two real browsers (see e2e_browser_test.go for the
// harness): Alice and Bob, members of shared box 600 with manage access,
// each in their own chromium. Real SIP calls (baresip) leave messages; each
// step works in Alice's browser and checks that Bob's sees the change live,
// without a reload. The steps: log in; a new message appears live in both
// inboxes; play it (range requests); who else is viewing; claim, assign,
// done with a note, reopen (Bob's message page and his inbox views follow);
// search by a transcript word (<mark>); transcript segments seek the audio;
// keyboard j/k/e/Enter in the inbox and a on a message; a phone-sized
// screen; trash, then purge from the trash view; the audit page. Steps run
// in order as subtests and share the message; a step that fails leaves
// the later ones to run where they can.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/frontdesk-pbx/frontdesk/store"
)

const browserUserPassword = "Inbox-Test-Password-1"

func TestBrowserTeamInbox(t *testing.T) {
	srv := startServer(t, "")
	shots := newScreenshots(t)
	runCLI(t, srv.DataDir, "ext", "add", "101", "--name", "Carol Caller", "--secret", "carol-secret-1", "--no-voicemail")
	runCLI(t, srv.DataDir, "ext", "add", "102", "--name", "Dave Caller", "--secret", "dave-secret-22", "--no-voicemail")
	runCLI(t, srv.DataDir, "vm", "add", "600", "--name", "Sales", "--pin", vmPIN)
	vmSetShortGreeting(t, srv.DataDir, "600")
	addWebUser(t, srv.DataDir, "alice", browserUserPassword, "600", "manage")
	addWebUser(t, srv.DataDir, "bob", browserUserPassword, "600", "manage")

	carol := startBaresip(t, phoneConfig{Name: "carol", User: "101", Password: "carol-secret-1", Registrar: srv.SIPAddr, ToneHz: aliceToneHz})
	dave := startBaresip(t, phoneConfig{Name: "dave", User: "102", Password: "dave-secret-22", Registrar: srv.SIPAddr, ToneHz: bobToneHz})
	carol.WaitRegistered()
	dave.WaitRegistered()

	alice := newBrowser(t, srv, shots, "alice")
	bob := newBrowser(t, srv, shots, "bob")
	browsers := []*browser{alice, bob}
	A, B := alice.main, bob.main
	var bobInbox *tab // Bob's second tab, on the inbox, from the workflow step on

	// step runs one step as a subtest, then fails it for any uncaught
	// exception, CSP violation or 5xx answer the browsers saw meanwhile.
	step := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			defer func() {
				for _, b := range browsers {
					for _, p := range b.takeProblems() {
						t.Errorf("browser %s: %s", b.name, p)
					}
				}
			}()
			f(t)
		})
	}
	var msgID int64 // Carol's message, from the deposit step on
	needMessage := func(t *testing.T) string {
		t.Helper()
		if msgID == 0 {
			t.Fatal("no message to work on: the step that receives it failed")
		}
		return fmt.Sprint(msgID)
	}
	row := func(id string) string { return fmt.Sprintf(`table#inbox-list tbody tr[data-id="%s"]`, id) }
	rows := `table#inbox-list tbody tr[data-id]`
	// viewOf is the inbox view that lists message id now (by its status).
	viewOf := func(t *testing.T, id int64) string {
		for _, m := range boxMessages(t, srv.DataDir, "600") {
			if m.ID == id && m.Status == "done" {
				return "done"
			}
		}
		return "open"
	}

	step("log in", func(t *testing.T) {
		for _, b := range browsers {
			if to := b.main.login(t, b.name, browserUserPassword); to != "/" {
				t.Errorf("%s is at %s after logging in, want the inbox /", b.name, to)
			}
		}
	})

	step("inbox open in both browsers", func(t *testing.T) {
		for _, tb := range []*tab{A, B} {
			tb.open(t, "/")
			tb.waitSelector(t, "table#inbox-list", browserStep)
			tb.waitSelector(t, `a[data-view="unassigned"]`, browserStep)
			tb.waitSelector(t, "form#search-form input#search", browserStep)
			if n := evalJS[int](t, tb, fmt.Sprintf(`document.querySelectorAll(%s).length`, jsString(rows))); n != 0 {
				t.Errorf("%s: the inbox lists %d messages before any call", tb.name, n)
			}
			// Gone if the page reloads: the message must come live.
			evalJS[chromedp.Void](t, tb, `window.__fdNoReload = true, undefined`)
			tb.shot(t, "inbox-empty")
		}
	})

	step("a message left by a SIP call appears live in both browsers", func(t *testing.T) {
		vmLeaveMessage(carol, "sip:600@"+srv.SIPAddr, 2*time.Second)
		hungUp := time.Now()
		for _, tb := range []*tab{A, B} {
			tb.waitSelector(t, rows, 20*time.Second)
			t.Logf("%s: the message showed %v after the caller hung up", tb.name, time.Since(hungUp).Round(10*time.Millisecond))
			if !evalJS[bool](t, tb, `window.__fdNoReload === true`) {
				t.Errorf("%s: the page reloaded to show the message; it must come live (server-sent events)", tb.name)
			}
			tb.shot(t, "new-message")
		}
		msgs := vmWaitMessages(t, srv.DataDir, "600", 1)
		msgID = msgs[0].ID
		id := fmt.Sprint(msgID)
		for _, tb := range []*tab{A, B} {
			tb.waitSelector(t, row(id), browserStep)
			cells := evalJS[map[string]string](t, tb, fmt.Sprintf(`(() => {
				const r = document.querySelector(%s), c = s => (r.querySelector(s)?.textContent ?? "<missing>").trim();
				return {caller: c("td.caller"), box: c("td.box"), time: c("td.time"), duration: c("td.duration"),
					status: c("td.status"), assignee: c("td.assignee"), unplayed: String(r.classList.contains("unplayed"))};
			})()`, jsString(row(id))))
			t.Logf("%s: row %s: %v", tb.name, id, cells)
			if !strings.Contains(cells["caller"], "101") && !strings.Contains(cells["caller"], "Carol") {
				t.Errorf("%s: td.caller %q, want Carol Caller / 101", tb.name, cells["caller"])
			}
			if !strings.Contains(cells["box"], "600") && !strings.Contains(cells["box"], "Sales") {
				t.Errorf("%s: td.box %q, want Sales / 600", tb.name, cells["box"])
			}
			for _, c := range []string{"time", "duration", "status", "assignee"} {
				if cells[c] == "<missing>" {
					t.Errorf("%s: the row has no td.%s", tb.name, c)
				}
			}
			if cells["unplayed"] != "true" {
				t.Errorf("%s: a new message's row lacks the class unplayed", tb.name)
			}
			// The view's count follows live too.
			tb.waitJS(t, "Unassigned's count to say 1", browserLive,
				`document.querySelector('a[data-view="unassigned"] span.count').textContent.trim() == "1"`)
		}
	})

	step("open and play it through range requests", func(t *testing.T) {
		id := needMessage(t)
		A.click(t, row(id))
		A.waitJS(t, "the message page", browserStep, fmt.Sprintf(`location.pathname == "/messages/%s"`, id))
		A.waitSelector(t, "audio#player", browserStep)
		A.shot(t, "message-page")
		if src := evalJS[string](t, A, `new URL(document.querySelector("audio#player").currentSrc || document.querySelector("audio#player").src).pathname`); src != "/api/v1/messages/"+id+"/audio" {
			t.Errorf("audio#player plays %s, want /api/v1/messages/%s/audio", src, id)
		}
		if res := evalJS[string](t, A, `document.querySelector("audio#player").play().then(() => "playing", e => "play() failed: " + e)`); res != "playing" {
			A.fail(t, res)
		}
		A.waitJS(t, "the audio to load and play", browserStep,
			`(p => p.readyState >= 1 && p.duration > 0 && p.currentTime > 0)(document.querySelector("audio#player"))`)
		dur := evalJS[float64](t, A, `document.querySelector("audio#player").duration`)
		for _, m := range boxMessages(t, srv.DataDir, "600") {
			if fmt.Sprint(m.ID) == id {
				if d := dur - m.Duration; d < -0.3 || d > 0.3 {
					t.Errorf("the player says the message lasts %.2f s, the server %.2f s", dur, m.Duration)
				}
			}
		}
		A.shot(t, "playing")
		// The media element fetched the audio with ranges: some answer was
		// 206 Partial Content.
		var got []string
		partial := false
		for _, r := range A.audioResponses() {
			got = append(got, fmt.Sprintf("%d %s %q (Range %q)", r.Status, r.URL, r.ContentRange, r.Range))
			if strings.HasPrefix(r.URL, "/api/v1/messages/"+id+"/audio") && r.Status == 206 && strings.HasPrefix(r.ContentRange, "bytes ") {
				partial = true
			}
		}
		if !partial {
			t.Errorf("no 206 Partial Content among the player's audio responses %q: the audio must be served with HTTP ranges (phone browsers need them)", got)
		}
		// A range request from the page, with its session.
		rr := evalJS[map[string]any](t, A, fmt.Sprintf(`fetch("/api/v1/messages/%s/audio", {headers: {Range: "bytes=0-99"}}).then(async r => {
			const b = new Uint8Array(await r.arrayBuffer());
			return {status: r.status, range: r.headers.get("Content-Range"), type: r.headers.get("Content-Type"),
				length: b.length, magic: String.fromCharCode(...b.slice(0, 4))};
		})`, id))
		t.Logf("Range: bytes=0-99 -> %v", rr)
		if rr["status"] != float64(206) || !strings.HasPrefix(fmt.Sprint(rr["range"]), "bytes 0-99/") || rr["length"] != float64(100) || rr["magic"] != "RIFF" {
			t.Errorf("GET audio with Range: bytes=0-99 answered %v, want 206, Content-Range bytes 0-99/SIZE and the first 100 bytes of a WAV", rr)
		}
	})

	step("who else is viewing", func(t *testing.T) {
		id := needMessage(t)
		if A.path(t) != "/messages/"+id {
			A.open(t, "/messages/"+id)
		}
		B.open(t, "/messages/"+id)
		A.waitText(t, "#viewers", "bob", browserLive)
		B.waitText(t, "#viewers", "alice", browserLive)
		A.shot(t, "viewers")
		B.shot(t, "viewers")
	})

	step("claim, assign, done, reopen: live in the other browser", func(t *testing.T) {
		id := needMessage(t)
		if A.path(t) != "/messages/"+id {
			A.open(t, "/messages/"+id)
		}
		if B.path(t) != "/messages/"+id {
			B.open(t, "/messages/"+id)
		}
		bobInbox = bob.NewTab(t, "inbox")
		bobInbox.open(t, "/?view=unassigned")
		bobInbox.waitSelector(t, row(id), browserStep)
		// Alice played it: the same state for everyone.
		bobInbox.waitJS(t, "the played message's row without the class unplayed", browserLive,
			fmt.Sprintf(`!document.querySelector(%s).classList.contains("unplayed")`, jsString(row(id))))
		// Bob's pages must change live, never by reloading: noReload marks
		// a page, stillLoaded checks the mark (a view switch is Bob's own
		// click, and may load a page).
		noReload := func(tb *tab) { evalJS[chromedp.Void](t, tb, `window.__fdNoReload = true, undefined`) }
		stillLoaded := func(tb *tab, what string) {
			t.Helper()
			if !evalJS[bool](t, tb, `window.__fdNoReload === true`) {
				t.Errorf("%s: the page reloaded to show %s; it must come live", tb.name, what)
			}
		}
		noReload(B)
		noReload(bobInbox)
		var clicked time.Time
		took := func(what string) {
			t.Logf("%s showed in Bob's browser %v after Alice's click", what, time.Since(clicked).Round(10*time.Millisecond))
		}

		// Claim: Alice's; it leaves Bob's Unassigned view.
		clicked = time.Now()
		A.click(t, `button[data-action="claim"]`)
		B.waitText(t, "#assignee", "alice", browserLive)
		took("the claim")
		A.waitText(t, "#assignee", "alice", browserStep)
		bobInbox.waitGone(t, row(id), browserLive)
		stillLoaded(bobInbox, "the claim")
		A.shot(t, "claimed")
		B.shot(t, "claimed")
		bobInbox.shot(t, "unassigned-after-claim")

		// Assign to Bob: it comes into Bob's Mine view.
		bobInbox.click(t, `a[data-view="mine"]`)
		bobInbox.waitJS(t, "the Mine view", browserStep, `document.readyState == "complete" && document.querySelector("table#inbox-list")`)
		time.Sleep(300 * time.Millisecond) // the view's list loads
		if evalJS[bool](t, bobInbox, fmt.Sprintf(`!!document.querySelector(%s)`, jsString(row(id)))) {
			t.Errorf("Bob's Mine view lists the message Alice claimed")
		}
		noReload(bobInbox)
		A.selectOption(t, "select#assign-to", "bob")
		clicked = time.Now()
		A.click(t, `button[data-action="assign"]`)
		B.waitText(t, "#assignee", "bob", browserLive)
		took("the assignment")
		A.waitText(t, "#assignee", "bob", browserStep)
		bobInbox.waitSelector(t, row(id), browserLive)
		stillLoaded(bobInbox, "the assignment")
		A.shot(t, "assigned-to-bob")
		B.shot(t, "assigned-to-bob")
		bobInbox.shot(t, "mine-after-assign")

		// Done, with a note: it comes into Bob's Done view.
		bobInbox.click(t, `a[data-view="done"]`)
		bobInbox.waitJS(t, "the Done view", browserStep, `document.readyState == "complete" && document.querySelector("table#inbox-list")`)
		time.Sleep(300 * time.Millisecond)
		noReload(bobInbox)
		A.typeInto(t, "input#done-note", "Called back, all sorted")
		clicked = time.Now()
		A.click(t, `button[data-action="done"]`)
		B.waitText(t, "#status", "done", browserLive)
		took("done")
		A.waitText(t, "#status", "done", browserStep)
		bobInbox.waitSelector(t, row(id), browserLive)
		stillLoaded(bobInbox, "the message done")
		A.waitText(t, "ul#timeline", "all sorted", browserStep)
		A.shot(t, "done")
		B.shot(t, "done")
		bobInbox.shot(t, "done-view-after-done")

		// Reopen: it leaves the Done view.
		clicked = time.Now()
		A.click(t, `button[data-action="reopen"]`)
		B.waitJS(t, "#status to leave done", browserLive, `!document.querySelector("#status").textContent.toLowerCase().includes("done")`)
		took("the reopen")
		A.waitJS(t, "#status to leave done", browserStep, `!document.querySelector("#status").textContent.toLowerCase().includes("done")`)
		bobInbox.waitGone(t, row(id), browserLive)
		stillLoaded(bobInbox, "the message reopened")
		stillLoaded(B, "claim, assignment, done and reopen")
		A.shot(t, "reopened")
		B.shot(t, "reopened")
		bobInbox.shot(t, "done-view-after-reopen")

		items := evalJS[[]string](t, A, `[...document.querySelectorAll("ul#timeline li")].map(li => li.textContent.trim().replace(/\s+/g, " "))`)
		t.Logf("timeline: %q", items)
		if len(items) < 4 {
			t.Errorf("the timeline has %d entries after claim, assign, done and reopen, want at least 4: %q", len(items), items)
		}
	})

	step("search by a transcript word", func(t *testing.T) {
		id := needMessage(t)
		// The default build has no transcription engine: the test gives the
		// message a transcript itself, through the store on the server's
		// data directory. The database is in WAL mode, so a second process
		// may write while the server runs; the server reads it at once.
		ctx := context.Background()
		st, err := store.Open(ctx, srv.DataDir)
		if err != nil {
			t.Fatal(err)
		}
		err = st.SaveTranscript(ctx, store.Transcript{MessageID: msgID, Language: "en", Model: "test",
			Text: "Hello, please call me back about the pineapple invoice.",
			Segments: []store.TextSpan{
				{StartMS: 0, EndMS: 1500, Text: "Hello, please call me back"},
				{StartMS: 1500, EndMS: 3000, Text: "about the pineapple invoice."},
			}})
		if cerr := st.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}

		A.open(t, "/?view="+viewOf(t, msgID))
		A.waitSelector(t, row(id), browserStep)
		A.typeInto(t, "input#search", "zebra")
		A.click(t, `form#search-form button[type="submit"]`)
		A.waitGone(t, row(id), browserStep)
		time.Sleep(500 * time.Millisecond) // a search that reloads the page settles
		A.waitGone(t, row(id), browserStep)
		A.shot(t, "search-no-match")
		A.typeInto(t, "input#search", "pineapple")
		A.click(t, `form#search-form button[type="submit"]`)
		A.waitSelector(t, row(id)+" td.first-line mark", browserStep)
		marks := evalJS[[]string](t, A, fmt.Sprintf(`[...document.querySelectorAll(%s)].map(m => m.textContent)`, jsString(row(id)+" td.first-line mark")))
		if len(marks) == 0 || !strings.EqualFold(strings.TrimSpace(marks[0]), "pineapple") {
			t.Errorf("the match is marked %q, want <mark>pineapple</mark>", marks)
		}
		if line := A.text(t, row(id)+" td.first-line"); !strings.Contains(strings.ToLower(line), "pineapple") {
			t.Errorf("td.first-line says %q, want the transcript's words around pineapple", line)
		}
		A.shot(t, "search-pineapple")
	})

	step("transcript segments seek the audio", func(t *testing.T) {
		id := needMessage(t)
		A.open(t, "/messages/"+id)
		A.waitSelector(t, "div#transcript span.segment[data-start-ms][data-end-ms]", browserStep)
		segs := evalJS[[]string](t, A, `[...document.querySelectorAll("div#transcript span.segment")].map(s => s.dataset.startMs + "-" + s.dataset.endMs + " " + s.textContent.trim())`)
		if len(segs) != 2 || !strings.HasPrefix(segs[1], "1500-3000 ") {
			t.Errorf("transcript segments %q, want 0-1500 and 1500-3000", segs)
		}
		A.waitJS(t, "the audio metadata", browserStep, `document.querySelector("audio#player").readyState >= 1`)
		A.click(t, `div#transcript span.segment[data-start-ms="1500"]`)
		A.waitJS(t, "the player at 1.5 s", browserStep, `(p => p.currentTime >= 1.4 && p.currentTime < 3.1)(document.querySelector("audio#player"))`)
		A.waitJS(t, "the segment being played to be highlighted", browserStep,
			`document.querySelector("div#transcript span.segment.current")?.dataset.startMs == "1500"`)
		A.shot(t, "segment-seek")
	})

	step("keyboard j k e and Enter in the inbox", func(t *testing.T) {
		needMessage(t)
		A.open(t, "/?view=open")
		A.waitSelector(t, "table#inbox-list", browserStep)
		before := len(boxMessages(t, srv.DataDir, "600"))
		vmLeaveMessage(dave, "sip:600@"+srv.SIPAddr, 2*time.Second)
		second := vmWaitMessages(t, srv.DataDir, "600", before+1)
		var daveID int64
		for _, m := range second {
			if m.CallerNumber == "102" {
				daveID = m.ID
			}
		}
		A.waitSelector(t, row(fmt.Sprint(daveID)), 20*time.Second)
		n := evalJS[int](t, A, fmt.Sprintf(`document.querySelectorAll(%s).length`, jsString(rows)))
		if n < 2 {
			A.fail(t, fmt.Sprintf("the All open view lists %d messages, want 2 for j/k", n))
		}
		selected := fmt.Sprintf(`[...document.querySelectorAll(%s)].findIndex(r => r.classList.contains("selected"))`, jsString(rows))
		A.key(t, "j")
		A.waitJS(t, "a row selected (tr.selected) after j", browserStep, selected+" >= 0")
		first := evalJS[int](t, A, selected)
		want := min(first+1, n-1)
		A.key(t, "j")
		A.waitJS(t, fmt.Sprintf("row %d selected after j", want), browserStep, fmt.Sprintf("%s == %d", selected, want))
		A.shot(t, "j")
		A.key(t, "k")
		A.waitJS(t, fmt.Sprintf("row %d selected after k", want-1), browserStep, fmt.Sprintf("%s == %d", selected, want-1))
		A.shot(t, "k")
		selectedID := fmt.Sprintf(`document.querySelectorAll(%s)[%s].dataset.id`, jsString(rows), selected)
		target := evalJS[string](t, A, selectedID)
		if target == fmt.Sprint(daveID) {
			// Keep Dave's message open for a below: e closes Carol's.
			A.key(t, "j")
			A.waitJS(t, "the next row selected after j", browserStep, fmt.Sprintf(`%s != %s`, selectedID, jsString(target)))
			target = evalJS[string](t, A, selectedID)
		}
		targetID := parseMessageID(t, target)
		A.key(t, "e")
		if !waitFor(browserStep, func() bool {
			for _, m := range boxMessages(t, srv.DataDir, "600") {
				if m.ID == targetID {
					return m.Status == "done"
				}
			}
			return false
		}) {
			A.fail(t, fmt.Sprintf("e did not mark the selected message %d done", targetID))
		}
		A.waitJS(t, "the done message to leave the All open view", browserLive,
			fmt.Sprintf(`!document.querySelector(%s) || document.querySelector(%s).textContent.toLowerCase().includes("done")`,
				jsString(row(target)), jsString(row(target)+" td.status")))
		A.shot(t, "e")
		// Enter opens the selected message.
		if evalJS[int](t, A, selected) < 0 {
			A.key(t, "j")
			A.waitJS(t, "a row selected after j", browserStep, selected+" >= 0")
		}
		open := evalJS[string](t, A, fmt.Sprintf(`document.querySelectorAll(%s)[%s].dataset.id`, jsString(rows), selected))
		A.key(t, "\r")
		A.waitJS(t, "Enter to open the selected message", browserStep, fmt.Sprintf(`location.pathname == "/messages/%s"`, open))
		A.shot(t, "enter")

		// On a message page, a claims the open unassigned message, Dave's.
		A.open(t, fmt.Sprintf("/messages/%d", daveID))
		A.waitSelector(t, `button[data-action="claim"]`, browserStep)
		A.waitJS(t, "the message's actions", browserStep, `document.querySelector("#assignee").textContent.trim() != ""`)
		A.key(t, "a")
		A.waitText(t, "#assignee", "alice", browserStep)
		A.shot(t, "a-claims")
	})

	step("a phone-sized screen", func(t *testing.T) {
		id := needMessage(t)
		phone := bob.NewTab(t, "phone")
		phone.do(t, "emulating a phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch))
		for _, path := range []string{"/?view=open", "/messages/" + id} {
			phone.open(t, path)
			phone.waitJS(t, "the page's content", browserStep, `document.querySelector("table#inbox-list tbody tr[data-id], audio#player")`)
			time.Sleep(300 * time.Millisecond) // the page renders what it loaded
			// Nothing may need sideways scrolling on a phone.
			if w := evalJS[[]int](t, phone, `[document.documentElement.scrollWidth, window.innerWidth]`); w[0] > w[1]+1 {
				t.Errorf("%s on a 390 px wide phone is %d px wide: the page must fit a phone's width", path, w[0])
			}
			phone.shot(t, strings.Trim(path, "/?="))
		}
		phone.waitJS(t, "the player on the phone", browserStep, `(r => r.width > 0 && r.right <= window.innerWidth + 1)(document.querySelector("audio#player").getBoundingClientRect())`)
	})

	step("delete to the trash, then purge from the trash", func(t *testing.T) {
		id := needMessage(t)
		if bobInbox == nil {
			bobInbox = bob.NewTab(t, "inbox")
		}
		bobInbox.open(t, "/?view="+viewOf(t, msgID))
		bobInbox.waitSelector(t, row(id), browserStep)

		A.open(t, "/messages/"+id)
		A.click(t, `button[data-action="trash"]`)
		bobInbox.waitGone(t, row(id), browserLive)
		bobInbox.shot(t, "after-trash")
		A.open(t, "/")
		A.click(t, `a[data-view="trash"]`)
		A.waitSelector(t, row(id), browserStep)
		A.shot(t, "trash-view")

		A.click(t, row(id))
		A.waitJS(t, "the trashed message's page", browserStep, fmt.Sprintf(`location.pathname == "/messages/%s"`, id))
		A.waitSelector(t, `button[data-action="restore"]`, browserStep)
		A.shot(t, "trashed-message")
		wavsBefore, _ := messageFiles(t, srv.DataDir)
		A.click(t, `button[data-action="purge"]`)
		if !waitFor(browserStep, func() bool {
			for _, m := range boxMessages(t, srv.DataDir, "600") {
				if m.ID == msgID {
					return false
				}
			}
			return true
		}) {
			A.fail(t, "the message is still stored after Delete forever")
		}
		// The page may leave the purged message by itself.
		waitFor(3*time.Second, func() bool {
			return evalJS[string](t, A, `document.readyState + " " + location.pathname`) != "complete /messages/"+id
		})
		A.shot(t, "after-purge")
		A.open(t, "/?view=trash")
		A.waitSelector(t, "table#inbox-list", browserStep)
		time.Sleep(500 * time.Millisecond) // the list loads
		if evalJS[bool](t, A, fmt.Sprintf(`!!document.querySelector(%s)`, jsString(row(id)))) {
			t.Errorf("the purged message is still listed in the trash")
		}
		A.shot(t, "trash-after-purge")
		// Its audio is gone from the disk too.
		wavsAfter, _ := messageFiles(t, srv.DataDir)
		if len(wavsAfter) != len(wavsBefore)-1 {
			t.Errorf("%d audio files before the purge, %d after: want one fewer", len(wavsBefore), len(wavsAfter))
		}
	})

	step("the audit page shows the trash and the purge", func(t *testing.T) {
		needMessage(t)
		A.open(t, "/audit")
		A.waitSelector(t, "table#audit-list", browserStep)
		A.waitSelector(t, "form#audit-filter", browserStep)
		A.waitSelector(t, "a#audit-csv", browserStep)
		A.waitText(t, "table#audit-list", "message.trashed", browserStep)
		A.waitText(t, "table#audit-list", "message.purged", browserStep)
		A.shot(t, "audit")
	})
}
