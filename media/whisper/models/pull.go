package models

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Progress reports on a pull as it goes.
type Progress struct {
	Done  int64  // bytes of the file on disk so far
	Total int64  // size of the whole file, -1 while unknown
	Note  string // set for events worth a line of their own: resume, retry, check
}

// Result is a pulled, verified model.
type Result struct {
	Name    string `json:"name"`
	Path    string `json:"path"`
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
	Already bool   `json:"already"` // it was already there, verified; nothing was downloaded
}

// ErrChecksum is returned when a download's SHA-256 is not the expected one.
var ErrChecksum = errors.New("SHA-256 mismatch")

// ErrNoChecksum is returned for a model outside the catalogue pulled without
// an expected SHA-256: there is nothing to check it against, and an
// unchecked multi-gigabyte file fed to a C library is not something to
// accept silently.
var ErrNoChecksum = errors.New("no known SHA-256")

// ErrBusy is returned when another pull is running in the same data dir.
var ErrBusy = errors.New("another model pull is running")

// Tuning, variables so that tests can shorten them.
var (
	maxFailures  = 5                // consecutive attempts that get no data before giving up
	retryBackoff = time.Second      // first wait between attempts, doubling
	maxBackoff   = 30 * time.Second // longest wait between attempts
	idleTimeout  = time.Minute      // a connection that sends nothing this long is cut
	httpClient   = &http.Client{Transport: newTransport()}
)

func newTransport() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = 30 * time.Second
	return t
}

