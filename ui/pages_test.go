package ui

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/frontdesk-pbx/frontdesk/embed"
	"github.com/frontdesk-pbx/frontdesk/store"
	"github.com/frontdesk-pbx/frontdesk/store/secret"
)

// pagesFixture is a server over a real store with a member, and a member
// who still has to change their one-time password, each with a session.
type pagesFixture struct {
	srv            *httptest.Server
	member, forced string // session tokens
}

func newPagesFixture(t *testing.T) *pagesFixture {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	hash, err := secret.Hash("pages-test-password")
	if err != nil {
		t.Fatal(err)
	}
	f := &pagesFixture{}
	for _, u := range []struct {
		user  store.User
		token *string
	}{
		{store.User{Name: "mia"}, &f.member},
		{store.User{Name: "newbie", MustChangePassword: true}, &f.forced},
	} {
		u.user.PasswordHash = hash
		added, err := st.AddUser(ctx, u.user)
		if err != nil {
			t.Fatal(err)
		}
		if *u.token, _, err = st.CreateSession(ctx, added.ID, "127.0.0.1", "test", time.Now(), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	s := New(st, slog.New(slog.DiscardHandler), "test", Options{DataDir: t.TempDir()})
	f.srv = httptest.NewServer(s.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

// get fetches p with the session token (none if ""), without following redirects.
func (f *pagesFixture) get(t *testing.T, token, p string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.srv.URL+p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: token})
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(body)
}

func TestPagesRenderForUser(t *testing.T) {
	f := newPagesFixture(t)
	tests := []struct {
		path string
		want []string // pieces of the page the scripts and browser tests rely on
	}{
		{"/", []string{`<select id="box-filter"`, `data-view="unassigned"`, `data-view="mine"`, `data-view="open"`,
			`data-view="done"`, `data-view="trash"`, `<span class="count">`, `<form id="search-form"`, `<input id="search" name="q"`,
			`<table id="inbox-list"`, `<dialog id="help"`, `src="/static/inbox.js"`, `data-page="inbox"`}},
		{"/?view=done&q=invoice", []string{`<table id="inbox-list"`}},
		{"/messages/42", []string{`data-id="42"`, `<audio id="player" controls preload="metadata" src="/api/v1/messages/42/audio">`,
			`<div id="transcript"`, `id="status"`, `id="assignee"`, `<ul id="timeline"`, `id="viewers"`, `id="conversation"`,
			`id="history"`, `<select id="assign-to">`, `<select id="transfer-to">`, `<textarea id="note-text"`, `<input id="done-note"`,
			`<input id="forward-address"`, `href="/api/v1/messages/42/audio?download=1"`, `src="/static/message.js"`}},
		{"/audit", []string{`<form id="audit-filter"`, `<table id="audit-list"`, `<a id="audit-csv"`, `src="/static/audit.js"`}},
		{"/settings", []string{`id="password"`, `<form id="password-form"`, `<button type="button" id="logout-all"`,
			`<form id="notify-form"`, `<table id="notify-rules"`, `src="/static/settings.js"`}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			res, body := f.get(t, f.member, tt.path)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %d, want 200\n%s", tt.path, res.StatusCode, body)
			}
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("Content-Type %q, want text/html", ct)
			}
			for _, w := range append(tt.want, `<span class="who">mia</span>`, `id="logout"`) {
				if !strings.Contains(body, w) {
					t.Errorf("GET %s: page lacks %s", tt.path, w)
				}
			}
		})
	}
	for _, actions := range []string{"claim", "assign", "return", "progress", "done", "reopen", "note", "played", "unplayed",
		"forward", "callback", "transfer", "download", "trash", "restore", "purge"} {
		if _, body := f.get(t, f.member, "/messages/42"); !strings.Contains(body, `data-action="`+actions+`"`) {
			t.Errorf("message page lacks the %s action", actions)
		}
	}
}

