package ui

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// adminPageRoutes registers the admin portal's pages. Each is a shell the
// page's script (embed/web/static/admin_*.js) fills from the admin API.
func (s *Server) adminPageRoutes() {
	g := s.web.Group("/admin", s.requireAdmin)
	for path, page := range map[string]string{
		"":            "admin",
		"/extensions": "admin_extensions",
		"/users":      "admin_users",
		"/boxes":      "admin_boxes",
		"/smtp":       "admin_smtp",
	} {
		g.GET(path, s.adminPage(page))
	}
	g.GET("/boxes/:number", func(c echo.Context) error {
		return s.render(c, http.StatusOK, "admin_box", map[string]string{"Number": c.Param("number")})
	})
}

func (s *Server) adminPage(name string) echo.HandlerFunc {
	return func(c echo.Context) error { return s.render(c, http.StatusOK, name, nil) }
}
