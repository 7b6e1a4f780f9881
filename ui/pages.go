package ui

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"

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
	h := http.StripPrefix("/static/", http.FileServer(http.FS(s.pages.static)))
	return echo.WrapHandler(h)
}

// pageRoutes registers the pages. (Being written.)
func (s *Server) pageRoutes() {
	s.echo.GET("/static/*", s.staticHandler())
}
