package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// modelHost serves fake ggml model files on loopback as the model host
// would, honouring Range, and cuts the first download of each file after
// cutAt bytes.
type modelHost struct {
	files map[string][]byte // by URL path
	cutAt int

	mu     sync.Mutex
	ranges map[string][]string // Range header of each request, by path
}

func (h *modelHost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	data, ok := h.files[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h.mu.Lock()
	h.ranges[r.URL.Path] = append(h.ranges[r.URL.Path], r.Header.Get("Range"))
	first := len(h.ranges[r.URL.Path]) == 1
	h.mu.Unlock()

	start, status := 0, http.StatusOK
	if v, ok := strings.CutPrefix(r.Header.Get("Range"), "bytes="); ok {
		if n, err := strconv.Atoi(strings.TrimSuffix(v, "-")); err == nil && n <= len(data) {
			start, status = n, http.StatusPartialContent
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", n, len(data)-1, len(data)))
		}
	}
	body := data[start:]
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Header().Set("ETag", `"v1"`)
	w.WriteHeader(status)
	if first && h.cutAt < len(body) {
		w.Write(body[:h.cutAt])
		w.(http.Flusher).Flush()
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close() // the connection drops mid-download
		}
		return
	}
	w.Write(body)
}

func (h *modelHost) rangesOf(path string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.ranges[path]...)
}

func fakeGGMLModel(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 7))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	copy(b, "lmgg") // the ggml magic, as whisper.cpp writes it
	return b
}

func modelSHA256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// assertOneErrorLine checks the CLI failed with a single "frontdesk: ..."
// line on stderr that contains every one of want.
func assertOneModelErrorLine(t *testing.T, what, stderr string, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s succeeded, want a failure", what)
	}
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "frontdesk: ") {
		t.Fatalf("%s: stderr %q, want one line starting with \"frontdesk: \"", what, stderr)
	}
	for _, w := range want {
		if !strings.Contains(lines[0], w) {
			t.Errorf("%s: error %q does not mention %q", what, lines[0], w)
		}
	}
}

