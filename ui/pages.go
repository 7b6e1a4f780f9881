package ui

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/frontdesk-pbx/frontdesk/embed"
	"github.com/frontdesk-pbx/frontdesk/store"
)

// pages renders the HTML pages: each templates/NAME.html defines "title",
// "content" and optionally "scripts", and is rendered inside
// templates/layout.html.
type pages struct {
	byName map[string]*template.Template
	static fs.FS
}

func newPages() *pages {
	web := embed.Web()
	layout := template.Must(template.ParseFS(web, "templates/layout.html"))
	names, err := fs.Glob(web, "templates/*.html")
	if err != nil {
		panic(err) // the pattern is fixed
	}
	p := &pages{byName: map[string]*template.Template{}}
	for _, n := range names {
		if n == "templates/layout.html" {
			continue
		}
		t := template.Must(template.Must(layout.Clone()).ParseFS(web, n))
		p.byName[n[len("templates/"):len(n)-len(".html")]] = t
	}
	p.static, err = fs.Sub(web, "static")
	if err != nil {
		panic(err)
	}
	return p
}

// pageData is what every page template gets.
type pageData struct {
	Page    string      // the page's name, also body[data-page]
	User    *store.User // nil on the login page
	CSRF    string
	Version string
	Data    any // the page's own data
}

// render writes page name with data, for the request's user.
func (s *Server) render(c echo.Context, code int, name string, data any) error {
	t, ok := s.pages.byName[name]
	if !ok {
		return fmt.Errorf("no page %q", name)
	}
	pd := pageData{Page: name, CSRF: csrfToken(c), Version: s.version, Data: data}
	if u := currentUser(c); u.ID != 0 {
		pd.User = &u
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", pd); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	return c.HTMLBlob(code, buf.Bytes())
}

// staticHandler serves the embedded scripts and styles.
func (s *Server) staticHandler() echo.HandlerFunc {
	files := http.FileServer(http.FS(s.pages.static))
	h := http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The assets, and no listing of them.
		if p := r.URL.Path; p == "" || p == "." || strings.HasSuffix(p, "/") {
			http.NotFound(w, r)
			return
		}
		files.ServeHTTP(w, r)
	}))
	return echo.WrapHandler(h)
}

// pageRoutes registers the pages. Each page is a server-rendered shell; its
// script (static/NAME.js) loads the data from /api/v1, so the API stays the
// one place where access is checked. (requireUser sends a user who must
// change their password to /settings#password first.)
func (s *Server) pageRoutes() {
	s.echo.GET("/static/*", s.staticHandler())
	s.web.GET("/", s.shellPage("inbox"))
	s.web.GET("/messages/:id", s.messagePage)
	s.web.GET("/audit", s.shellPage("audit"))
	s.web.GET("/settings", s.shellPage("settings"))
}

// shellPage renders a page that needs nothing but the user.
func (s *Server) shellPage(name string) echo.HandlerFunc {
	return func(c echo.Context) error {
		return s.render(c, http.StatusOK, name, nil)
	}
}

// messagePageData is the message page's own data.
type messagePageData struct {
	ID int64
}

// messagePage renders a message's shell; whether the user may see the
// message is the API's answer, shown by message.js.
func (s *Server) messagePage(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return echo.NewHTTPError(http.StatusNotFound, "no such message: a message id is a positive number")
	}
	return s.render(c, http.StatusOK, "message", messagePageData{ID: id})
}
