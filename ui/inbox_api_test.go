package ui_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/frontdesk-pbx/frontdesk/media"
	"github.com/frontdesk-pbx/frontdesk/pbx"
	"github.com/frontdesk-pbx/frontdesk/store"
	"github.com/frontdesk-pbx/frontdesk/ui"
)

// inboxEnv is a server on a real store with users of every role:
//
//	admin                 admin
//	listen..manage        that access to box 600 (and listen on 602, a transfer target)
//	listen2               listen on 600 (a second plain member)
//	other                 manage on box 601 only
//	nobody                no access
type inboxEnv struct {
	t      *testing.T
	st     *store.Store
	srv    *ui.Server
	ts     *httptest.Server
	dir    string
	users  map[string]store.User
	dialer *fakeDialer
	seq    int
}

// testPassword is every test user's password.
const testPassword = "correct horse battery"

// cheapHash is a valid argon2id PHC string with tiny parameters, so the
// many Basic-auth requests of the matrix stay fast.
func cheapHash(password string) string {
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte(password), salt, 1, 64, 1, 32)
	return fmt.Sprintf("$argon2id$v=%d$m=64,t=1,p=1$%s$%s", argon2.Version,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// fakeDialer logs a call row like the PBX does and remembers what it was asked.
type fakeDialer struct {
	st    *store.Store
	mu    sync.Mutex
	calls []string
	err   error
}

func (d *fakeDialer) fail(err error) {
	d.mu.Lock()
	d.err = err
	d.mu.Unlock()
}

func (d *fakeDialer) ClickToCall(ctx context.Context, extension, number, actor string) (int64, error) {
	d.mu.Lock()
	d.calls = append(d.calls, extension+" -> "+number+" by "+actor)
	err := d.err
	d.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return d.st.StartCall(ctx, store.Call{SIPCallID: "click-to-call", FromNumber: extension, ToNumber: number,
		StartedAt: time.Now(), Status: store.CallRinging})
}

func newInboxEnv(t *testing.T) *inboxEnv { return newInboxEnvWith(t, ui.Options{}) }

// newInboxEnvWith takes options besides DataDir (which it sets).
func newInboxEnvWith(t *testing.T, opts ui.Options) *inboxEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := os.MkdirAll(filepath.Join(dir, pbx.MessagesDir), 0o755); err != nil {
		t.Fatal(err)
	}
	e := &inboxEnv{t: t, st: st, dir: dir, users: map[string]store.User{}}
	for _, b := range []string{"600", "601", "602"} {
		if err := st.AddBox(ctx, store.Box{Number: b, Name: "Box " + b, Kind: store.BoxShared}); err != nil {
			t.Fatal(err)
		}
	}
	roles := []struct {
		name  string
		admin bool
		boxes map[string]store.Access
	}{
		{"admin", true, nil},
		{"listen", false, map[string]store.Access{"600": store.AccessListen, "602": store.AccessListen}},
		{"download", false, map[string]store.Access{"600": store.AccessDownload, "602": store.AccessListen}},
		{"delete", false, map[string]store.Access{"600": store.AccessDelete, "602": store.AccessListen}},
		{"manage", false, map[string]store.Access{"600": store.AccessManage, "602": store.AccessListen}},
		{"listen2", false, map[string]store.Access{"600": store.AccessListen}},
		{"other", false, map[string]store.Access{"601": store.AccessManage}},
		{"nobody", false, nil},
	}
	for i, r := range roles {
		ext := strconv.Itoa(101 + i)
		if err := st.AddExtension(ctx, store.Extension{Number: ext, Name: r.name}, ""); err != nil {
			t.Fatal(err)
		}
		u, err := st.AddUser(ctx, store.User{Name: r.name, PasswordHash: cheapHash(testPassword), IsAdmin: r.admin, Extension: ext})
		if err != nil {
			t.Fatal(err)
		}
		for box, a := range r.boxes {
			if err := st.SetBoxUser(ctx, box, u.ID, a); err != nil {
				t.Fatal(err)
			}
		}
		e.users[r.name] = u
	}
	opts.DataDir = dir
	e.srv = ui.New(st, slog.New(slog.DiscardHandler), "test", opts)
	e.dialer = &fakeDialer{st: st}
	e.srv.SetDialer(e.dialer)
	e.ts = httptest.NewServer(e.srv.Handler())
	t.Cleanup(e.ts.Close)
	return e
}