func TestPagesRefuse(t *testing.T) {
	f := newPagesFixture(t)
	tests := []struct {
		name, token, path string
		code              int
		location          string // prefix of the redirect, if any
	}{
		{"not logged in", "", "/", http.StatusSeeOther, "/login?next="},
		{"not logged in, message", "", "/messages/1", http.StatusSeeOther, "/login?next="},
		{"not logged in, settings", "", "/settings", http.StatusSeeOther, "/login?next="},
		{"bad session", "forged", "/audit", http.StatusSeeOther, "/login?next="},
		{"message id not a number", f.member, "/messages/abc", http.StatusNotFound, ""},
		{"message id zero", f.member, "/messages/0", http.StatusNotFound, ""},
		{"must change password", f.forced, "/", http.StatusSeeOther, "/settings#password"},
		{"must change password, audit", f.forced, "/audit", http.StatusSeeOther, "/settings#password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, _ := f.get(t, tt.token, tt.path)
			if res.StatusCode != tt.code {
				t.Fatalf("GET %s: %d, want %d", tt.path, res.StatusCode, tt.code)
			}
			if loc := res.Header.Get("Location"); !strings.HasPrefix(loc, tt.location) {
				t.Errorf("GET %s: Location %q, want %s...", tt.path, loc, tt.location)
			}
		})
	}
	// The settings page itself says why the user is there.
	res, body := f.get(t, f.forced, "/settings")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /settings for a user who must change the password: %d", res.StatusCode)
	}
	if !strings.Contains(body, `<p id="must-change" class="notice" role="alert">`) {
		t.Error("settings page hides the must-change-password notice from a user who must change it")
	}
	if _, body := f.get(t, f.member, "/settings"); !strings.Contains(body, `id="must-change" class="notice" role="alert" hidden`) {
		t.Error("settings page shows the must-change-password notice to a user who needn't")
	}
}

func TestPagesStaticScripts(t *testing.T) {
	f := newPagesFixture(t)
	for _, name := range []string{"fd.js", "live.js", "inbox-common.js", "inbox.js", "message.js", "audit.js", "settings.js"} {
		res, body := f.get(t, "", "/static/"+name)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET /static/%s: %d", name, res.StatusCode)
			continue
		}
		// Module scripts load only with a JavaScript type (nosniff is on).
		if ct := res.Header.Get("Content-Type"); !strings.Contains(ct, "javascript") {
			t.Errorf("GET /static/%s: Content-Type %q", name, ct)
		}
		if !strings.Contains(body, "export") && !strings.Contains(body, "import") {
			t.Errorf("/static/%s doesn't look like an ES module", name)
		}
	}
	if res, _ := f.get(t, "", "/static/app.css"); !strings.HasPrefix(res.Header.Get("Content-Type"), "text/css") {
		t.Errorf("app.css Content-Type %q", res.Header.Get("Content-Type"))
	}
}

func TestPagesTemplatesParse(t *testing.T) {
	p := newPages() // panics on a template that doesn't parse
	u := store.User{ID: 1, Name: "mia"}
	data := map[string]any{"inbox": nil, "message": messagePageData{ID: 7}, "audit": nil, "settings": nil}
	for name, d := range data {
		tpl, ok := p.byName[name]
		if !ok {
			t.Errorf("no page template %q", name)
			continue
		}
		var buf bytes.Buffer
		if err := tpl.ExecuteTemplate(&buf, "layout", pageData{Page: name, User: &u, CSRF: "token", Version: "test", Data: d}); err != nil {
			t.Errorf("render %s: %v", name, err)
		}
	}
}

// webFiles returns the embedded web files whose names match glob.
func webFiles(t *testing.T, glob string) map[string]string {
	t.Helper()
	web := embed.Web()
	names, err := fs.Glob(web, glob)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, n := range names {
		b, err := fs.ReadFile(web, n)
		if err != nil {
			t.Fatal(err)
		}
		out[n] = string(b)
	}
	return out
}

