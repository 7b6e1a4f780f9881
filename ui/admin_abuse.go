package ui

// The SIP sources the PBX's abuse guard has blocked (pbx/abuse.go), for
// the admin portal: list them and lift a block.

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/frontdesk-pbx/frontdesk/pbx"
)

// sipGuard is the part of the PBX that knows blocked sources; the dialer
// (the PBX) is one when it runs in this process.
type sipGuard interface {
	Blocked() []pbx.BlockedSource
	Unblock(ip string) error
}

// abuseRoutes registers the blocked-source API and its page.
func (s *Server) abuseRoutes() {
	s.admin.GET("/blocked", s.adminBlocked)
	s.admin.DELETE("/blocked/:ip", s.adminUnblock)
	s.web.GET("/admin/blocked", s.adminPage("admin_abuse"), s.requireAdmin)
}

func (s *Server) sipGuard() (sipGuard, bool) {
	g, ok := s.dialer.(sipGuard)
	return g, ok
}

func (s *Server) adminBlocked(c echo.Context) error {
	list := []pbx.BlockedSource{}
	if g, ok := s.sipGuard(); ok {
		list = g.Blocked()
	}
	return c.JSON(http.StatusOK, list)
}

func (s *Server) adminUnblock(c echo.Context) error {
	g, ok := s.sipGuard()
	if !ok {
		return jsonError(c, http.StatusNotFound, pbx.ErrNotBlocked.Error())
	}
	ip := c.Param("ip")
	err := g.Unblock(ip)
	if errors.Is(err, pbx.ErrNotBlocked) {
		return jsonError(c, http.StatusNotFound, err.Error())
	}
	if err != nil {
		return s.adminFail(c, "unblock", err)
	}
	s.audit(c, "sip.unblocked", "", ip)
	s.log.Info("SIP source unblocked by an admin", "source", ip, "user", currentUser(c).Name)
	return c.NoContent(http.StatusNoContent)
}
