package ui

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/frontdesk-pbx/frontdesk/store"
)

// TestOpenAPICoversEveryRoute: the served document lists every API route
// with a summary, and apiDocs names no route that isn't served.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	st, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := New(st, slog.New(slog.DiscardHandler), "test", Options{DataDir: t.TempDir()})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	res, err := http.Get(srv.URL + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(res.Body)
		t.Fatalf("GET openapi.json without login: %s %s", res.Status, body)
	}
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if doc.OpenAPI == "" {
		t.Error("no openapi version")
	}
	served := map[string]bool{}
	for _, key := range s.apiRoutes() {
		served[key] = true
		if _, ok := apiDocs[key]; !ok {
			t.Errorf("route %s is served but not described in apiDocs (ui/openapi_routes.go)", key)
		}
	}
	for key := range apiDocs {
		if !served[key] {
			t.Errorf("apiDocs describes %s, which isn't served", key)
		}
	}
	n := 0
	for path, ops := range doc.Paths {
		for method, op := range ops {
			n++
			if op["summary"] == "" || op["summary"] == nil {
				t.Errorf("%s %s has no summary", method, path)
			}
		}
	}
	if n != len(served) {
		t.Errorf("document has %d operations, server serves %d", n, len(served))
	}
}
