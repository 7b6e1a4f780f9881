package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/frontdesk-pbx/frontdesk/media"
	"github.com/frontdesk-pbx/frontdesk/pbx"
	"github.com/frontdesk-pbx/frontdesk/pbx/sipauth"
	"github.com/frontdesk-pbx/frontdesk/store"
	"github.com/frontdesk-pbx/frontdesk/store/backup"
	"github.com/frontdesk-pbx/frontdesk/store/secret"
)

const (
	adminPass  = "admin-password-1"
	memberPass = "member-password-1"
	asAdmin    = "session:root"
	asMember   = "session:member"
)

// adminEnv is a server over a real store with an admin and a member.
type adminEnv struct {
	t       *testing.T
	st      *store.Store
	dataDir string
	h       http.Handler
	// sessions by user name: a browser session each, so most requests skip
	// Basic auth's deliberately slow password hash.
	sessions map[string][2]string // token, CSRF token
}

func newAdminEnv(t *testing.T) *adminEnv {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sessions := map[string][2]string{}
	for _, u := range []struct {
		name, pass string
		admin      bool
	}{{"root", adminPass, true}, {"member", memberPass, false}} {
		h, err := secret.Hash(u.pass)
		if err != nil {
			t.Fatal(err)
		}
		added, err := st.AddUser(context.Background(), store.User{Name: u.name, PasswordHash: h, IsAdmin: u.admin})
		if err != nil {
			t.Fatal(err)
		}
		token, csrf, err := st.CreateSession(context.Background(), added.ID, "test", "test", time.Now(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		sessions[u.name] = [2]string{token, csrf}
	}
	s := New(st, slog.New(slog.DiscardHandler), "test", Options{DataDir: dir, Engine: "test-engine"})
	return &adminEnv{t: t, st: st, dataDir: dir, h: s.Handler(), sessions: sessions}
}

// do sends a request as user and returns the response with its body read.
// user is "name:password" for HTTP Basic, "session:name" for the user's
// browser session (with its CSRF token), "" for nobody.
func (e *adminEnv) do(user, method, path string, body any, contentType string) (*http.Response, []byte) {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		r, contentType = bytes.NewReader(j), "application/json"
	}
	req := httptest.NewRequest(method, path, r)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if name, ok := strings.CutPrefix(user, "session:"); ok {
		ss := e.sessions[name]
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: ss[0]})
		req.Header.Set("X-CSRF-Token", ss[1])
	} else if user != "" {
		name, pass, _ := strings.Cut(user, ":")
		req.SetBasicAuth(name, pass)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	res := w.Result()
	data, _ := io.ReadAll(res.Body)
	return res, data
}

// admin sends a JSON request as the admin and wants status want.
func (e *adminEnv) admin(method, path string, body any, want int) []byte {
	e.t.Helper()
	res, data := e.do(asAdmin, method, path, body, "")
	if res.StatusCode != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, res.StatusCode, want, data)
	}
	return data
}

func decode[T any](t *testing.T, data []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	return v
}