var hexSHA256 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Pull downloads the model called name from baseURL (BaseURL() if empty) into
// DATA/models/ggml-NAME.bin, where DATA is dataDir, and returns it verified
// (with an absolute path). One pull runs at a time in a data dir.
//
// The download goes to DATA/models/NAME.partial. A connection that breaks is
// retried with growing pauses, resuming with an HTTP Range request (guarded
// by If-Range with the server's ETag or Last-Modified) from what is already
// on disk; a server that ignores Range makes it start over. A pull that
// gives up, or is interrupted, leaves the partial file for the next pull to
// resume. Once complete, the file must start with the ggml magic and its
// SHA-256 must be expectSHA (hex) or, when that is empty, the catalogue's;
// otherwise it is deleted and Pull returns ErrChecksum or ErrNotModel. Only
// then is it synced and renamed to its final name. A name outside the
// catalogue needs expectSHA (ErrNoChecksum). progress, if not nil, is called
// from Pull's goroutine as bytes arrive and on notable events.
func Pull(ctx context.Context, name, dataDir, baseURL, expectSHA string, progress func(Progress)) (Result, error) {
	if progress == nil {
		progress = func(Progress) {}
	}
	if err := CheckName(name); err != nil {
		return Result{}, err
	}
	expect := strings.ToLower(strings.TrimSpace(expectSHA))
	if expect != "" && !hexSHA256.MatchString(expect) {
		return Result{}, fmt.Errorf("SHA-256 %q: want 64 hex digits", expectSHA)
	}
	size := int64(-1) // expected size, known only when the catalogue vouches for the file
	entry, inCatalog := Lookup(name)
	inCatalog = inCatalog && entry.Name == name
	switch {
	case expect == "" && inCatalog:
		expect, size = entry.SHA256, entry.Size
	case expect == "":
		return Result{}, fmt.Errorf("model %s is not in the catalogue, so it has %w to check the download against: give the SHA-256 published with it (--sha256 HEX)", name, ErrNoChecksum)
	case inCatalog && expect == entry.SHA256:
		size = entry.Size
	}
	src, err := modelURL(baseURL, name)
	if err != nil {
		return Result{}, err
	}

	dir := Dir(dataDir)
	// The data dir is private to the PBX (the store makes it 0750 too).
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return Result{}, fmt.Errorf("create %s: %w", dir, err)
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	unlock, err := lockFile(dir)
	if err != nil {
		if errors.Is(err, ErrBusy) {
			return Result{}, fmt.Errorf("%w in %s; try again when it is done", ErrBusy, dir)
		}
		return Result{}, err
	}
	defer unlock()

	final := filepath.Join(dir, FileName(name))
	partial := filepath.Join(dir, name+".partial")
	d := &download{src: src, partial: partial, validatorPath: partial + ".validator", size: size, progress: progress}
	defer func() {
		// Whatever happened, an empty partial file is no progress to keep.
		if st, err := os.Stat(partial); err == nil && st.Size() == 0 {
			os.Remove(partial)
			os.Remove(d.validatorPath)
		}
	}()
	res := Result{Name: name, Path: final, SHA256: expect}
	if st, err := os.Stat(final); err == nil {
		progress(Progress{Done: 0, Total: size, Note: "already downloaded: checking its SHA-256"})
		sum, err := hashFile(final)
		if err == nil && sum == expect && CheckFile(final) == nil {
			res.Size, res.Already = st.Size(), true
			return res, nil
		}
		progress(Progress{Done: 0, Total: size, Note: fmt.Sprintf("%s is there but is not the expected file: downloading it again", final)})
	}

	failures, backoff := 0, retryBackoff
	for {
		got, err := d.attempt(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return Result{}, fmt.Errorf("pull %s interrupted (%w); run it again to resume", name, context.Cause(ctx))
		}
		var perm *permanentError
		if errors.As(err, &perm) {
			return Result{}, fmt.Errorf("pull %s: %w", name, perm.err)
		}
		if got > 0 {
			failures, backoff = 0, retryBackoff
		}
		failures++
		if failures >= maxFailures {
			if d.done > 0 {
				return Result{}, fmt.Errorf("pull %s from %s: %w (gave up after %d tries; the %s received are kept in %s: run the pull again to resume)", name, src, err, failures, formatBytes(d.done), partial)
			}
			return Result{}, fmt.Errorf("pull %s from %s: %w (gave up after %d tries)", name, src, err, failures)
		}
		what := "download failed"
		if d.done > 0 {
			what = "download stopped at " + formatBytes(d.done)
		}
		progress(Progress{Done: d.done, Total: d.total, Note: fmt.Sprintf("%s: %v; retrying in %s", what, err, backoff)})
		select {
		case <-ctx.Done():
			return Result{}, fmt.Errorf("pull %s interrupted (%w); run it again to resume", name, context.Cause(ctx))
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, maxBackoff)
	}

	progress(Progress{Done: d.done, Total: d.total, Note: "download complete: checking the ggml header and SHA-256"})
	discard := func() {
		os.Remove(partial)
		os.Remove(d.validatorPath)
	}
	if err := CheckFile(partial); err != nil {
		discard()
		return Result{}, fmt.Errorf("pull %s from %s: %w; the download was deleted", name, src, err)
	}
	sum, err := hashFile(partial)
	if err != nil {
		return Result{}, err
	}
	if sum != expect {
		discard()
		return Result{}, fmt.Errorf("pull %s from %s: %w: got %s, want %s; the download was deleted", name, src, ErrChecksum, sum, expect)
	}
	st, err := os.Stat(partial)
	if err != nil {
		return Result{}, err
	}
	if err := os.Rename(partial, final); err != nil {
		return Result{}, fmt.Errorf("pull %s: %w", name, err)
	}
	syncDir(dir)
	os.Remove(d.validatorPath)
	res.Size = st.Size()
	return res, nil
}

// modelURL is where ggml-NAME.bin is under baseURL.
func modelURL(baseURL, name string) (string, error) {
	if strings.TrimSpace(baseURL) == "" {
		baseURL = BaseURL()
	}
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("model base URL %q: want http:// or https://HOST/PATH/", baseURL)
	}
	return u.JoinPath(FileName(name)).String(), nil
}

