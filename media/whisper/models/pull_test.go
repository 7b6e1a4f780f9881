package models

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
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

// modelServer serves one file on loopback the way a model host does, and
// can misbehave: cut the connection after some bytes, ignore Range.
type modelServer struct {
	*httptest.Server
	data        []byte
	etag        string
	ignoreRange bool
	cutAfter    []int // for request i, close the connection after this many body bytes (<0: don't)
	partial     string

	mu       sync.Mutex
	requests []seen
}

// seen is what one request asked for, and how big the partial file was then.
type seen struct {
	rangeHdr, ifRange string
	partialSize       int64
}

func newModelServer(t *testing.T, data []byte, dataDir, name string) *modelServer {
	t.Helper()
	s := &modelServer{data: data, partial: partialPath(dataDir, name)}
	sum := sha256.Sum256(data)
	s.etag = `"` + hex.EncodeToString(sum[:8]) + `"`
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve)) // httptest listens on 127.0.0.1
	t.Cleanup(s.Close)
	return s
}

func (s *modelServer) serve(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/models/ggml-") || !strings.HasSuffix(r.URL.Path, ".bin") {
		http.NotFound(w, r)
		return
	}
	var size int64
	if st, err := os.Stat(s.partial); err == nil {
		size = st.Size()
	}
	s.mu.Lock()
	s.requests = append(s.requests, seen{r.Header.Get("Range"), r.Header.Get("If-Range"), size})
	n := len(s.requests) - 1
	s.mu.Unlock()

	start := 0
	status := http.StatusOK
	if rng := r.Header.Get("Range"); rng != "" && !s.ignoreRange {
		ir := r.Header.Get("If-Range")
		if v, ok := strings.CutPrefix(rng, "bytes="); ok && (ir == "" || ir == s.etag) {
			from, err := strconv.Atoi(strings.TrimSuffix(v, "-"))
			if err != nil || from > len(s.data) {
				w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", len(s.data)))
				w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
				return
			}
			start, status = from, http.StatusPartialContent
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", from, len(s.data)-1, len(s.data)))
		}
	}
	body := s.data[start:]
	w.Header().Set("ETag", s.etag)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(status)
	if n < len(s.cutAfter) && s.cutAfter[n] >= 0 && s.cutAfter[n] < len(body) {
		w.Write(body[:s.cutAfter[n]])
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close() // the connection drops mid-body
		}
		return
	}
	w.Write(body)
}

func (s *modelServer) seen() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seen(nil), s.requests...)
}

func (s *modelServer) base() string { return s.URL + "/models/" }

// modelBytes is n bytes of noise that start like a whisper model.
func modelBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	copy(b, Magic[:])
	return b
}

func sumOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func fastRetries(t *testing.T) {
	t.Helper()
	old := retryBackoff
	retryBackoff = 10 * time.Millisecond
	t.Cleanup(func() { retryBackoff = old })
}

// assertNoLeftovers checks that the pull left neither a partial file nor a
// validator behind.
func assertNoLeftovers(t *testing.T, dataDir, name string) {
	t.Helper()
	for _, p := range []string{partialPath(dataDir, name), partialPath(dataDir, name) + ".validator"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind (stat: %v)", p, err)
		}
	}
}

func TestPullResumesAfterCutConnection(t *testing.T) {
	fastRetries(t)
	dataDir := t.TempDir()
	data := modelBytes(3<<20+12345, 1)
	srv := newModelServer(t, data, dataDir, "test")
	srv.cutAfter = []int{1 << 20}

	var notes []string
	res, err := Pull(context.Background(), "test", dataDir, srv.base(), sumOf(data), func(p Progress) {
		if p.Note != "" {
			notes = append(notes, p.Note)
		}
	})
	if err != nil {
		t.Fatalf("Pull: %v", err)
	}
	reqs := srv.seen()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2 (one cut, one resumed): %+v", len(reqs), reqs)
	}
	if reqs[0].rangeHdr != "" {
		t.Errorf("first request asked for Range %q, want the whole file", reqs[0].rangeHdr)
	}
	second := reqs[1]
	if second.partialSize <= 0 || second.partialSize > 1<<20 {
		t.Fatalf("partial file was %d bytes at the second request, want what the first got (≤ %d)", second.partialSize, 1<<20)
	}
	if want := fmt.Sprintf("bytes=%d-", second.partialSize); second.rangeHdr != want {
		t.Errorf("second request Range = %q, want %q (from the partial file's size)", second.rangeHdr, want)
	}
	if second.ifRange != srv.etag {
		t.Errorf("second request If-Range = %q, want the ETag %q", second.ifRange, srv.etag)
	}
	if res.Path != Path(dataDir, "test") || res.SHA256 != sumOf(data) || res.Size != int64(len(data)) || res.Already {
		t.Errorf("result %+v", res)
	}
	got, err := os.ReadFile(Path(dataDir, "test"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("final file differs from the served one (err %v, %d bytes)", err, len(got))
	}
	if sumOf(got) != sumOf(data) {
		t.Fatal("SHA-256 of the final file differs")
	}
	assertNoLeftovers(t, dataDir, "test")
	if !strings.Contains(strings.Join(notes, "\n"), "resuming at") {
		t.Errorf("no resume note among %q", notes)
	}

	// Pulling again finds it there and downloads nothing.
	res, err = Pull(context.Background(), "test", dataDir, srv.base(), sumOf(data), nil)
	if err != nil || !res.Already {
		t.Fatalf("second pull: %+v, %v; want already there", res, err)
	}
	if n := len(srv.seen()); n != 2 {
		t.Errorf("second pull made %d more requests", n-2)
	}
}

