// Package ui is Frontdesk's HTTP side: the web server, its JSON API and the
// pages of the team inbox and admin portal, served from assets embedded in the
// binary. It also owns web accounts (password hashing, the first admin).
package ui

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/frontdesk-pbx/frontdesk/store"
)

// Server is the HTTP server.
type Server struct {
	echo    *echo.Echo
	store   *store.Store
	log     *slog.Logger
	version string
	ready   atomic.Bool
	dialer  Dialer
}

// New builds the HTTP server and its routes.
func New(st *store.Store, log *slog.Logger, version string) *Server {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	s := &Server{echo: e, store: st, log: log, version: version}
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/", s.index)
	e.POST("/api/v1/click-to-call", s.clickToCall)
	return s
}

// SetReady marks the whole server (SIP included) ready for /readyz and /healthz.
func (s *Server) SetReady() { s.ready.Store(true) }

// Run serves on addr until ctx ends, then shuts down gracefully.
func (s *Server) Run(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("http listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: s.echo, ReadHeaderTimeout: 10 * time.Second}
	s.log.Info("HTTP listening", "address", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http shutdown: %w", err)
	}
	return nil
}

// healthz answers 200 once the server has started its SIP and HTTP sides.
func (s *Server) healthz(c echo.Context) error {
	if !s.ready.Load() {
		return c.String(http.StatusServiceUnavailable, "starting\n")
	}
	return c.String(http.StatusOK, "ok\n")
}

// readyz also checks that the database answers.
func (s *Server) readyz(c echo.Context) error {
	if !s.ready.Load() {
		return c.String(http.StatusServiceUnavailable, "starting\n")
	}
	if _, err := s.store.Version(c.Request().Context()); err != nil {
		return c.String(http.StatusServiceUnavailable, "database: "+err.Error()+"\n")
	}
	return c.String(http.StatusOK, "ready\n")
}

func (s *Server) index(c echo.Context) error {
	return c.HTML(http.StatusOK, `<!doctype html><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Frontdesk</title><h1>Frontdesk</h1><p>Version `+s.version+`. The phone system is running.</p>`)
}
