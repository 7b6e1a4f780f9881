package ui

// Prometheus metrics in the text exposition format: the SIP side's totals,
// the inbox and transcription queues from the store, and HTTP latency.
// /metrics answers scrapers on this machine; others use
// /api/v1/admin/metrics with an admin's credentials.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// latencyBuckets are the HTTP histogram's upper bounds in seconds.
var latencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// httpSeries is one label set's histogram.
type httpSeries struct {
	counts []uint64 // per bucket, not cumulative
	count  uint64
	sum    float64
}

// httpMetrics records request latency by method, route pattern and status.
type httpMetrics struct {
	mu     sync.Mutex
	series map[[3]string]*httpSeries
}

func (m *httpMetrics) observe(method, route string, code int, d time.Duration) {
	key := [3]string{method, route, strconv.Itoa(code)}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.series[key]
	if s == nil {
		s = &httpSeries{counts: make([]uint64, len(latencyBuckets))}
		m.series[key] = s
	}
	sec := d.Seconds()
	for i, b := range latencyBuckets {
		if sec <= b {
			s.counts[i]++
			break
		}
	}
	s.count++
	s.sum += sec
}

// measure is the middleware feeding httpMetrics. Routes, not raw paths,
// label the series, so ids in URLs can't blow up the series count.
func (s *Server) measure(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		began := time.Now()
		err := next(c)
		code := c.Response().Status
		if he, ok := err.(*echo.HTTPError); ok && !c.Response().Committed {
			code = he.Code
		}
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		s.httpStats.observe(c.Request().Method, route, code, time.Since(began))
		return err
	}
}

// metricsRoutes registers /metrics and its admin twin.
func (s *Server) metricsRoutes() {
	s.echo.GET("/metrics", func(c echo.Context) error {
		if ip := net.ParseIP(c.RealIP()); ip == nil || !ip.IsLoopback() || c.Request().Header.Get("X-Forwarded-For") != "" {
			return jsonError(c, http.StatusForbidden, "/metrics answers only on this machine; from elsewhere scrape /api/v1/admin/metrics with an admin's user name and password")
		}
		return s.metrics(c)
	})
	s.admin.GET("/metrics", s.metrics)
}

func (s *Server) metrics(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderContentType, "text/plain; version=0.0.4; charset=utf-8")
	c.Response().WriteHeader(http.StatusOK)
	return s.writeMetrics(c.Request().Context(), c.Response())
}

// promWriter writes metric families, remembering the first error.
type promWriter struct {
	w   io.Writer
	err error
}

func (p *promWriter) family(name, kind, help string) {
	p.printf("# HELP %s %s\n# TYPE %s %s\n", name, help, name, kind)
}

func (p *promWriter) sample(name, labels string, v float64) {
	if labels != "" {
		labels = "{" + labels + "}"
	}
	p.printf("%s%s %s\n", name, labels, strconv.FormatFloat(v, 'g', -1, 64))
}