func TestPullStartsOverWhenServerIgnoresRange(t *testing.T) {
	fastRetries(t)
	dataDir := t.TempDir()
	data := modelBytes(2<<20, 2)
	srv := newModelServer(t, data, dataDir, "test")
	srv.ignoreRange = true
	srv.cutAfter = []int{700_000}

	if _, err := Pull(context.Background(), "test", dataDir, srv.base(), sumOf(data), nil); err != nil {
		t.Fatalf("Pull: %v", err)
	}
	reqs := srv.seen()
	if len(reqs) != 2 || !strings.HasPrefix(reqs[1].rangeHdr, "bytes=") {
		t.Fatalf("requests %+v, want a cut one and a resume attempt", reqs)
	}
	got, _ := os.ReadFile(Path(dataDir, "test"))
	if !bytes.Equal(got, data) {
		t.Fatalf("final file (%d bytes) is not the served file (%d): the 200 answer must replace the partial data, not be appended", len(got), len(data))
	}
	assertNoLeftovers(t, dataDir, "test")
}

func TestPullRefusesWrongChecksum(t *testing.T) {
	fastRetries(t)
	dataDir := t.TempDir()
	data := modelBytes(1<<20, 3)
	srv := newModelServer(t, data, dataDir, "test")
	srv.cutAfter = []int{300_000} // a resumed download is checked just the same

	wrong := sumOf(append([]byte("other"), data...))
	_, err := Pull(context.Background(), "test", dataDir, srv.base(), wrong, nil)
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("Pull with a wrong SHA-256: %v, want ErrChecksum", err)
	}
	if !strings.Contains(err.Error(), sumOf(data)) || !strings.Contains(err.Error(), wrong) {
		t.Errorf("error %q should name both checksums", err)
	}
	if _, err := os.Stat(Path(dataDir, "test")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused download exists under the final name (stat: %v)", err)
	}
	assertNoLeftovers(t, dataDir, "test")
	if _, err := Resolve(dataDir, "test"); err == nil {
		t.Error("Resolve found the refused model")
	}
}

func TestPullRefusesFileWithoutMagic(t *testing.T) {
	fastRetries(t)
	dataDir := t.TempDir()
	data := modelBytes(1<<20, 4)
	copy(data, "<htm")
	srv := newModelServer(t, data, dataDir, "test")

	_, err := Pull(context.Background(), "test", dataDir, srv.base(), sumOf(data), nil)
	if !errors.Is(err, ErrNotModel) {
		t.Fatalf("Pull of a file without the ggml magic: %v, want ErrNotModel", err)
	}
	if n := len(srv.seen()); n != 1 {
		t.Errorf("%d requests, want 1: no retry for the wrong file", n)
	}
	if _, err := os.Stat(Path(dataDir, "test")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("refused file exists under the final name (stat: %v)", err)
	}
	assertNoLeftovers(t, dataDir, "test")
}