// permanentError marks a failure that retrying would not cure.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(format string, a ...any) error {
	return &permanentError{fmt.Errorf(format, a...)}
}

// errStalled cuts a connection that stopped sending.
var errStalled = errors.New("no data received for too long")

// download is one model's transfer across attempts.
type download struct {
	src           string
	partial       string
	validatorPath string // holds the ETag or Last-Modified the partial file was fetched under
	size          int64  // expected size, -1 if unknown
	progress      func(Progress)

	done  int64 // bytes in the partial file
	total int64 // size of the whole file per the server, -1 if unknown
}

// attempt makes one request and appends what it gets to the partial file.
// It returns how many bytes it got; a nil error means the file is complete
// as far as the server's word goes (the checks come after).
func (d *download) attempt(ctx context.Context) (int64, error) {
	f, err := os.OpenFile(d.partial, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return 0, permanent("%w", err)
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, permanent("%w", err)
	}
	d.done, d.total = have, d.size
	if d.size >= 0 && have > d.size {
		if have, err = restart(f); err != nil {
			return 0, err
		}
	}
	if d.size >= 0 && have == d.size {
		return 0, nil // an earlier pull got it all
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.src, nil)
	if err != nil {
		return 0, permanent("%w", err)
	}
	req.Header.Set("User-Agent", "frontdesk-model-pull")
	if have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
		if v, err := os.ReadFile(d.validatorPath); err == nil && len(v) > 0 {
			req.Header.Set("If-Range", string(v))
		}
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()

	switch code := resp.StatusCode; {
	case code == http.StatusPartialContent:
		start, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != have {
			// Not the bytes asked for: drop what we have and go again from 0.
			if _, err := restart(f); err != nil {
				return 0, err
			}
			os.Remove(d.validatorPath)
			return 0, fmt.Errorf("server sent range %q when asked for bytes from %d", resp.Header.Get("Content-Range"), have)
		}
		d.total = total
		d.progress(Progress{Done: have, Total: total, Note: fmt.Sprintf("resuming at %s of %s", formatBytes(have), formatBytes(total))})
	case code == http.StatusOK:
		if have > 0 {
			d.progress(Progress{Done: 0, Total: resp.ContentLength, Note: "the server sent the whole file (it does not resume, or the file changed): starting over"})
		}
		if have, err = restart(f); err != nil {
			return 0, err
		}
		d.done, d.total = 0, resp.ContentLength
		saveValidator(d.validatorPath, resp.Header)
	case code == http.StatusRequestedRangeNotSatisfiable:
		if _, total, ok := parseContentRange(resp.Header.Get("Content-Range")); ok && total == have {
			return 0, nil // the partial file is the whole file
		}
		if _, err := restart(f); err != nil {
			return 0, err
		}
		os.Remove(d.validatorPath)
		return 0, errors.New("server refused to resume: starting over")
	case code == http.StatusTooManyRequests || code >= 500:
		return 0, fmt.Errorf("%s from %s", resp.Status, d.src)
	case code == http.StatusNotFound:
		return 0, permanent("no model file at %s (404 Not Found)", d.src)
	default:
		return 0, permanent("%s from %s", resp.Status, d.src)
	}
	if d.size >= 0 && d.total >= 0 && d.total != d.size {
		os.Remove(d.partial)
		os.Remove(d.validatorPath)
		return 0, permanent("%w: the server has a %d-byte file where the catalogue expects %d bytes: refusing it", ErrChecksum, d.total, d.size)
	}

	timer := time.AfterFunc(idleTimeout, func() { cancel(errStalled) })
	defer timer.Stop()
	body := bufio.NewReaderSize(&idleReader{r: resp.Body, timer: timer}, 256<<10)
	if have == 0 {
		// Refuse an error page or the wrong file at once, not after gigabytes.
		head, err := body.Peek(len(Magic))
		if err != nil && err != io.EOF {
			return 0, streamError(ctx, err)
		}
		if len(head) < len(Magic) || [4]byte(head) != Magic {
			f.Close()
			os.Remove(d.partial)
			os.Remove(d.validatorPath)
			return 0, permanent("%s: %w (starts with %q, want %q)", d.src, ErrNotModel, head, Magic[:])
		}
	}
	var reader io.Reader = body
	if d.size >= 0 {
		reader = io.LimitReader(body, d.size-have+1) // one more byte than allowed betrays an oversize file
	}
	got, err := d.copy(f, reader, have)
	if syncErr := f.Sync(); err == nil && syncErr != nil {
		return got, permanent("%w", syncErr)
	}
	if err != nil {
		return got, streamError(ctx, err)
	}
	if d.size >= 0 && have+got > d.size {
		f.Close()
		os.Remove(d.partial)
		os.Remove(d.validatorPath)
		return got, permanent("%w: the server sent more than the %d bytes the catalogue expects: refusing it", ErrChecksum, d.size)
	}
	if d.total >= 0 && have+got < d.total {
		return got, fmt.Errorf("connection closed at %s of %s", formatBytes(have+got), formatBytes(d.total))
	}
	return got, nil
}

