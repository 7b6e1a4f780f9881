package ui

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/frontdesk-pbx/frontdesk/media"
	"github.com/frontdesk-pbx/frontdesk/pbx"
	"github.com/frontdesk-pbx/frontdesk/store"
)

// secretContent is what the files outside the served directories hold:
// no answer may ever contain it.
const secretContent = "TOP-SECRET-do-not-serve"

// plantSecrets writes a secret file in the data directory, beside the
// messages and greetings directories, and one in the directory above it.
func plantSecrets(t *testing.T, dataDir string) {
	t.Helper()
	for _, d := range []string{pbx.MessagesDir, pbx.GreetingsDir} {
		if err := os.MkdirAll(filepath.Join(dataDir, d), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{filepath.Join(dataDir, "secret.wav"), filepath.Join(filepath.Dir(dataDir), "secret.wav")} {
		if err := os.WriteFile(p, []byte(secretContent), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// refused checks that an answer is a 400 or 404 that serves nothing secret.
func refused(t *testing.T, what string, code int, body []byte) {
	t.Helper()
	if code != http.StatusBadRequest && code != http.StatusNotFound {
		t.Errorf("%s: status %d, want 400 or 404 (%.200s)", what, code, body)
	}
	if bytes.Contains(body, []byte(secretContent)) || bytes.Contains(body, []byte("root:x:0:0")) ||
		bytes.Contains(body, []byte("package ui")) || bytes.Contains(body, []byte("SQLite format")) {
		t.Errorf("%s: served a file from outside its directory: %.200s", what, body)
	}
}

// traversalPaths are the ways of naming a file outside a directory, as a
// path segment: dot-dot, encoded dot-dot and slashes, absolute paths,
// backslashes, NUL.
var traversalPaths = []string{
	"../secret.wav",
	"../../secret.wav",
	"%2e%2e/secret.wav",
	"%2e%2e%2fsecret.wav",
	"..%2f..%2fsecret.wav",
	"%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
	"..%5csecret.wav",
	"..\\secret.wav",
	"%2fetc%2fpasswd",
	"/etc/passwd",
	"//etc/passwd",
	"secret.wav%00.js",
	"app.js%00",
	"%00",
	"....//....//secret.wav",
	"%252e%252e%252fsecret.wav",
}

// TestStaticRejectsTraversal: /static/ serves the embedded assets only.
func TestStaticRejectsTraversal(t *testing.T) {
	e := newAdminEnv(t)
	plantSecrets(t, e.dataDir)
	for _, p := range append(traversalPaths, "../../../../ui/auth.go", "..%2f..%2fui%2fauth.go", "../frontdesk.db", "", "./") {
		// As a signed-in user: a path that leaves /static/ lands on the
		// pages, which must not find anything either.
		res, body := e.do(asAdmin, "GET", "/static/"+p, nil, "")
		refused(t, "/static/"+p, res.StatusCode, body)
	}
	// The assets themselves are served.
	if res, _ := e.do(asAdmin, "GET", "/static/inbox.js", nil, ""); res.StatusCode != http.StatusOK {
		t.Errorf("/static/inbox.js: %d", res.StatusCode)
	}
}

// TestMessageAudioRejectsTraversal: the audio route serves files of the
// messages directory only, whatever the row's file name or the URL's id.
func TestMessageAudioRejectsTraversal(t *testing.T) {
	e := newAdminEnv(t)
	plantSecrets(t, e.dataDir)
	ctx := context.Background()
	if err := e.st.AddBox(ctx, store.Box{Number: "600", Name: "Sales", Kind: store.BoxShared}); err != nil {
		t.Fatal(err)
	}
	names := []string{"../secret.wav", "../../secret.wav", "/etc/passwd", filepath.Join(e.dataDir, "secret.wav"), "..", ".",
		"..\\secret.wav", "sub/../../secret.wav", "secret.wav\x00", "../frontdesk.db", pbx.MessagesDir}
	for _, name := range names {
		id, err := e.st.AddMessage(ctx, store.Message{Box: "600", CallerNumber: "5550000", StartedAt: time.Now(), Audio: name}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{"", "?download=1"} {
			res, body := e.do(asAdmin, "GET", fmt.Sprintf("/api/v1/messages/%d/audio%s", id, q), nil, "")
			refused(t, fmt.Sprintf("audio named %q%s", name, q), res.StatusCode, body)
		}
	}
	for _, p := range traversalPaths {
		res, body := e.do(asAdmin, "GET", "/api/v1/messages/"+p+"/audio", nil, "")
		refused(t, "/api/v1/messages/"+p+"/audio", res.StatusCode, body)
	}
}

// TestGreetingFilesRejectTraversal: a box's or an attendant's greeting is
// served from the greetings directory only, whatever name is stored.
func TestGreetingFilesRejectTraversal(t *testing.T) {
	e := newAdminEnv(t)
	plantSecrets(t, e.dataDir)
	ctx := context.Background()
	if err := e.st.AddBox(ctx, store.Box{Number: "600", Name: "Sales", Kind: store.BoxShared}); err != nil {
		t.Fatal(err)
	}
	// The directory itself, and a directory inside it, are no greeting either.
	if err := os.MkdirAll(filepath.Join(e.dataDir, pbx.GreetingsDir, "sub"), 0o750); err != nil {
		t.Fatal(err)
	}
	names := []string{"../secret.wav", "../../secret.wav", "/etc/passwd", filepath.Join(e.dataDir, "secret.wav"), "..", ".", "/",
		"..\\secret.wav", "secret.wav\x00", "../frontdesk.db", "sub", "missing.wav"}
	if err := e.st.SaveAttendant(ctx, store.Attendant{Number: "800", Name: "Main", Options: map[string]string{}}, false); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		n := name
		if err := e.st.UpdateBox(ctx, "600", store.BoxUpdate{Greeting: &n}); err != nil {
			t.Fatal(err)
		}
		res, body := e.do(asAdmin, "GET", "/api/v1/admin/boxes/600/greeting", nil, "")
		refused(t, fmt.Sprintf("box greeting named %q", name), res.StatusCode, body)

		if err := e.st.SaveAttendant(ctx, store.Attendant{Number: "800", Name: "Main", Greeting: name, AfterHoursGreeting: name,
			Options: map[string]string{}}, true); err != nil {
			t.Fatal(err)
		}
		for _, which := range []string{"", "?which=after_hours"} {
			res, body := e.do(asAdmin, "GET", "/api/v1/admin/attendants/800/greeting"+which, nil, "")
			refused(t, fmt.Sprintf("attendant greeting named %q%s", name, which), res.StatusCode, body)
		}
	}
	for _, p := range traversalPaths {
		for _, route := range []string{"/api/v1/admin/boxes/%s/greeting", "/api/v1/admin/attendants/%s/greeting"} {
			path := fmt.Sprintf(route, p)
			res, body := e.do(asAdmin, "GET", path, nil, "")
			refused(t, path, res.StatusCode, body)
		}
	}
}

// TestUploadsLimitSizeAndType: every upload refuses what is too big, what
// is not a WAV and what is not a multipart form, naming the file field.
func TestUploadsLimitSizeAndType(t *testing.T) {
	e := newAdminEnv(t)
	ctx := context.Background()
	if err := e.st.AddBox(ctx, store.Box{Number: "600", Name: "Sales", Kind: store.BoxShared}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.SaveAttendant(ctx, store.Attendant{Number: "800", Name: "Main", Options: map[string]string{}}, false); err != nil {
		t.Fatal(err)
	}
	var good bytes.Buffer
	if err := media.WriteWAV(&good, media.Audio{Rate: 8000, Samples: make([]int16, 8000)}); err != nil {
		t.Fatal(err)
	}
	uploads := []struct {
		method, path string
		max          int
	}{
		{"PUT", "/api/v1/admin/boxes/600/greeting", maxGreetingUpload},
		{"POST", "/api/v1/admin/attendants/800/greeting", maxAudioUpload},
		{"POST", "/api/v1/admin/music", maxAudioUpload},
	}
	for _, u := range uploads {
		// Too big: a WAV header claiming it all, then more than the limit.
		big := append(append([]byte(nil), good.Bytes()[:44]...), make([]byte, u.max+1)...)
		tests := []struct {
			name string
			body func() ([]byte, string)
		}{
			{"too big", func() ([]byte, string) { return multipartFile(t, "big.wav", big) }},
			{"not a WAV", func() ([]byte, string) {
				return multipartFile(t, "notes.wav", []byte("this is a text file, not audio"))
			}},
			{"an MP3", func() ([]byte, string) {
				return multipartFile(t, "song.mp3", append([]byte("ID3\x04\x00\x00\x00\x00\x00\x00\xff\xfb\x90\x64"), make([]byte, 4000)...))
			}},
			{"empty file", func() ([]byte, string) { return multipartFile(t, "empty.wav", nil) }},
			{"no file field", func() ([]byte, string) {
				return []byte("--B\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--B--\r\n"), "multipart/form-data; boundary=B"
			}},
			{"not a form", func() ([]byte, string) { return good.Bytes(), "audio/wav" }},
			{"JSON", func() ([]byte, string) { return []byte(`{"file":"x.wav"}`), "application/json" }},
		}
		for _, tt := range tests {
			body, ct := tt.body()
			res, data := e.do(asAdmin, u.method, u.path, body, ct)
			switch res.StatusCode {
			case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
			default:
				t.Errorf("%s %s, %s: status %d, want 400, 413 or 415: %.200s", u.method, u.path, tt.name, res.StatusCode, data)
				continue
			}
			if !bytes.Contains(data, []byte(`"error"`)) {
				t.Errorf("%s %s, %s: no error message: %.200s", u.method, u.path, tt.name, data)
			}
		}
		// And a good file is taken.
		body, ct := multipartFile(t, "hello.wav", good.Bytes())
		if res, data := e.do(asAdmin, u.method, u.path, body, ct); res.StatusCode >= 300 {
			t.Errorf("%s %s, a good WAV: status %d: %s", u.method, u.path, res.StatusCode, data)
		}
	}
	// Nothing of the refused uploads is left in the data directory.
	for _, d := range []string{pbx.GreetingsDir, pbx.MusicDir} {
		files, _ := os.ReadDir(filepath.Join(e.dataDir, d))
		for _, f := range files {
			if strings.Contains(f.Name(), "big") || strings.Contains(f.Name(), "notes") || strings.Contains(f.Name(), "song") || strings.HasPrefix(f.Name(), ".tmp") {
				t.Errorf("refused upload left %s/%s", d, f.Name())
			}
		}
	}
}

// TestSessionExpiry: a session idle too long, or older than the absolute
// limit however busy, is refused: 401 on the API, the login page for pages.
func TestSessionExpiry(t *testing.T) {
	tests := []struct {
		name    string
		steps   []time.Duration // activity at each step
		refused bool
	}{
		{"in use", []time.Duration{time.Hour, time.Hour}, false},
		{"just under idle", []time.Duration{sessionIdle - time.Minute}, false},
		{"idle too long", []time.Duration{sessionIdle + time.Minute}, true},
		{"busy past the absolute limit", append(repeat(6*time.Hour, int(store.SessionMaxAge/(6*time.Hour))), time.Minute), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newAuthEnv(t)
			b := e.browser()
			if res := b.login("alice", alicePassword); res.StatusCode != http.StatusSeeOther {
				t.Fatalf("login: %d %s", res.StatusCode, res.body)
			}
			var api, page response
			for _, d := range tt.steps {
				e.advance(d)
				api = b.do("GET", "/api/v1/me", nil, nil)
				if api.StatusCode != http.StatusOK {
					break
				}
			}
			page = b.do("GET", "/audit", nil, nil)
			if !tt.refused {
				if api.StatusCode != http.StatusOK || page.StatusCode != http.StatusOK {
					t.Fatalf("live session refused: API %d, page %d", api.StatusCode, page.StatusCode)
				}
				return
			}
			if api.StatusCode != http.StatusUnauthorized {
				t.Errorf("expired session on the API: %d %s, want 401", api.StatusCode, api.body)
			}
			if page.StatusCode != http.StatusSeeOther || !strings.HasPrefix(page.Header.Get("Location"), "/login") {
				t.Errorf("expired session on a page: %d to %q, want the login page", page.StatusCode, page.Header.Get("Location"))
			}
			// A state change with the expired session and its old CSRF token is refused too.
			if res := b.api("POST", "/api/v1/me/logout-all", "", true); res.StatusCode != http.StatusUnauthorized {
				t.Errorf("POST with an expired session: %d, want 401", res.StatusCode)
			}
		})
	}
}

func repeat(d time.Duration, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}