func TestAdminEndpointsRefuseNonAdmins(t *testing.T) {
	e := newAdminEnv(t)
	e.admin("POST", "/api/v1/admin/extensions", map[string]any{"number": "101", "name": "Desk"}, http.StatusCreated)
	e.admin("POST", "/api/v1/admin/boxes", map[string]any{"number": "600", "name": "Sales", "pin": "1234"}, http.StatusCreated)
	for _, tc := range []struct{ method, path string }{
		{"GET", "/api/v1/admin/extensions"},
		{"POST", "/api/v1/admin/extensions"},
		{"GET", "/api/v1/admin/extensions/101"},
		{"PUT", "/api/v1/admin/extensions/101"},
		{"DELETE", "/api/v1/admin/extensions/101"},
		{"GET", "/api/v1/admin/users"},
		{"POST", "/api/v1/admin/users"},
		{"GET", "/api/v1/admin/users/1"},
		{"PUT", "/api/v1/admin/users/1"},
		{"DELETE", "/api/v1/admin/users/1"},
		{"POST", "/api/v1/admin/users/1/reset-password"},
		{"POST", "/api/v1/admin/users/1/unlock"},
		{"POST", "/api/v1/admin/users/1/logout-all"},
		{"GET", "/api/v1/admin/boxes"},
		{"POST", "/api/v1/admin/boxes"},
		{"GET", "/api/v1/admin/boxes/600"},
		{"PUT", "/api/v1/admin/boxes/600"},
		{"DELETE", "/api/v1/admin/boxes/600"},
		{"PUT", "/api/v1/admin/boxes/600/members"},
		{"DELETE", "/api/v1/admin/boxes/600/members/101"},
		{"GET", "/api/v1/admin/boxes/600/users"},
		{"PUT", "/api/v1/admin/boxes/600/users"},
		{"DELETE", "/api/v1/admin/boxes/600/users/2"},
		{"POST", "/api/v1/admin/boxes/600/pin"},
		{"GET", "/api/v1/admin/boxes/600/greeting"},
		{"PUT", "/api/v1/admin/boxes/600/greeting"},
		{"POST", "/api/v1/admin/boxes/600/greeting/say"},
		{"DELETE", "/api/v1/admin/boxes/600/greeting"},
		{"GET", "/api/v1/admin/boxes/600/inbox"},
		{"PUT", "/api/v1/admin/boxes/600/inbox"},
		{"GET", "/api/v1/admin/smtp"},
		{"PUT", "/api/v1/admin/smtp"},
		{"POST", "/api/v1/admin/smtp/test"},
		{"GET", "/api/v1/admin/status"},
		{"GET", "/api/v1/admin/devices"},
		{"GET", "/api/v1/admin/calls"},
		{"GET", "/api/v1/admin/backup"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			res, data := e.do(asMember, tc.method, tc.path, []byte(`{}`), "application/json")
			if res.StatusCode != http.StatusForbidden {
				t.Errorf("member: status %d, want 403: %s", res.StatusCode, data)
			}
			if tc.method == "GET" && !strings.HasSuffix(tc.path, "/greeting") {
				if res, data := e.do(asAdmin, tc.method, tc.path, nil, ""); res.StatusCode != http.StatusOK {
					t.Errorf("admin: status %d, want 200: %s", res.StatusCode, data)
				}
			}
			if res, _ := e.do("", tc.method, tc.path, []byte(`{}`), "application/json"); res.StatusCode != http.StatusUnauthorized {
				t.Errorf("nobody: status %d, want 401", res.StatusCode)
			}
		})
	}
	// Scripts with HTTP Basic are refused the same way.
	for _, p := range []string{"/api/v1/admin/extensions", "/api/v1/admin/status"} {
		if res, _ := e.do("member:"+memberPass, "GET", p, nil, ""); res.StatusCode != http.StatusForbidden {
			t.Errorf("member with Basic auth: GET %s: status %d, want 403", p, res.StatusCode)
		}
	}
	if res, data := e.do("root:"+adminPass, "GET", "/api/v1/admin/extensions", nil, ""); res.StatusCode != http.StatusOK {
		t.Errorf("admin with Basic auth: %d %s", res.StatusCode, data)
	}
	// Nothing changed.
	if _, err := e.st.Extension(context.Background(), "101"); err != nil {
		t.Errorf("extension 101 after the refused requests: %v", err)
	}
	// The pages too: a member is refused, an admin gets the page.
	for _, p := range []string{"/admin", "/admin/extensions", "/admin/users", "/admin/boxes", "/admin/boxes/600", "/admin/smtp"} {
		if res, _ := e.do(asMember, "GET", p, nil, ""); res.StatusCode != http.StatusForbidden {
			t.Errorf("member GET %s: status %d, want 403", p, res.StatusCode)
		}
		if res, data := e.do(asAdmin, "GET", p, nil, ""); res.StatusCode != http.StatusOK || !strings.Contains(string(data), `id="admin-menu"`) {
			t.Errorf("admin GET %s: status %d", p, res.StatusCode)
		}
	}
}

