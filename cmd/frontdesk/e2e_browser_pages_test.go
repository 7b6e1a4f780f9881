package main

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserPagesSmoke: the admin visits every page the site links to
// (from the header's navigation and the admin portal, two links deep) in a
// real browser. Each must answer 200 and render without an uncaught
// exception, a CSP violation, a 5xx from the API or a JavaScript value
// shown as text; each gets a screenshot, at desktop size and phone size.
func TestBrowserPagesSmoke(t *testing.T) {
	srv := startServer(t, "")
	oneTime := adminPassword(t, srv)
	// Something to show on the pages.
	runCLI(t, srv.DataDir, "ext", "add", "101", "--name", "Front desk", "--secret", "front-desk-secret-1")
	runCLI(t, srv.DataDir, "vm", "add", "600", "--name", "Sales", "--pin", vmPIN, "--members", "101")
	addWebUser(t, srv.DataDir, "alice", browserUserPassword, "600", "listen")
	shots := newScreenshots(t)
	b := newBrowser(t, srv, shots, "admin")
	tb := b.main
	tb.login(t, "admin", oneTime)
	tb.changePassword(t, oneTime, "Smoke-Test-Password-7")

	// The pages to visit: the header's links, then the links of each page
	// under /admin, breadth first.
	visited := map[string]bool{}
	queue := []string{"/"}
	const maxPages = 60
	for len(queue) > 0 && len(visited) < maxPages {
		path := queue[0]
		queue = queue[1:]
		if visited[path] {
			continue
		}
		visited[path] = true
		name := cmp.Or(strings.Trim(path, "/"), "inbox")
		t.Run(name, func(t *testing.T) {
			defer tb.checkProblems(t)
			ctx, cancel := context.WithTimeout(tb.ctx, browserStep)
			res, err := chromedp.Run(ctx, chromedp.NavigateResponse(srv.HTTPURL+path))
			cancel()
			if err != nil {
				tb.fail(t, fmt.Sprintf("opening %s: %v", path, err))
			}
			if res.Status != 200 {
				t.Errorf("GET %s: %d %s, want 200 (linked from the site)", path, res.Status, res.StatusText)
			}
			if got := tb.path(t); got != strings.SplitN(path, "?", 2)[0] {
				t.Errorf("opening %s ends at %s", path, got)
			}
			// Let the page's script load what it shows.
			tb.waitJS(t, "the page to settle", browserStep, `document.readyState == "complete"`)
			time.Sleep(700 * time.Millisecond)
			tb.shot(t, name)
			links := evalJS[[]string](t, tb, `[...document.querySelectorAll("a[href]")].map(a => a.getAttribute("href"))`)
			for _, l := range links {
				u, err := url.Parse(l)
				if err != nil || u.IsAbs() || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "/api/") ||
					strings.HasPrefix(u.Path, "/static/") || u.Path == "/logout" || u.Query().Has("download") {
					continue
				}
				// From the header everything; deeper, the admin portal only.
				if path == "/" || strings.HasPrefix(u.Path, "/admin") {
					p := u.Path
					if !visited[p] && !slices.Contains(queue, p) {
						queue = append(queue, p)
					}
				}
			}
			// On a phone the page fits the width.
			tb.do(t, "emulating a phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch))
			defer tb.do(t, "leaving the phone", chromedp.ResetViewport())
			time.Sleep(300 * time.Millisecond)
			if w := evalJS[[]int](t, tb, `[document.documentElement.scrollWidth, window.innerWidth]`); w[0] > w[1]+1 {
				t.Errorf("%s on a 390 px wide phone is %d px wide: it must fit (wide tables may scroll inside their own box)", path, w[0])
			}
			tb.shot(t, name+"-phone")
		})
	}
	pages := slices.Sorted(maps.Keys(visited))
	t.Logf("visited %d pages: %v", len(pages), pages)
	if !slices.ContainsFunc(pages, func(p string) bool { return strings.HasPrefix(p, "/admin") }) {
		t.Errorf("no admin page is linked from the header for an admin")
	}
}