func TestE2EModelPullUseListTranscribe(t *testing.T) {
	dataDir := t.TempDir()
	good := fakeGGMLModel(3<<20+777, 1)
	other := fakeGGMLModel(1<<20, 2)
	host := &modelHost{
		files: map[string][]byte{
			"/whisper/ggml-tiny.en.bin": good,
			"/whisper/ggml-base.en.bin": other,
		},
		cutAt:  1 << 20,
		ranges: map[string][]string{},
	}
	srv := httptest.NewServer(host) // 127.0.0.1 only
	defer srv.Close()
	base := srv.URL + "/whisper/"

	// Pull, cut once: the second request resumes where the first stopped.
	stdout, stderr, err := tryCLI(t, dataDir, "model", "pull", "tiny.en", "--base-url", base, "--sha256", modelSHA256Hex(good))
	if err != nil {
		t.Fatalf("model pull: %v\nstderr:\n%s", err, stderr)
	}
	final := filepath.Join(dataDir, "models", "ggml-tiny.en.bin")
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if want := modelSHA256Hex(good) + "  " + final; lines[len(lines)-1] != want {
		t.Errorf("model pull printed %q, want last line %q", stdout, want)
	}
	ranges := host.rangesOf("/whisper/ggml-tiny.en.bin")
	if len(ranges) != 2 || ranges[0] != "" || !strings.HasPrefix(ranges[1], "bytes=") || ranges[1] == "bytes=0-" {
		t.Fatalf("requests asked for ranges %q, want a whole-file request then a resume\nstderr:\n%s", ranges, stderr)
	}
	if resumedAt, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(ranges[1], "bytes="), "-")); resumedAt > host.cutAt {
		t.Errorf("resumed at byte %d, but only %d were sent", resumedAt, host.cutAt)
	}
	if !strings.Contains(stderr, "resuming at") {
		t.Errorf("stderr does not tell of the resume:\n%s", stderr)
	}
	if got, err := os.ReadFile(final); err != nil || modelSHA256Hex(got) != modelSHA256Hex(good) {
		t.Fatalf("downloaded model differs from the served one (%v)", err)
	}

	// A download whose checksum is wrong is refused and leaves nothing.
	wrong := modelSHA256Hex(good) // base.en is served with other content
	_, stderr, err = tryCLI(t, dataDir, "model", "pull", "base.en", "--base-url", base, "--sha256", wrong)
	if err == nil {
		t.Fatal("model pull with a wrong checksum succeeded")
	}
	if last := modelLastLine(stderr); !strings.HasPrefix(last, "frontdesk: ") || !strings.Contains(last, "SHA-256 mismatch") || !strings.Contains(last, modelSHA256Hex(other)) {
		t.Errorf("refusal %q should name the mismatch and the checksum found", last)
	}
	for _, leftover := range []string{"ggml-base.en.bin", "base.en.partial", "base.en.partial.validator"} {
		if _, err := os.Stat(filepath.Join(dataDir, "models", leftover)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left in the models dir after a refused pull (stat: %v)", leftover, err)
		}
	}
	_, stderr, err = tryCLI(t, dataDir, "model", "use", "base.en")
	assertOneModelErrorLine(t, "model use base.en after a refused pull", stderr, err, "not downloaded")

	// list --json shows it downloaded, not yet in use.
	rows := modelListJSON(t, dataDir)
	tiny, ok := rows["tiny.en"]
	if !ok || !tiny.Downloaded || tiny.InUse || tiny.Path != final {
		t.Errorf("model list: tiny.en = %+v, want downloaded at %s, not in use", tiny, final)
	}
	if rows["base.en"].Downloaded || rows["small.en"].Downloaded {
		t.Error("model list shows models that were never pulled as downloaded")
	}

	// use it, by name.
	stdout = runCLI(t, dataDir, "model", "use", "tiny.en")
	if !strings.Contains(stdout, final) {
		t.Errorf("model use printed %q, want the model's path", stdout)
	}
	if !modelListJSON(t, dataDir)["tiny.en"].InUse {
		t.Error("model list does not show tiny.en in use after model use")
	}

	// A path that does not exist is refused in one line.
	_, stderr, err = tryCLI(t, dataDir, "model", "use", "/nonexistent")
	assertOneModelErrorLine(t, "model use /nonexistent", stderr, err, "/nonexistent")
	if !modelListJSON(t, dataDir)["tiny.en"].InUse {
		t.Error("a refused model use changed the model in use")
	}

	// This binary is the default build, without whisper: transcribe says so.
	wav := filepath.Join(t.TempDir(), "hello.wav")
	if err := writeToneWAV(wav, 440, 8000, time.Second); err != nil {
		t.Fatal(err)
	}
	_, stderr, err = tryCLI(t, dataDir, "transcribe", wav)
	assertOneModelErrorLine(t, "transcribe on a build without whisper", stderr, err, "built without whisper", "-tags whisper")
	_, stderr, err = tryCLI(t, dataDir, "transcribe", wav, "--model", "tiny.en", "--json")
	assertOneModelErrorLine(t, "transcribe --model --json on a build without whisper", stderr, err, "built without whisper")
}

type modelListRow struct {
	Name       string `json:"name"`
	Downloaded bool   `json:"downloaded"`
	InUse      bool   `json:"in_use"`
	Path       string `json:"path"`
}

func modelListJSON(t *testing.T, dataDir string) map[string]modelListRow {
	t.Helper()
	var rows []modelListRow
	out := runCLI(t, dataDir, "model", "list", "--json")
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("model list --json: %v\n%s", err, out)
	}
	byName := map[string]modelListRow{}
	for _, r := range rows {
		byName[r.Name] = r
	}
	return byName
}

func modelLastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}