func TestAdminValidationNamesTheField(t *testing.T) {
	e := newAdminEnv(t)
	e.admin("POST", "/api/v1/admin/boxes", map[string]any{"number": "600", "name": "Sales", "pin": "1234"}, http.StatusCreated)
	for _, tc := range []struct {
		name         string
		method, path string
		body         any
		field        string
	}{
		{"bad extension number", "POST", "/api/v1/admin/extensions", map[string]any{"number": "0101", "name": "X"}, "number"},
		{"extension without name", "POST", "/api/v1/admin/extensions", map[string]any{"number": "101"}, "name"},
		{"short secret", "POST", "/api/v1/admin/extensions", map[string]any{"number": "101", "name": "X", "secret": "short"}, "secret"},
		{"bad PIN", "POST", "/api/v1/admin/extensions", map[string]any{"number": "101", "name": "X", "pin": "12"}, "pin"},
		{"ring seconds", "POST", "/api/v1/admin/extensions", map[string]any{"number": "101", "name": "X", "ring_seconds": 700}, "ring_seconds"},
		{"ring seconds not a number", "POST", "/api/v1/admin/extensions", map[string]any{"number": "101", "name": "X", "ring_seconds": "ten"}, "ring_seconds"},
		{"outbound", "POST", "/api/v1/admin/extensions", map[string]any{"number": "101", "name": "X", "outbound": "moon"}, "outbound"},
		{"forward to a missing box", "POST", "/api/v1/admin/extensions", map[string]any{"number": "101", "name": "X", "forward_busy": "vm:999"}, "forward_busy"},
		{"box number taken", "POST", "/api/v1/admin/boxes", map[string]any{"number": "600", "name": "Again", "pin": "1234"}, "number"},
		{"box without PIN", "POST", "/api/v1/admin/boxes", map[string]any{"number": "601", "name": "Support"}, "pin"},
		{"box email", "POST", "/api/v1/admin/boxes", map[string]any{"number": "601", "name": "S", "pin": "1234", "emails": []string{"not an address"}}, "emails"},
		{"box max seconds", "PUT", "/api/v1/admin/boxes/600", map[string]any{"max_seconds": 2}, "max_seconds"},
		{"box silence", "PUT", "/api/v1/admin/boxes/600", map[string]any{"silence_seconds": 99}, "silence_seconds"},
		{"box transcribe language", "PUT", "/api/v1/admin/boxes/600", map[string]any{"transcribe_language": "English"}, "transcribe_language"},
		{"box operator", "PUT", "/api/v1/admin/boxes/600", map[string]any{"operator": "nowhere"}, "operator"},
		{"member access", "PUT", "/api/v1/admin/boxes/600/members", map[string]any{"extension": "101", "access": "all"}, "access"},
		{"member not an extension", "PUT", "/api/v1/admin/boxes/600/members", map[string]any{"extension": "555", "access": "listen"}, "extension"},
		{"PIN reset", "POST", "/api/v1/admin/boxes/600/pin", map[string]any{"pin": "12ab"}, "pin"},
		{"greeting text", "POST", "/api/v1/admin/boxes/600/greeting/say", map[string]any{"text": " "}, "text"},
		{"user name", "POST", "/api/v1/admin/users", map[string]any{"name": "bad name!"}, "name"},
		{"user email", "POST", "/api/v1/admin/users", map[string]any{"name": "carol", "email": "nope"}, "email"},
		{"user password", "POST", "/api/v1/admin/users", map[string]any{"name": "carol", "password": "short"}, "password"},
		{"user extension", "POST", "/api/v1/admin/users", map[string]any{"name": "carol", "extension": "999"}, "extension"},
		{"user taken", "POST", "/api/v1/admin/users", map[string]any{"name": "member"}, "name"},
		{"smtp security", "PUT", "/api/v1/admin/smtp", map[string]any{"host": "mail.example.com", "security": "ssl", "from": "pbx@example.com"}, "security"},
		{"smtp from", "PUT", "/api/v1/admin/smtp", map[string]any{"host": "mail.example.com", "security": "tls", "from": "not an address"}, "from"},
		{"smtp host", "PUT", "/api/v1/admin/smtp", map[string]any{"from": "pbx@example.com"}, "host"},
		{"smtp test address", "POST", "/api/v1/admin/smtp/test", map[string]any{"address": "nobody"}, "address"},
		{"inbox assign mode", "PUT", "/api/v1/admin/boxes/600/inbox", map[string]any{"assign_mode": "random", "trash_days": 30}, "assign_mode"},
		{"inbox trash days", "PUT", "/api/v1/admin/boxes/600/inbox", map[string]any{"assign_mode": "none", "trash_days": 0}, "trash_days"},
		{"inbox rota user", "PUT", "/api/v1/admin/boxes/600/inbox", map[string]any{"assign_mode": "rota", "trash_days": 30, "rota": map[string]int{"1": 99}}, "rota"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, data := e.do(asAdmin, tc.method, tc.path, tc.body, "")
			if res.StatusCode != http.StatusBadRequest && res.StatusCode != http.StatusConflict {
				t.Fatalf("status %d, want 400 (or 409): %s", res.StatusCode, data)
			}
			fe := decode[apiError](t, data)
			if fe.Error == "" || fe.Fields[tc.field] == "" {
				t.Errorf("want an error naming field %q, got %s", tc.field, data)
			}
		})
	}
	if exts, _ := e.st.Extensions(context.Background()); len(exts) != 0 {
		t.Errorf("refused requests added extensions: %v", exts)
	}
}

