// Package ui is Frontdesk's HTTP side: the web server, its JSON API and the
// pages of the team inbox and admin portal, served from assets embedded in the
// binary. It also owns web accounts (password hashing, the first admin).
package ui

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/frontdesk-pbx/frontdesk/pbx"
	"github.com/frontdesk-pbx/frontdesk/store"
)

// Options are what the web side needs from the rest of the server.
type Options struct {
	DataDir string // messages/ and greetings/ live here
	// Wake nudges the email and notification senders after something was
	// queued for them (optional).
	Wake func()
	// Engine names the transcription engine for the status page.
	Engine string
	// TLSCert and TLSKey are PEM files; when both are set Run serves HTTPS.
	TLSCert, TLSKey string
	// Stats reports the SIP side's totals for /metrics (optional).
	Stats func() pbx.Stats
}

// Server is the HTTP server.
type Server struct {
	echo    *echo.Echo
	store   *store.Store
	log     *slog.Logger
	version string
	opts    Options
	ready   atomic.Bool
	dialer  Dialer
	pages   *pages
	auth    authSettings // login clock, failure delay and limits (auth.go)
	basic   basicCache   // recently verified HTTP Basic credentials (auth_basic.go)
	live    *liveHub     // event-stream connections and who views which message
	// httpStats feeds the HTTP latency histogram of /metrics.
	httpStats httpMetrics

	// Route groups: api needs a logged-in user (session or HTTP Basic),
	// admin an admin; web is the pages, which send visitors to /login.
	api, admin, web *echo.Group
}

// New builds the HTTP server and its routes.
func New(st *store.Store, log *slog.Logger, version string, opts Options) *Server {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	s := &Server{echo: e, store: st, log: log, version: version, opts: opts}
	s.pages = newPages()
	s.httpStats.series = map[[3]string]*httpSeries{}
	e.Use(s.measure, s.recoverPanics, s.securityHeaders)
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	s.api = e.Group("/api/v1", s.requireUser)
	s.admin = s.api.Group("/admin", s.requireAdmin)
	s.web = e.Group("", s.requireUser)
	s.api.POST("/click-to-call", s.clickToCall)
	s.authRoutes()    // auth.go: login, logout, sessions, password
	s.inboxRoutes()   // inbox_api.go: lists, messages, actions, audio, search, audit
	s.liveRoutes()    // live.go: server-sent events and presence
	s.notifyRoutes()  // notify_api.go: notification rules
	s.adminRoutes()   // admin_api.go: extensions, users, boxes, settings, status
	s.routingRoutes() // routing_api.go: groups, queues, attendants, trunks, numbers
	s.pageRoutes()    // pages.go: the HTML pages and static assets
	s.metricsRoutes() // metrics.go: Prometheus /metrics
	s.docRoutes()     // openapi.go: the API's OpenAPI document
	return s
}

// SetReady marks the whole server (SIP included) ready for /readyz and /healthz.
func (s *Server) SetReady() { s.ready.Store(true) }

// Run serves on addr until ctx ends, then shuts down gracefully.
func (s *Server) Run(ctx context.Context, addr string) error {
	var tlsConfig *tls.Config
	if s.opts.TLSCert != "" || s.opts.TLSKey != "" {
		// Load now, so a bad file is a clear error at start, not at first use.
		cert, err := tls.LoadX509KeyPair(s.opts.TLSCert, s.opts.TLSKey)
		if err != nil {
			return fmt.Errorf("TLS certificate and key (--tls-cert %q, --tls-key %q): %w", s.opts.TLSCert, s.opts.TLSKey, err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("http listen on %s: %w", addr, err)
	}
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	// Requests inherit ctx, so long-lived event streams end at shutdown
	// instead of holding it up.
	srv := &http.Server{Handler: s.echo, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	s.log.Info("HTTP listening", "address", ln.Addr().String(), "tls", tlsConfig != nil)
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

// recoverPanics turns a handler's panic into a 500 and a log line, so one bad
// request never takes the phone system down.
func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("HTTP handler panic", "path", c.Path(), "panic", fmt.Sprint(r))
				err = echo.NewHTTPError(http.StatusInternalServerError, "internal error")
			}
		}()
		return next(c)
	}
}

// Handler returns the HTTP handler (for tests).
func (s *Server) Handler() http.Handler { return s.echo }