// TestPagesFollowCSP checks every template and script against what the
// Content-Security-Policy blocks: inline scripts and event handlers, style
// attributes and elements, javascript: URLs and eval.
func TestPagesFollowCSP(t *testing.T) {
	htmlRules := []struct {
		what string
		re   *regexp.Regexp
	}{
		{"an inline event handler", regexp.MustCompile(`(?is)<[a-z][^>]*\son[a-z]+\s*=`)},
		{"a style attribute", regexp.MustCompile(`(?is)<[a-z][^>]*\sstyle\s*=`)},
		{"a <style> element", regexp.MustCompile(`(?i)<style[\s>]`)},
		{"a javascript: URL", regexp.MustCompile(`(?i)javascript:`)},
	}
	scriptTag := regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`)
	for name, text := range webFiles(t, "templates/*.html") {
		for _, r := range htmlRules {
			if m := r.re.FindString(text); m != "" {
				t.Errorf("%s has %s: %.80q", name, r.what, m)
			}
		}
		for _, m := range scriptTag.FindAllStringSubmatch(text, -1) {
			if strings.TrimSpace(m[2]) != "" || !strings.Contains(m[1], "src=") {
				t.Errorf("%s has an inline script: %.80q", name, m[0])
			}
		}
	}
	jsRules := []struct {
		what string
		re   *regexp.Regexp
	}{
		{"markup with an event handler", regexp.MustCompile(`(?i)<[a-z][^>]*\son[a-z]+\s*=`)},
		{"markup with a style attribute", regexp.MustCompile(`(?i)<[a-z][^>]*\sstyle\s*=`)},
		{"an event handler or style set as an attribute", regexp.MustCompile(`setAttribute\(\s*['"](on[a-z]+|style)['"]`)},
		{"a style attribute through el()", regexp.MustCompile(`[{,]\s*['"]?style['"]?\s*:`)},
		{"eval", regexp.MustCompile(`\beval\s*\(|new\s+Function\s*\(|set(Timeout|Interval)\(\s*['"]`)},
		{"a javascript: URL", regexp.MustCompile(`(?i)javascript:`)},
	}
	for name, text := range webFiles(t, "static/*.js") {
		for _, r := range jsRules {
			if m := r.re.FindString(text); m != "" {
				t.Errorf("%s has %s: %.80q", name, r.what, m)
			}
		}
	}
}

// TestPagesScriptsMatchTemplates checks, without a browser, that every
// module a page or script imports exists, and that every element a page
// script looks up by id is on its page.
func TestPagesScriptsMatchTemplates(t *testing.T) {
	static := webFiles(t, "static/*")
	templates := webFiles(t, "templates/*.html")
	importRe := regexp.MustCompile(`(?m)^\s*import\s[^'"]*['"]([^'"]+)['"]`)
	srcRe := regexp.MustCompile(`<script[^>]*\ssrc="([^"]+)"`)
	exists := func(ref string) bool {
		_, ok := static["static/"+strings.TrimPrefix(ref, "/static/")]
		return strings.HasPrefix(ref, "/static/") && ok
	}
	for name, text := range static {
		for _, m := range importRe.FindAllStringSubmatch(text, -1) {
			if !exists(m[1]) {
				t.Errorf("%s imports %s, which is not in static/", name, m[1])
			}
		}
	}
	for name, text := range templates {
		for _, m := range srcRe.FindAllStringSubmatch(text, -1) {
			if !exists(m[1]) {
				t.Errorf("%s loads %s, which is not in static/", name, m[1])
			}
		}
	}
	idRe := regexp.MustCompile(`getElementById\('([^']+)'\)`)
	layout := templates["templates/layout.html"]
	for _, page := range []string{"inbox", "message", "audit", "settings"} {
		script, html := static["static/"+page+".js"], templates["templates/"+page+".html"]
		for _, m := range idRe.FindAllStringSubmatch(script, -1) {
			id := `id="` + m[1] + `"`
			if !strings.Contains(html, id) && !strings.Contains(layout, id) {
				t.Errorf("%s.js looks up #%s, which %s.html lacks", page, m[1], page)
			}
		}
	}
}