func TestAdminAgreesWithCLI(t *testing.T) {
	e := newAdminEnv(t)
	ctx := context.Background()

	// An extension added through the API: the generated secret is shown once
	// and is the one phones authenticate with; a PIN is generated for its box.
	saved := decode[extensionSaved](t, e.admin("POST", "/api/v1/admin/extensions",
		map[string]any{"number": "101", "name": "Front desk", "ring_seconds": 30, "outbound": "local"}, http.StatusCreated))
	if len(saved.Secret) < pbx.MinSecretLength || !pbx.ValidPIN(saved.PIN) {
		t.Fatalf("generated secret %q / PIN %q", saved.Secret, saved.PIN)
	}
	ext, err := e.st.Extension(ctx, "101")
	if err != nil {
		t.Fatal(err)
	}
	if h := sipauth.HashSecret("101", sipauth.DefaultRealm, saved.Secret); ext.HA1SHA256 != h.HA1SHA256 {
		t.Error("the stored hash is not the generated secret's")
	}
	if ext.RingSeconds != 30 || ext.Outbound != "local" || !ext.Voicemail {
		t.Errorf("extension as stored: %+v", ext)
	}
	list := e.admin("GET", "/api/v1/admin/extensions", nil, http.StatusOK)
	if strings.Contains(string(list), saved.Secret) || strings.Contains(string(list), ext.HA1MD5) {
		t.Error("the extension list shows the secret or its hash")
	}

	// A shared box changed through the API reads back the same through the
	// store functions the CLI uses.
	e.admin("POST", "/api/v1/admin/boxes", map[string]any{"number": "600", "name": "Sales", "pin": "4321",
		"members": []string{"101"}, "access": "download"}, http.StatusCreated)
	e.admin("PUT", "/api/v1/admin/boxes/600", map[string]any{"name": "Sales team", "emails": []string{"Sales <sales@example.com>", " b@example.com "},
		"email_attach": false, "operator": "ext:101", "max_seconds": 240, "silence_seconds": 0, "transcribe": false, "transcribe_language": "de"}, http.StatusOK)
	b, err := e.st.Box(ctx, "600")
	if err != nil {
		t.Fatal(err)
	}
	want := store.Box{Number: "600", Name: "Sales team", Kind: store.BoxShared, Language: "en", HasPIN: true,
		Emails: []string{"sales@example.com", "b@example.com"}, EmailAttach: false, Operator: "ext:101", MaxSeconds: 240,
		SilenceSeconds: 0, Transcribe: false, TranscribeLang: "de",
		Members: []store.Member{{Extension: "101", Access: "download", Lamp: true}}}
	b.PINHash = ""
	if !boxEqual(b, want) {
		t.Errorf("box after the API change:\n got %+v\nwant %+v", b, want)
	}
	// The CLI's change (pbx.BoxChange, what `vm set` builds) shows in the API.
	name, maxS := "Sales (CLI)", 60
	u, err := pbx.BoxChange{Name: &name, MaxSeconds: &maxS}.Update()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.UpdateBox(ctx, "600", u); err != nil {
		t.Fatal(err)
	}
	got := decode[adminBox](t, e.admin("GET", "/api/v1/admin/boxes/600", nil, http.StatusOK))
	if got.Name != name || got.MaxSeconds != maxS || got.Operator != "ext:101" {
		t.Errorf("API after the CLI change: %+v", got.Box)
	}
	// The same bad value is refused by both with the same words.
	bad := 1
	_, cliErr := pbx.BoxChange{MaxSeconds: &bad}.Update()
	res, data := e.do(asAdmin, "PUT", "/api/v1/admin/boxes/600", map[string]any{"max_seconds": 1}, "")
	if res.StatusCode != http.StatusBadRequest || cliErr == nil || decode[apiError](t, data).Error != cliErr.Error() {
		t.Errorf("CLI says %v, API says %d %s", cliErr, res.StatusCode, data)
	}

	// PIN reset: a generated PIN works, and the lockout is lifted.
	if err := e.st.LockBox(ctx, "600", ext.CreatedAt.AddDate(1, 0, 0)); err != nil {
		t.Fatal(err)
	}
	pin := decode[map[string]any](t, e.admin("POST", "/api/v1/admin/boxes/600/pin", nil, http.StatusOK))
	b, _ = e.st.Box(ctx, "600")
	if p, _ := pin["pin"].(string); !pbx.ValidPIN(p) || !secret.Check(b.PINHash, p) || !b.LockedUntil.IsZero() {
		t.Errorf("after the PIN reset: pin %v, locked until %v", pin["pin"], b.LockedUntil)
	}

	// Every change is audited with the admin as the actor.
	log, err := e.st.AuditLog(ctx, 50)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, a := range log {
		if a.Actor == "user:root" {
			actions = append(actions, a.Action)
		}
	}
	for _, a := range []string{"ext.added", "vm.add", "vm.set", "vm.pin_reset"} {
		if !slices.Contains(actions, a) {
			t.Errorf("no %s audit row by user:root in %v", a, actions)
		}
	}
}