func TestPullResumesAcrossRuns(t *testing.T) {
	fastRetries(t)
	old := maxFailures
	maxFailures = 2
	t.Cleanup(func() { maxFailures = old })
	dataDir := t.TempDir()
	data := modelBytes(2<<20, 5)
	srv := newModelServer(t, data, dataDir, "test")
	srv.cutAfter = []int{500_000, 0} // the first run gets half a megabyte, then nothing

	_, err := Pull(context.Background(), "test", dataDir, srv.base(), sumOf(data), nil)
	if err == nil || !strings.Contains(err.Error(), "resume") {
		t.Fatalf("first run: %v, want it to give up and say the pull resumes", err)
	}
	kept := PartialSize(dataDir, "test")
	if kept <= 0 {
		t.Fatal("the partial file was not kept for the next run")
	}
	if _, err := os.Stat(Path(dataDir, "test")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("an incomplete download exists under the final name")
	}

	if _, err := Pull(context.Background(), "test", dataDir, srv.base(), sumOf(data), nil); err != nil {
		t.Fatalf("second run: %v", err)
	}
	reqs := srv.seen()
	last := reqs[len(reqs)-1]
	if last.rangeHdr != fmt.Sprintf("bytes=%d-", kept) || last.ifRange != srv.etag {
		t.Errorf("second run asked Range %q If-Range %q, want bytes=%d- and %s", last.rangeHdr, last.ifRange, kept, srv.etag)
	}
	got, _ := os.ReadFile(Path(dataDir, "test"))
	if !bytes.Equal(got, data) {
		t.Fatal("final file differs from the served one")
	}
	assertNoLeftovers(t, dataDir, "test")
}

func TestPullStartsOverWhenFileChanged(t *testing.T) {
	fastRetries(t)
	old := maxFailures
	maxFailures = 1
	t.Cleanup(func() { maxFailures = old })
	dataDir := t.TempDir()
	first := modelBytes(1<<20, 6)
	srv := newModelServer(t, first, dataDir, "test")
	srv.cutAfter = []int{400_000}
	if _, err := Pull(context.Background(), "test", dataDir, srv.base(), sumOf(first), nil); err == nil {
		t.Fatal("first run should have given up")
	}
	// The host now has a different file: If-Range no longer matches, the
	// server sends all of it, and the old bytes must not be kept.
	second := modelBytes(1<<20, 7)
	srv.data = second
	srv.etag = `"changed"`
	if _, err := Pull(context.Background(), "test", dataDir, srv.base(), sumOf(second), nil); err != nil {
		t.Fatalf("second run: %v", err)
	}
	if got, _ := os.ReadFile(Path(dataDir, "test")); !bytes.Equal(got, second) {
		t.Fatal("final file mixes the old and the new file")
	}
}

func TestPullCatalogueChecks(t *testing.T) {
	fastRetries(t)
	dataDir := t.TempDir()
	data := modelBytes(1<<20, 8)
	srv := newModelServer(t, data, dataDir, "tiny.en")

	// Outside the catalogue there is nothing to check against.
	if _, err := Pull(context.Background(), "my-finetune", dataDir, srv.base(), "", nil); !errors.Is(err, ErrNoChecksum) {
		t.Fatalf("pull of an unknown model without --sha256: %v, want ErrNoChecksum", err)
	}
	// A catalogue model whose host serves another file is refused on its
	// size, before the download.
	_, err := Pull(context.Background(), "tiny.en", dataDir, srv.base(), "", nil)
	if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "77704715") {
		t.Fatalf("pull of tiny.en served as 1 MB: %v, want a refusal naming the catalogue size", err)
	}
	assertNoLeftovers(t, dataDir, "tiny.en")
	// An explicit checksum stands in for the catalogue's.
	if _, err := Pull(context.Background(), "tiny.en", dataDir, srv.base(), strings.ToUpper(sumOf(data)), nil); err != nil {
		t.Fatalf("pull with --sha256: %v", err)
	}
	for _, bad := range []string{"../x", "a/b", "", ".hidden", "x..y"} {
		if _, err := Pull(context.Background(), bad, dataDir, srv.base(), sumOf(data), nil); err == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
	if _, err := Pull(context.Background(), "tiny.en", dataDir, srv.base(), "abc", nil); err == nil {
		t.Error("malformed SHA-256 accepted")
	}
	if _, err := Pull(context.Background(), "tiny.en", dataDir, "ftp://127.0.0.1/", sumOf(data), nil); err == nil {
		t.Error("ftp base URL accepted")
	}
}

func TestPullMissingModelIsNotRetried(t *testing.T) {
	fastRetries(t)
	dataDir := t.TempDir()
	var hits int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		http.NotFound(w, r)
	}))
	defer srv.Close()
	_, err := Pull(context.Background(), "nope", dataDir, srv.URL, sumOf(nil), nil)
	if err == nil || !strings.Contains(err.Error(), "404") || hits != 1 {
		t.Fatalf("err %v after %d requests, want one 404", err, hits)
	}
	assertNoLeftovers(t, dataDir, "nope")
}