// wav is the test recording: a second of a ramp, so byte ranges differ.
func testWAV() []byte {
	a := media.Audio{Rate: 8000, Samples: make([]int16, 8000)}
	for i := range a.Samples {
		a.Samples[i] = int16(i * 7)
	}
	var b bytes.Buffer
	if err := media.WriteWAV(&b, a); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// addMessage stores a message in box with its audio file; each has its
// own caller, so no two share a conversation.
func (e *inboxEnv) addMessage(box string) int64 {
	e.t.Helper()
	e.seq++
	name := fmt.Sprintf("msg-%d.wav", e.seq)
	if err := os.WriteFile(filepath.Join(e.dir, pbx.MessagesDir, name), testWAV(), 0o644); err != nil {
		e.t.Fatal(err)
	}
	id, err := e.st.AddMessage(context.Background(), store.Message{Box: box, CallerNumber: fmt.Sprintf("555%04d", e.seq),
		CalledNumber: box, StartedAt: time.Now().Add(-time.Minute), Duration: 1, Audio: name}, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// response is what a request answered.
type response struct {
	code   int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (r response) errorText() string {
	var e struct {
		Error string `json:"error"`
	}
	json.Unmarshal(r.body, &e)
	return e.Error
}

// do sends a request as user (HTTP Basic; "" for no credentials).
func (e *inboxEnv) do(user, method, path string, body any, header ...string) response {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.ts.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if user != "" {
		req.SetBasicAuth(user, testPassword)
	}
	res, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{code: res.StatusCode, header: res.Header, body: b}
}

func (e *inboxEnv) system() store.Actor { return store.Actor{Name: "system", Manager: true} }

// TestInboxPermissionMatrix: every role against every action on a message
// in box 600, allowed (2xx) or refused (403) exactly as the design says.
func TestInboxPermissionMatrix(t *testing.T) {
	e := newInboxEnv(t)
	ctx := context.Background()
	levels := map[string]store.Access{
		"admin": store.AccessManage, "listen": store.AccessListen, "download": store.AccessDownload,
		"delete": store.AccessDelete, "manage": store.AccessManage, "other": store.AccessNone, "nobody": store.AccessNone,
	}
	assignee := e.users["listen2"].ID
	actions := []struct {
		name   string
		need   store.Access
		method string
		path   string // %d is the message id
		body   any
		prep   func(id int64) // puts the message in the state the action needs
	}{
		{"list", store.AccessListen, "GET", "/api/v1/messages?box=600", nil, nil},
		{"detail", store.AccessListen, "GET", "/api/v1/messages/%d", nil, nil},
		{"audio", store.AccessListen, "GET", "/api/v1/messages/%d/audio", nil, nil},
		{"download", store.AccessDownload, "GET", "/api/v1/messages/%d/audio?download=1", nil, nil},
		{"claim", store.AccessListen, "POST", "/api/v1/messages/%d/claim", nil, nil},
		{"assign", store.AccessListen, "POST", "/api/v1/messages/%d/assign", map[string]any{"user_id": assignee}, nil},
		{"return", store.AccessListen, "POST", "/api/v1/messages/%d/return", nil, nil},
		{"progress", store.AccessListen, "POST", "/api/v1/messages/%d/progress", nil, nil},
		{"done", store.AccessListen, "POST", "/api/v1/messages/%d/done", map[string]any{"note": "sorted"}, nil},
		{"reopen", store.AccessListen, "POST", "/api/v1/messages/%d/reopen", nil, func(id int64) {
			if _, err := e.st.MarkDone(ctx, e.system(), id, ""); err != nil {
				t.Fatal(err)
			}
		}},
		{"note", store.AccessListen, "POST", "/api/v1/messages/%d/note", map[string]any{"text": "rang back, no answer"}, nil},
		{"played", store.AccessListen, "POST", "/api/v1/messages/%d/played", map[string]any{"played": true}, nil},
		{"unplayed", store.AccessListen, "POST", "/api/v1/messages/%d/played", map[string]any{"played": false}, nil},
		{"forward", store.AccessDownload, "POST", "/api/v1/messages/%d/forward", map[string]any{"address": "boss@example.com"}, nil},
		{"callback", store.AccessListen, "POST", "/api/v1/messages/%d/callback", map[string]any{}, nil},
		{"transfer", store.AccessListen, "POST", "/api/v1/messages/%d/transfer", map[string]any{"box": "602"}, nil},
		{"trash", store.AccessDelete, "POST", "/api/v1/messages/%d/trash", nil, nil},
		{"restore", store.AccessDelete, "POST", "/api/v1/messages/%d/restore", nil, func(id int64) {
			if _, err := e.st.Trash(ctx, e.system(), id); err != nil {
				t.Fatal(err)
			}
		}},
		{"purge", store.AccessDelete, "DELETE", "/api/v1/messages/%d", nil, func(id int64) {
			if _, err := e.st.Trash(ctx, e.system(), id); err != nil {
				t.Fatal(err)
			}
		}},
		{"assignees", store.AccessListen, "GET", "/api/v1/boxes/600/assignees", nil, nil},
		{"audit", store.AccessListen, "GET", "/api/v1/audit?box=600", nil, nil},
	}
	for _, role := range []string{"admin", "listen", "download", "delete", "manage", "other", "nobody"} {
		for _, a := range actions {
			t.Run(role+"/"+a.name, func(t *testing.T) {
				id := e.addMessage("600")
				if a.prep != nil {
					a.prep(id)
				}
				path := a.path
				if strings.Contains(path, "%d") {
					path = fmt.Sprintf(path, id)
				}
				r := e.do(role, a.method, path, a.body)
				allowed := levels[role] >= a.need
				switch {
				case allowed && (r.code < 200 || r.code > 299):
					t.Fatalf("%s %s as %s: %d %s, want 2xx", a.method, path, role, r.code, r.body)
				case !allowed && r.code != http.StatusForbidden:
					t.Fatalf("%s %s as %s: %d %s, want 403", a.method, path, role, r.code, r.body)
				}
			})
		}
	}
	// Nothing about box 600 leaks to someone without access to it.
	for _, role := range []string{"other", "nobody"} {
		var page struct {
			Items []store.InboxItem `json:"items"`
		}
		r := e.do(role, "GET", "/api/v1/messages", nil)
		if r.code != http.StatusOK {
			t.Fatalf("list as %s: %d %s", role, r.code, r.body)
		}
		r.json(t, &page)
		for _, it := range page.Items {
			if it.Box == "600" {
				t.Errorf("%s sees message %d of box 600", role, it.ID)
			}
		}
		var audit struct {
			Items []store.AuditEntry `json:"items"`
		}
		e.do(role, "GET", "/api/v1/audit", nil).json(t, &audit)
		for _, row := range audit.Items {
			if row.Box != "601" {
				t.Errorf("%s sees audit row %+v", role, row)
			}
		}
	}
}

func TestInboxRefusals(t *testing.T) {
	e := newInboxEnv(t)
	id := e.addMessage("600")
	for _, tc := range []struct {
		name, user, method, path string
		body                     any
		code                     int
		want                     string // in the error
	}{
		{"made-up inbox", "listen", "GET", "/api/v1/messages?box=999", nil, 403, "you don't have access to that inbox"},
		{"another inbox's message", "other", "GET", fmt.Sprintf("/api/v1/messages/%d", id), nil, 403, "you don't have access to that inbox"},
		{"unknown message", "admin", "GET", "/api/v1/messages/999999", nil, 404, "doesn't exist"},
		{"bad id", "admin", "GET", "/api/v1/messages/abc", nil, 400, "id"},
		{"bad view", "listen", "GET", "/api/v1/messages?view=inbox", nil, 400, "view"},
		{"bad from", "listen", "GET", "/api/v1/messages?from=yesterday", nil, 400, "from"},
		{"bad limit", "listen", "GET", "/api/v1/messages?limit=0", nil, 400, "limit"},
		{"bad audit to", "admin", "GET", "/api/v1/audit?to=soon", nil, 400, "to"},
		{"no login", "", "GET", "/api/v1/messages", nil, 401, ""},
		{"transfer to a box without access", "listen2", "POST", fmt.Sprintf("/api/v1/messages/%d/transfer", id), map[string]any{"box": "601"}, 403, "access"},
		{"transfer to the same box", "listen", "POST", fmt.Sprintf("/api/v1/messages/%d/transfer", id), map[string]any{"box": "600"}, 400, "already"},
		{"assign to an outsider", "manage", "POST", fmt.Sprintf("/api/v1/messages/%d/assign", id), map[string]any{"user_id": e.users["other"].ID}, 400, "doesn't work inbox"},
		{"empty note", "listen", "POST", fmt.Sprintf("/api/v1/messages/%d/note", id), map[string]any{"text": "  "}, 400, "note"},
		{"bad forward address", "download", "POST", fmt.Sprintf("/api/v1/messages/%d/forward", id), map[string]any{"address": "not an address"}, 400, "address"},
		{"purge outside the trash", "delete", "DELETE", fmt.Sprintf("/api/v1/messages/%d", id), nil, 409, "trash"},
		{"play a made-up box's assignees", "listen", "GET", "/api/v1/boxes/999/assignees", nil, 403, "access"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.user, tc.method, tc.path, tc.body)
			if r.code != tc.code || !strings.Contains(r.errorText(), tc.want) {
				t.Fatalf("%d %s, want %d with %q", r.code, r.body, tc.code, tc.want)
			}
		})
	}
}

// TestInboxTakeOver: a plain member can't take a message someone else has;
// a manager can.
func TestInboxTakeOver(t *testing.T) {
	e := newInboxEnv(t)
	id := e.addMessage("600")
	path := fmt.Sprintf("/api/v1/messages/%d/claim", id)
	if r := e.do("listen2", "POST", path, nil); r.code != http.StatusOK {
		t.Fatalf("claim: %d %s", r.code, r.body)
	}
	r := e.do("listen", "POST", path, nil)
	if r.code != http.StatusConflict || !strings.Contains(r.errorText(), "assigned to listen2") ||
		!strings.Contains(r.errorText(), "only an admin or a manager") {
		t.Fatalf("take over as a listen member: %d %s, want 409 naming listen2", r.code, r.body)
	}
	r = e.do("listen", "POST", fmt.Sprintf("/api/v1/messages/%d/assign", id), map[string]any{"user_id": e.users["listen"].ID})
	if r.code != http.StatusConflict {
		t.Fatalf("reassign as a listen member: %d %s, want 409", r.code, r.body)
	}
	r = e.do("manage", "POST", path, nil)
	if r.code != http.StatusOK {
		t.Fatalf("take over as manager: %d %s", r.code, r.body)
	}
	var d struct {
		Message      store.Message `json:"message"`
		AssigneeName string        `json:"assignee_name"`
		Can          struct {
			TakeOver bool `json:"take_over"`
		} `json:"can"`
	}
	r.json(t, &d)
	if d.Message.Assignee != e.users["manage"].ID || d.AssigneeName != "manage" || !d.Can.TakeOver {
		t.Fatalf("after take over: %+v", d)
	}
}

// TestInboxAudioRange: the player's range requests get 206 and the right bytes.
func TestInboxAudioRange(t *testing.T) {
	e := newInboxEnv(t)
	id := e.addMessage("600")
	wav := testWAV()
	path := fmt.Sprintf("/api/v1/messages/%d/audio", id)
	r := e.do("listen", "GET", path, nil, "Range", "bytes=100-199")
	if r.code != http.StatusPartialContent {
		t.Fatalf("range: %d %s", r.code, r.body)
	}
	if !bytes.Equal(r.body, wav[100:200]) {
		t.Fatalf("range returned other bytes")
	}
	if got := r.header.Get("Content-Range"); got != fmt.Sprintf("bytes 100-199/%d", len(wav)) {
		t.Errorf("Content-Range %q", got)
	}
	if r.header.Get("Content-Type") != "audio/wav" || r.header.Get("Accept-Ranges") != "bytes" {
		t.Errorf("headers %v", r.header)
	}
	r = e.do("listen", "GET", path, nil)
	if r.code != http.StatusOK || !bytes.Equal(r.body, wav) || strings.HasPrefix(r.header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("whole file: %d, %d bytes, %q", r.code, len(r.body), r.header.Get("Content-Disposition"))
	}
	r = e.do("download", "GET", path+"?download=1", nil)
	if r.code != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("download: %d %v", r.code, r.header)
	}
	// Playing doesn't mark played; the page says so with /played.
	m, _ := e.st.Message(context.Background(), id)
	if m.Played {
		t.Error("playing marked the message played")
	}
}

// TestInboxAudioPathTraversal: a row whose audio name isn't a plain file
// name serves nothing.
func TestInboxAudioPathTraversal(t *testing.T) {
	e := newInboxEnv(t)
	secretFile := filepath.Join(e.dir, "secret.wav")
	os.WriteFile(secretFile, []byte("secret"), 0o644)
	id, err := e.st.AddMessage(context.Background(), store.Message{Box: "600", CallerNumber: "5550000", StartedAt: time.Now(),
		Audio: "../secret.wav"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := e.do("admin", "GET", fmt.Sprintf("/api/v1/messages/%d/audio", id), nil)
	if r.code != http.StatusNotFound || bytes.Contains(r.body, []byte("secret\n")) || string(r.body) == "secret" {
		t.Fatalf("traversal: %d %s", r.code, r.body)
	}
}

// TestInboxAuditTrail: one audit row per action, with actor, message and
// action; the CSV export holds the same rows.
func TestInboxAuditTrail(t *testing.T) {
	woken := 0
	e := newInboxEnvWith(t, ui.Options{Wake: func() { woken++ }})

	id := e.addMessage("600")
	p := fmt.Sprintf("/api/v1/messages/%d", id)
	steps := []struct {
		method, path string
		body         any
		action       string
	}{
		{"POST", p + "/claim", nil, "message.claimed"},
		{"POST", p + "/progress", nil, "message.in_progress"},
		{"POST", p + "/note", map[string]any{"text": "left a voicemail"}, "message.note"},
		{"POST", p + "/played", map[string]any{"played": true}, "message.played"},
		{"GET", p + "/audio?download=1", nil, "message.downloaded"},
		{"POST", p + "/forward", map[string]any{"address": "boss@example.com"}, "message.forwarded"},
		{"POST", p + "/callback", nil, "message.callback"},
		{"POST", p + "/done", map[string]any{"note": "sorted"}, "message.done"},
		{"POST", p + "/reopen", nil, "message.reopened"},
		{"POST", p + "/return", nil, "message.returned"},
		{"POST", p + "/trash", nil, "message.trashed"},
		{"POST", p + "/restore", nil, "message.restored"},
	}
	for _, s := range steps {
		if r := e.do("manage", s.method, s.path, s.body); r.code/100 != 2 {
			t.Fatalf("%s %s: %d %s", s.method, s.path, r.code, r.body)
		}
	}
	if woken != 1 {
		t.Errorf("forward woke the mailer %d times", woken)
	}
	var page struct {
		Items []store.AuditEntry `json:"items"`
	}
	r := e.do("manage", "GET", fmt.Sprintf("/api/v1/audit?message_id=%d", id), nil)
	r.json(t, &page)
	if len(page.Items) != len(steps) {
		t.Fatalf("%d audit rows for %d actions: %s", len(page.Items), len(steps), r.body)
	}
	for i, s := range steps {
		row := page.Items[len(page.Items)-1-i] // newest first
		if row.Action != s.action || row.Actor != "user:manage" || row.MessageID != id || row.Box != "600" || row.At.IsZero() {
			t.Errorf("row %d = %+v, want %s by user:manage on %d", i, row, s.action, id)
		}
	}
	if d := page.Items[len(page.Items)-6].Detail; d != "boss@example.com" {
		t.Errorf("forward detail %q", d)
	}
	if d := page.Items[len(page.Items)-7].Detail; !strings.HasPrefix(d, "call ") || !strings.HasSuffix(d, " to "+fmt.Sprintf("555%04d", 1)) {
		t.Errorf("callback detail %q", d)
	}

	// The detail's timeline shows the same actions.
	var d struct {
		Timeline []store.AuditEntry `json:"timeline"`
	}
	e.do("listen", "GET", p, nil).json(t, &d)
	if len(d.Timeline) != len(steps) {
		t.Errorf("timeline has %d entries, want %d", len(d.Timeline), len(steps))
	}

	// CSV round trip.
	r = e.do("manage", "GET", fmt.Sprintf("/api/v1/audit?message_id=%d&format=csv", id), nil)
	if r.code != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Disposition"), "attachment") ||
		!strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv: %d %v", r.code, r.header)
	}
	recs, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(recs[0], ",") != "at,actor,action,box,message_id,detail" {
		t.Fatalf("csv header %v", recs[0])
	}
	if len(recs)-1 != len(page.Items) {
		t.Fatalf("csv has %d rows, JSON %d", len(recs)-1, len(page.Items))
	}
	for i, rec := range recs[1:] {
		at, err := time.Parse(time.RFC3339Nano, rec[0])
		mid, _ := strconv.ParseInt(rec[4], 10, 64)
		got := store.AuditEntry{ID: page.Items[i].ID, At: at, Actor: rec[1], Action: rec[2], Box: rec[3], MessageID: mid, Detail: rec[5]}
		if err != nil || !got.At.Equal(page.Items[i].At) || got.Actor != page.Items[i].Actor || got.Action != page.Items[i].Action ||
			got.Box != page.Items[i].Box || got.MessageID != page.Items[i].MessageID || got.Detail != page.Items[i].Detail {
			t.Errorf("csv row %d = %v, JSON %+v", i, rec, page.Items[i])
		}
	}
}

// TestInboxPurge: the row and then the file go.
func TestInboxPurge(t *testing.T) {
	e := newInboxEnv(t)
	ctx := context.Background()
	id := e.addMessage("600")
	m, _ := e.st.Message(ctx, id)
	if r := e.do("delete", "POST", fmt.Sprintf("/api/v1/messages/%d/trash", id), nil); r.code != http.StatusOK {
		t.Fatalf("trash: %d %s", r.code, r.body)
	}
	if r := e.do("delete", "DELETE", fmt.Sprintf("/api/v1/messages/%d", id), nil); r.code != http.StatusNoContent {
		t.Fatalf("purge: %d %s", r.code, r.body)
	}
	if _, err := os.Stat(filepath.Join(e.dir, pbx.MessagesDir, m.Audio)); !os.IsNotExist(err) {
		t.Errorf("audio file still there: %v", err)
	}
	if r := e.do("delete", "GET", fmt.Sprintf("/api/v1/messages/%d", id), nil); r.code != http.StatusNotFound {
		t.Errorf("after purge: %d", r.code)
	}
}

// TestInboxCallback: errors of the dialer, and done-on-callback.
func TestInboxCallback(t *testing.T) {
	e := newInboxEnv(t)
	ctx := context.Background()
	id := e.addMessage("600")
	path := fmt.Sprintf("/api/v1/messages/%d/callback", id)

	e.dialer.fail(fmt.Errorf("extension 102: %w", pbx.ErrNotRegistered))
	if r := e.do("listen", "POST", path, nil); r.code != http.StatusConflict || !strings.Contains(r.errorText(), "desk phone isn't registered") {
		t.Fatalf("not registered: %d %s", r.code, r.body)
	}
	e.dialer.fail(fmt.Errorf("%w: trunk itsp: no answer from 192.0.2.1 over udp", pbx.ErrTrunkUnreachable))
	if r := e.do("listen", "POST", path, nil); r.code != http.StatusServiceUnavailable || !strings.Contains(r.errorText(), "not answering") {
		t.Fatalf("trunk unreachable: %d %s", r.code, r.body)
	}
	e.dialer.fail(nil)

	st, err := e.st.InboxSettingsOf(ctx, "600")
	if err != nil {
		t.Fatal(err)
	}
	st.DoneOnCallback = true
	if err := e.st.SetInboxSettings(ctx, "600", st); err != nil {
		t.Fatal(err)
	}
	if r := e.do("listen", "POST", path, nil); r.code != http.StatusOK {
		t.Fatalf("callback: %d %s", r.code, r.body)
	}
	calls, err := e.st.RecentCalls(ctx, 1)
	if err != nil || len(calls) != 1 {
		t.Fatalf("calls %v %v", calls, err)
	}
	if m, _ := e.st.Message(ctx, id); m.Status != store.MessageOpen {
		t.Fatalf("done before the call was answered")
	}
	if err := e.st.CallAnswered(ctx, calls[0].ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		m, _ := e.st.Message(ctx, id)
		if m.Status == store.MessageDone {
			if want := fmt.Sprintf("call back answered (call %d)", calls[0].ID); m.DoneNote != want {
				t.Errorf("done note %q, want %q", m.DoneNote, want)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("answered call back didn't mark the message done")
		}
		time.Sleep(100 * time.Millisecond)
	}

	// A user without an extension can't call back.
	u, err := e.st.AddUser(ctx, store.User{Name: "noext", PasswordHash: cheapHash(testPassword)})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.SetBoxUser(ctx, "600", u.ID, store.AccessListen); err != nil {
		t.Fatal(err)
	}
	if r := e.do("noext", "POST", path, nil); r.code != http.StatusBadRequest || !strings.Contains(r.errorText(), "link your user to an extension") {
		t.Fatalf("no extension: %d %s", r.code, r.body)
	}
}

// TestInboxLists: inboxes with counts, views and the detail's shape.
func TestInboxLists(t *testing.T) {
	e := newInboxEnv(t)
	a := e.addMessage("600")
	e.addMessage("600")
	e.addMessage("601")
	if r := e.do("listen", "POST", fmt.Sprintf("/api/v1/messages/%d/claim", a), nil); r.code != http.StatusOK {
		t.Fatalf("claim: %d %s", r.code, r.body)
	}
	var boxes []struct {
		Number string            `json:"number"`
		Access string            `json:"access"`
		Counts store.InboxCounts `json:"counts"`
	}
	e.do("listen", "GET", "/api/v1/inboxes", nil).json(t, &boxes)
	if len(boxes) != 2 || boxes[0].Number != "600" || boxes[0].Access != "listen" || boxes[1].Number != "602" {
		t.Fatalf("inboxes %+v", boxes)
	}
	if c := boxes[0].Counts; c.Open != 2 || c.Mine != 1 || c.Unassigned != 1 {
		t.Errorf("counts %+v", c)
	}
	for _, tc := range []struct {
		query string
		want  int
	}{
		{"view=mine", 1}, {"view=unassigned", 1}, {"view=open&box=600", 2}, {"view=done", 0},
		{"assignee=me", 1}, {"limit=1", 1},
	} {
		var page struct {
			Items []store.InboxItem `json:"items"`
			Next  *struct {
				BeforeID int64 `json:"before_id"`
			} `json:"next"`
		}
		r := e.do("listen", "GET", "/api/v1/messages?"+tc.query, nil)
		if r.code != http.StatusOK {
			t.Fatalf("%s: %d %s", tc.query, r.code, r.body)
		}
		r.json(t, &page)
		if len(page.Items) != tc.want {
			t.Errorf("%s: %d items, want %d", tc.query, len(page.Items), tc.want)
		}
		if tc.query == "limit=1" && page.Next == nil {
			t.Errorf("limit=1: no next page")
		}
	}
	// Search by a transcript word: the match is marked in the snippet, and
	// the detail carries the segments.
	if err := e.st.SaveTranscript(context.Background(), store.Transcript{MessageID: a, Language: "en", Text: "please call about the invoice",
		Segments: []store.TextSpan{{StartMS: 0, EndMS: 900, Text: "please call about the invoice"}}}); err != nil {
		t.Fatal(err)
	}
	var found struct {
		Items []store.InboxItem `json:"items"`
	}
	e.do("listen", "GET", "/api/v1/messages?q=invoice", nil).json(t, &found)
	if len(found.Items) != 1 || found.Items[0].ID != a || !strings.Contains(found.Items[0].Snippet, "[invoice]") {
		t.Errorf("search: %+v", found.Items)
	}
	var dt struct {
		Transcript *struct {
			Text     string           `json:"text"`
			Segments []store.TextSpan `json:"segments"`
		} `json:"transcript"`
	}
	e.do("listen", "GET", fmt.Sprintf("/api/v1/messages/%d", a), nil).json(t, &dt)
	if dt.Transcript == nil || len(dt.Transcript.Segments) != 1 || dt.Transcript.Text != "please call about the invoice" {
		t.Errorf("detail transcript %+v", dt.Transcript)
	}

	var d map[string]json.RawMessage
	e.do("download", "GET", fmt.Sprintf("/api/v1/messages/%d", a), nil).json(t, &d)
	for _, k := range []string{"message", "box", "access", "assignee_name", "transcript", "transcript_state", "conversation", "timeline", "history", "can"} {
		if _, ok := d[k]; !ok {
			t.Errorf("detail lacks %q", k)
		}
	}
	var can map[string]bool
	json.Unmarshal(d["can"], &can)
	if !can["download"] || can["delete"] || can["take_over"] || !can["transfer"] || !can["callback"] {
		t.Errorf("can %v", can)
	}
	var assignees []struct {
		UserID int64  `json:"user_id"`
		Name   string `json:"name"`
	}
	e.do("listen", "GET", "/api/v1/boxes/600/assignees", nil).json(t, &assignees)
	if len(assignees) != 5 {
		t.Errorf("assignees %+v", assignees)
	}
}