func (p *promWriter) printf(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

// label quotes a label value.
func label(name, value string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return name + `="` + r.Replace(value) + `"`
}

func (s *Server) writeMetrics(ctx context.Context, w io.Writer) error {
	p := &promWriter{w: w}
	if s.opts.Stats != nil {
		st := s.opts.Stats()
		p.family("frontdesk_sip_registers_total", "counter", "REGISTER requests by outcome.")
		p.sample("frontdesk_sip_registers_total", label("result", "ok"), float64(st.RegistersOK))
		p.sample("frontdesk_sip_registers_total", label("result", "rejected"), float64(st.RegistersRejected))
		p.sample("frontdesk_sip_registers_total", label("result", "overload"), float64(st.RegistersOverload))
		p.family("frontdesk_calls_total", "counter", "Calls started.")
		p.sample("frontdesk_calls_total", "", float64(st.CallsTotal))
		p.family("frontdesk_calls_active", "gauge", "Calls in progress.")
		p.sample("frontdesk_calls_active", "", float64(st.CallsActive))
		p.family("frontdesk_voicemail_deposits_total", "counter", "Voicemail recordings by outcome.")
		p.sample("frontdesk_voicemail_deposits_total", label("result", "saved"), float64(st.DepositsSaved))
		p.sample("frontdesk_voicemail_deposits_total", label("result", "failed"), float64(st.DepositsFailed))
		p.family("frontdesk_voicemail_rtp_packets_expected_total", "counter", "RTP packets callers sent while leaving messages.")
		p.sample("frontdesk_voicemail_rtp_packets_expected_total", "", float64(st.RTPExpected))
		p.family("frontdesk_voicemail_rtp_packets_lost_total", "counter", "RTP packets lost while leaving messages.")
		p.sample("frontdesk_voicemail_rtp_packets_lost_total", "", float64(st.RTPExpected-min(st.RTPReceived, st.RTPExpected)))
		p.family("frontdesk_sip_sources_blocked_total", "counter", "SIP sources blocked for repeated failures.")
		p.sample("frontdesk_sip_sources_blocked_total", "", float64(st.SourcesBlocked))
		p.family("frontdesk_sip_requests_refused_total", "counter", "SIP requests dropped from blocked sources or over a source's rate limit.")
		p.sample("frontdesk_sip_requests_refused_total", label("reason", "blocked"), float64(st.RequestsDropped))
		p.sample("frontdesk_sip_requests_refused_total", label("reason", "rate"), float64(st.RequestsLimited))
	}
	if devices, err := s.store.RegisteredCounts(ctx, time.Now()); err == nil {
		n := 0
		for _, c := range devices {
			n += c
		}
		p.family("frontdesk_registered_devices", "gauge", "Devices registered now.")
		p.sample("frontdesk_registered_devices", "", float64(n))
	}
	if jobs, err := s.store.JobCounts(ctx); err == nil {
		p.family("frontdesk_transcription_jobs", "gauge", "Transcription jobs by state.")
		states := make([]string, 0, len(jobs))
		for k := range jobs {
			states = append(states, k)
		}
		sort.Strings(states)
		for _, k := range states {
			p.sample("frontdesk_transcription_jobs", label("state", k), float64(jobs[k]))
		}
	}
	if n, sum, err := s.store.TranscriptionTotals(ctx); err == nil {
		p.family("frontdesk_transcription_seconds", "summary", "Time spent transcribing messages.")
		p.sample("frontdesk_transcription_seconds_sum", "", sum)
		p.sample("frontdesk_transcription_seconds_count", "", float64(n))
	}

	s.httpStats.mu.Lock()
	keys := make([][3]string, 0, len(s.httpStats.series))
	for k := range s.httpStats.series {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return strings.Join(keys[i][:], " ") < strings.Join(keys[j][:], " ")
	})
	p.family("frontdesk_http_request_duration_seconds", "histogram", "HTTP request latency by method, route and status.")
	for _, k := range keys {
		h := s.httpStats.series[k]
		labels := label("method", k[0]) + "," + label("route", k[1]) + "," + label("code", k[2])
		var cum uint64
		for i, b := range latencyBuckets {
			cum += h.counts[i]
			p.sample("frontdesk_http_request_duration_seconds_bucket", labels+","+label("le", strconv.FormatFloat(b, 'g', -1, 64)), float64(cum))
		}
		p.sample("frontdesk_http_request_duration_seconds_bucket", labels+`,le="+Inf"`, float64(h.count))
		p.sample("frontdesk_http_request_duration_seconds_sum", labels, h.sum)
		p.sample("frontdesk_http_request_duration_seconds_count", labels, float64(h.count))
	}
	s.httpStats.mu.Unlock()
	writeProcessMetrics(p)
	return p.err
}

// writeProcessMetrics adds the process's own figures under the names
// Prometheus's Go client uses, so a leak (memory, goroutines, file
// descriptors) shows on the dashboards admins already have.
func writeProcessMetrics(p *promWriter) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	p.family("go_goroutines", "gauge", "Goroutines that currently exist.")
	p.sample("go_goroutines", "", float64(runtime.NumGoroutine()))
	p.family("go_memstats_heap_inuse_bytes", "gauge", "Bytes in in-use heap spans.")
	p.sample("go_memstats_heap_inuse_bytes", "", float64(ms.HeapInuse))
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		p.family("process_open_fds", "gauge", "Open file descriptors.")
		p.sample("process_open_fds", "", float64(len(fds)))
	}
	if rss, ok := residentBytes(); ok {
		p.family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.")
		p.sample("process_resident_memory_bytes", "", float64(rss))
	}
}

// residentBytes reads the process's resident set size from
// /proc/self/statm (its second field, in pages); false where there is none.
func residentBytes() (int64, bool) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * int64(os.Getpagesize()), true
}
