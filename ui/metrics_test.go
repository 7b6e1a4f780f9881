package ui

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/frontdesk-pbx/frontdesk/pbx"
	"github.com/frontdesk-pbx/frontdesk/store"
)

func TestMetrics(t *testing.T) {
	st, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stats := pbx.Stats{RegistersOK: 7, CallsActive: 2, DepositsSaved: 3, RTPExpected: 1000, RTPReceived: 998, SourcesBlocked: 4, RequestsLimited: 9}
	s := New(st, slog.New(slog.DiscardHandler), "test", Options{DataDir: t.TempDir(), Stats: func() pbx.Stats { return stats }})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	for range 3 {
		res, err := http.Get(srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	res, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics from loopback: %s %s", res.Status, body)
	}
	for _, want := range []string{
		`frontdesk_sip_registers_total{result="ok"} 7`,
		`frontdesk_calls_active 2`,
		`frontdesk_voicemail_deposits_total{result="saved"} 3`,
		`frontdesk_voicemail_rtp_packets_lost_total 2`,
		`frontdesk_registered_devices 0`,
		`frontdesk_sip_sources_blocked_total 4`,
		`frontdesk_sip_requests_refused_total{reason="rate"} 9`,
		`frontdesk_http_request_duration_seconds_count{method="GET",route="/healthz",code="503"} 3`,
		`frontdesk_http_request_duration_seconds_bucket{method="GET",route="/healthz",code="503",le="+Inf"} 3`,
		"# TYPE frontdesk_http_request_duration_seconds histogram",
	} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// The process's own figures: present and plausible (this test process
	// has goroutines, open files and resident memory).
	for _, name := range []string{"go_goroutines", "go_memstats_heap_inuse_bytes", "process_open_fds", "process_resident_memory_bytes"} {
		if v, ok := metricValue(string(body), name); !ok || v <= 0 {
			t.Errorf("/metrics: %s = %v (found %v), want > 0", name, v, ok)
		}
	}

	// Not from this machine: refused.
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.RemoteAddr = "192.0.2.1:5555" // documentation address; never dialled
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Errorf("/metrics from another host: %d, want 403", rec.Code)
	}
}

func TestLabelEscaping(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", `x="plain"`},
		{`a"b`, `x="a\"b"`},
		{"a\\b\nc", `x="a\\b\nc"`},
	}
	for _, tt := range tests {
		if got := label("x", tt.in); got != tt.want {
			t.Errorf("label(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// metricValue returns the value of an unlabelled sample in a Prometheus
// text exposition.
func metricValue(body, name string) (float64, bool) {
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
	}
	return 0, false
}