func TestPullOneAtATime(t *testing.T) {
	dataDir := t.TempDir()
	os.MkdirAll(Dir(dataDir), 0o755)
	unlock, err := lockFile(Dir(dataDir))
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	data := modelBytes(1000, 1)
	srv := newModelServer(t, data, dataDir, "test")
	if _, err := Pull(context.Background(), "test", dataDir, srv.base(), sumOf(data), nil); !errors.Is(err, ErrBusy) {
		t.Fatalf("Pull while another runs: %v, want ErrBusy", err)
	}
	if n := len(srv.seen()); n != 0 {
		t.Errorf("%d requests made while another pull runs", n)
	}
}

func TestPullRetriesServerErrors(t *testing.T) {
	fastRetries(t)
	dataDir := t.TempDir()
	data := modelBytes(100_000, 9)
	var hits int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		if hits == 1 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		w.Write(data)
	}))
	defer srv.Close()
	if _, err := Pull(context.Background(), "test", dataDir, srv.URL+"/x", sumOf(data), nil); err != nil || hits != 2 {
		t.Fatalf("err %v after %d requests, want success on the second", err, hits)
	}
}

func TestCatalogue(t *testing.T) {
	seenNames := map[string]bool{}
	for _, e := range Catalog() {
		if seenNames[e.Name] {
			t.Errorf("%s listed twice", e.Name)
		}
		seenNames[e.Name] = true
		if CheckName(e.Name) != nil || !hexSHA256.MatchString(e.SHA256) || e.Size < 30_000_000 {
			t.Errorf("bad entry %+v", e)
		}
	}
	for _, want := range []string{"tiny", "tiny.en", "base", "base.en", "small", "small.en", "medium", "medium.en", "large-v3", "large-v3-turbo"} {
		if !seenNames[want] {
			t.Errorf("%s missing", want)
		}
	}
	e, ok := Lookup("ggml-tiny.en.bin")
	if !ok || e.Name != "tiny.en" || e.File() != "ggml-tiny.en.bin" || !e.English() || e.Quantization() != "" {
		t.Errorf("Lookup(ggml-tiny.en.bin) = %+v, %v", e, ok)
	}
	if e, _ := Lookup("large-v3-turbo-q5_0"); e.Quantization() != "q5_0" || e.English() {
		t.Errorf("large-v3-turbo-q5_0: %+v", e)
	}
}

func TestResolve(t *testing.T) {
	dataDir := t.TempDir()
	os.MkdirAll(Dir(dataDir), 0o755)
	os.WriteFile(Path(dataDir, "base.en"), modelBytes(100, 1), 0o644)
	other := filepath.Join(t.TempDir(), "custom.bin")
	os.WriteFile(other, modelBytes(100, 2), 0o644)
	notModel := filepath.Join(t.TempDir(), "x.bin")
	os.WriteFile(notModel, []byte("hello world"), 0o644)

	if p, err := Resolve(dataDir, "base.en"); err != nil || p != Path(dataDir, "base.en") || !filepath.IsAbs(p) {
		t.Errorf("Resolve(base.en) = %q, %v", p, err)
	}
	if p, err := Resolve(dataDir, other); err != nil || p != other {
		t.Errorf("Resolve(path) = %q, %v", p, err)
	}
	if _, err := Resolve(dataDir, "small.en"); err == nil || !strings.Contains(err.Error(), "model pull small.en") {
		t.Errorf("Resolve(small.en) not downloaded: %v", err)
	}
	if _, err := Resolve(dataDir, "/nonexistent"); err == nil {
		t.Error("Resolve(/nonexistent) succeeded")
	}
	if _, err := Resolve(dataDir, notModel); !errors.Is(err, ErrNotModel) {
		t.Errorf("Resolve(not a model) = %v, want ErrNotModel", err)
	}
	files, err := Local(dataDir)
	if err != nil || len(files) != 1 || files[0].Name != "base.en" || files[0].Size != 100 {
		t.Errorf("Local = %+v, %v", files, err)
	}
}

func TestParseContentRange(t *testing.T) {
	for _, c := range []struct {
		in           string
		start, total int64
		ok           bool
	}{
		{"bytes 100-199/200", 100, 200, true},
		{"bytes 0-0/*", 0, -1, true},
		{"bytes */500", -1, 500, true},
		{"bytes 1-2", 0, 0, false},
		{"items 1-2/3", 0, 0, false},
		{"bytes x-2/3", 0, 0, false},
	} {
		s, tot, ok := parseContentRange(c.in)
		if s != c.start || tot != c.total || ok != c.ok {
			t.Errorf("parseContentRange(%q) = %d, %d, %v", c.in, s, tot, ok)
		}
	}
}