func boxEqual(a, b store.Box) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// multipartFile builds a form with one file field.
func multipartFile(t *testing.T, name string, content []byte) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	f, err := w.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(content)
	w.Close()
	return buf.Bytes(), w.FormDataContentType()
}

func TestAdminGreeting(t *testing.T) {
	e := newAdminEnv(t)
	e.admin("POST", "/api/v1/admin/boxes", map[string]any{"number": "600", "name": "Sales", "pin": "1234"}, http.StatusCreated)
	as := asAdmin
	for _, tc := range []struct {
		name    string
		content []byte
	}{
		{"not a WAV", []byte("this is a text file, not audio")},
		{"too big", make([]byte, 11<<20)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, ct := multipartFile(t, "greeting.wav", tc.content)
			res, data := e.do(as, "PUT", "/api/v1/admin/boxes/600/greeting", body, ct)
			if res.StatusCode != http.StatusBadRequest || decode[apiError](t, data).Fields["file"] == "" {
				t.Errorf("status %d: %s; want 400 naming the file", res.StatusCode, data)
			}
		})
	}
	// A real WAV (16 kHz, 1 s) is stored as 8 kHz like `vm greeting set`.
	var wav bytes.Buffer
	if err := media.WriteWAV(&wav, media.Audio{Rate: 16000, Samples: make([]int16, 16000)}); err != nil {
		t.Fatal(err)
	}
	body, ct := multipartFile(t, "hello.wav", wav.Bytes())
	if res, data := e.do(as, "PUT", "/api/v1/admin/boxes/600/greeting", body, ct); res.StatusCode != http.StatusOK {
		t.Fatalf("upload: %d %s", res.StatusCode, data)
	}
	b, _ := e.st.Box(context.Background(), "600")
	if b.Greeting == "" {
		t.Fatal("no greeting recorded")
	}
	a, err := media.ReadWAVFile(filepath.Join(e.dataDir, pbx.GreetingsDir, b.Greeting))
	if err != nil || a.Rate != media.SampleRate {
		t.Fatalf("stored greeting: rate %d, %v", a.Rate, err)
	}
	res, data := e.do(as, "GET", "/api/v1/admin/boxes/600/greeting", nil, "")
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "audio/wav" {
		t.Fatalf("play back: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if _, err := media.ReadWAV(bytes.NewReader(data)); err != nil {
		t.Errorf("played back greeting: %v", err)
	}
	e.admin("DELETE", "/api/v1/admin/boxes/600/greeting", nil, http.StatusNoContent)
	if b, _ := e.st.Box(context.Background(), "600"); b.Greeting != "" {
		t.Errorf("greeting after removal: %q", b.Greeting)
	}
	if _, err := os.Stat(filepath.Join(e.dataDir, pbx.GreetingsDir, b.Greeting)); !os.IsNotExist(err) {
		t.Errorf("the removed greeting's file is still there: %v", err)
	}
	e.admin("GET", "/api/v1/admin/boxes/600/greeting", nil, http.StatusNotFound)
}