// copy appends r to f, reporting progress.
func (d *download) copy(f *os.File, r io.Reader, have int64) (int64, error) {
	buf := make([]byte, 256<<10)
	var got int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := f.Write(buf[:n]); werr != nil {
				return got, permanent("write %s: %w", d.partial, werr)
			}
			got += int64(n)
			d.done = have + got
			d.progress(Progress{Done: d.done, Total: d.total})
		}
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return got, err
		}
	}
}

// streamError names why reading the body stopped.
func streamError(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && errors.Is(cause, errStalled) {
		return fmt.Errorf("%w (%s)", errStalled, idleTimeout)
	}
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// restart empties the partial file.
func restart(f *os.File) (int64, error) {
	if err := f.Truncate(0); err != nil {
		return 0, permanent("%w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, permanent("%w", err)
	}
	return 0, nil
}

// saveValidator keeps what If-Range needs to resume this very file: a strong
// ETag, else Last-Modified. Without either, resumes go unguarded and the
// SHA-256 check at the end is what catches a file that changed meanwhile.
func saveValidator(path string, h http.Header) {
	v := h.Get("ETag")
	if v == "" || strings.HasPrefix(v, "W/") {
		v = h.Get("Last-Modified")
	}
	if v == "" {
		os.Remove(path)
		return
	}
	_ = os.WriteFile(path, []byte(v), 0o644)
}

// parseContentRange reads "bytes START-END/TOTAL" or "bytes */TOTAL"; the
// start is -1 for the latter, the total -1 when "*".
func parseContentRange(s string) (start, total int64, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimSpace(s), "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, tot, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	total = -1
	if tot != "*" {
		n, err := strconv.ParseInt(tot, 10, 64)
		if err != nil || n < 0 {
			return 0, 0, false
		}
		total = n
	}
	if rng == "*" {
		return -1, total, true
	}
	first, _, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(first, 10, 64)
	if err != nil || start < 0 {
		return 0, 0, false
	}
	return start, total, true
}

// idleReader pushes a timer back on every read that returns data.
type idleReader struct {
	r     io.Reader
	timer *time.Timer
}

func (i *idleReader) Read(p []byte) (int, error) {
	n, err := i.r.Read(p)
	if n > 0 {
		i.timer.Reset(idleTimeout)
	}
	return n, err
}

// HashFile returns the lower-case hex SHA-256 of a file.
func HashFile(path string) (string, error) { return hashFile(path) }

func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// formatBytes writes a size the way people read it: 77.7 MB.
func formatBytes(n int64) string {
	switch {
	case n < 0:
		return "?"
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	case n < 1000*1000*1000:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.2f GB", float64(n)/1e9)
}

// FormatBytes is formatBytes for the CLI.
func FormatBytes(n int64) string { return formatBytes(n) }