func TestAdminBackupDownload(t *testing.T) {
	e := newAdminEnv(t)
	e.admin("POST", "/api/v1/admin/extensions", map[string]any{"number": "101", "name": "Desk"}, http.StatusCreated)
	res, data := e.do(asAdmin, "GET", "/api/v1/admin/backup", nil, "")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", res.StatusCode, data)
	}
	if cd := res.Header.Get("Content-Disposition"); !regexp.MustCompile(`filename="frontdesk-backup-\d{8}-\d{6}\.tar\.gz"`).MatchString(cd) {
		t.Errorf("Content-Disposition %q", cd)
	}
	m, err := backup.Verify(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("the downloaded backup does not verify: %v", err)
	}
	if m.SchemaVersion != store.SchemaVersion() {
		t.Errorf("backup schema %d, want %d", m.SchemaVersion, store.SchemaVersion())
	}
	log, _ := e.st.AuditLog(context.Background(), 10)
	if len(log) == 0 || log[0].Action != "backup.download" || log[0].Actor != "user:root" {
		t.Errorf("newest audit row %+v, want backup.download by user:root", log)
	}
}

func TestAdminStatusAndUsers(t *testing.T) {
	e := newAdminEnv(t)
	st := decode[adminStatusView](t, e.admin("GET", "/api/v1/admin/status", nil, http.StatusOK))
	if st.Version != "test" || st.Engine != "test-engine" || st.DiskTotal == 0 || st.DatabaseBytes == 0 {
		t.Errorf("status: %+v", st)
	}
	// A user added with a generated password must change it; a reset does
	// the same and ends their sessions.
	saved := decode[userSaved](t, e.admin("POST", "/api/v1/admin/users", map[string]any{"name": "carol", "email": "carol@example.com"}, http.StatusCreated))
	if saved.Password == "" || !saved.User.MustChangePassword {
		t.Errorf("added user: %+v", saved)
	}
	u, err := e.st.UserByName(context.Background(), "carol")
	if err != nil || !secret.Check(u.PasswordHash, saved.Password) {
		t.Fatalf("carol's password: %v", err)
	}
	reset := decode[userSaved](t, e.admin("POST", "/api/v1/admin/users/"+itoa(u.ID)+"/reset-password", nil, http.StatusOK))
	u, _ = e.st.UserByID(context.Background(), u.ID)
	if reset.Password == "" || reset.Password == saved.Password || !secret.Check(u.PasswordHash, reset.Password) || !u.MustChangePassword {
		t.Errorf("after reset: %+v", reset)
	}
	// The last admin stays an admin.
	root, _ := e.st.UserByName(context.Background(), "root")
	res, data := e.do(asAdmin, "PUT", "/api/v1/admin/users/"+itoa(root.ID), map[string]any{"is_admin": false}, "")
	if res.StatusCode != http.StatusBadRequest || decode[apiError](t, data).Fields["is_admin"] == "" {
		t.Errorf("taking admin from oneself: %d %s", res.StatusCode, data)
	}
	e.admin("DELETE", "/api/v1/admin/users/"+itoa(u.ID), nil, http.StatusNoContent)
}

func itoa(n int64) string { return strings.TrimSpace(string(must(json.Marshal(n)))) }

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
