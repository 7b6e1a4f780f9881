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
	"strings"
	"testing"
	"time"

	"github.com/frontdesk-pbx/frontdesk/media"
	"github.com/frontdesk-pbx/frontdesk/pbx"
	"github.com/frontdesk-pbx/frontdesk/store"
	"github.com/frontdesk-pbx/frontdesk/store/secret"
)

// fuzzEnv is a server on a real store with box 600 holding a few
// transcribed messages, an admin and a manager of 600, each with a
// browser session (so requests skip the slow password hash).
type fuzzEnv struct {
	st       *store.Store
	dir      string
	h        http.Handler
	sessions map[string][2]string // user: token, CSRF token
}

func newFuzzEnv(f *testing.F) *fuzzEnv {
	ctx := context.Background()
	dir := f.TempDir()
	st, err := store.Open(ctx, dir)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	if err := st.AddBox(ctx, store.Box{Number: "600", Name: "Sales", Kind: store.BoxShared}); err != nil {
		f.Fatal(err)
	}
	for i, text := range []string{"Hello, this is Anna about invoice 4711.", "Rückruf bitte wegen der Rechnung", "call me back 東京"} {
		id, err := st.AddMessage(ctx, store.Message{Box: "600", CallerNumber: "555000" + string(rune('1'+i)), CallerName: "Caller",
			CalledNumber: "600", StartedAt: time.Now().Add(-time.Duration(i+1) * time.Minute), Duration: 3, Audio: "x.wav"}, nil)
		if err != nil {
			f.Fatal(err)
		}
		if err := st.SaveTranscript(ctx, store.Transcript{MessageID: id, Language: "en", Model: "test", Text: text}); err != nil {
			f.Fatal(err)
		}
	}
	e := &fuzzEnv{st: st, dir: dir, sessions: map[string][2]string{}}
	for _, u := range []struct {
		name  string
		admin bool
	}{{"root", true}, {"manager", false}} {
		hash, err := secret.Hash("password-" + u.name)
		if err != nil {
			f.Fatal(err)
		}
		added, err := st.AddUser(ctx, store.User{Name: u.name, PasswordHash: hash, IsAdmin: u.admin})
		if err != nil {
			f.Fatal(err)
		}
		if !u.admin {
			if err := st.SetBoxUser(ctx, "600", added.ID, store.AccessManage); err != nil {
				f.Fatal(err)
			}
		}
		token, csrf, err := st.CreateSession(ctx, added.ID, "test", "test", time.Now(), 24*time.Hour)
		if err != nil {
			f.Fatal(err)
		}
		e.sessions[u.name] = [2]string{token, csrf}
	}
	e.h = New(st, slog.New(slog.DiscardHandler), "test", Options{DataDir: dir}).Handler()
	return e
}

func (e *fuzzEnv) serve(user string, req *http.Request) (int, []byte) {
	ss := e.sessions[user]
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: ss[0]})
	req.Header.Set("X-CSRF-Token", ss[1])
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	res := w.Result()
	data, _ := io.ReadAll(res.Body)
	return res.StatusCode, data
}

// FuzzInboxQuery sends arbitrary query strings to GET /api/v1/messages
// (the inbox list and search): the answer is a page of messages or a 400
// naming the parameter (403 for a box the user can't reach), never a
// server error, whatever the search words, dates, ids or limits.
func FuzzInboxQuery(f *testing.F) {
	e := newFuzzEnv(f)
	for _, q := range []string{"", "view=open", "view=bogus", "q=invoice", "q=inv&limit=1", "q=%22&box=600", "q=NEAR(a+b)",
		"q=*+OR+*", "from=2026-03-01&to=2026-03-31", "from=2026-03-01T09:30:00Z", "from=2026-02-30", "to=9999-12-31",
		"before_id=3&before_time=2026-03-01T00:00:00%2B01:00", "before_id=0", "before_id=9223372036854775807",
		"limit=500", "limit=501", "limit=-1", "assignee=me", "assignee=none", "assignee=-2", "assignee=x",
		"status=done", "status=in_progress", "caller=555", "caller=%25", "caller=_", "box=601", "box=600&q=R%C3%BCck",
		"q=%FF%FE", "q=a%00b", "view=mine&view=all", "%zz", "q=東京&view=trash"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if len(raw) > 4096 {
			return
		}
		req := httptest.NewRequest(http.MethodGet, "/api/v1/messages", nil)
		req.URL.RawQuery = raw
		code, body := e.serve("manager", req)
		switch code {
		case http.StatusOK:
			var page struct {
				Items []store.InboxItem `json:"items"`
				Next  *struct {
					BeforeID int64 `json:"before_id"`
				} `json:"next"`
			}
			if err := json.Unmarshal(body, &page); err != nil || page.Items == nil {
				t.Fatalf("?%s: 200 with %s (%v)", raw, body, err)
			}
			for _, it := range page.Items {
				if it.Box != "600" {
					t.Fatalf("?%s: message %d of box %q listed", raw, it.ID, it.Box)
				}
			}
		case http.StatusBadRequest:
			var e struct {
				Error string `json:"error"`
			}
			if json.Unmarshal(body, &e) != nil || e.Error == "" {
				t.Fatalf("?%s: 400 without an error: %s", raw, body)
			}
		case http.StatusForbidden:
			if !strings.Contains(raw, "box") {
				t.Fatalf("?%s: 403 without a box: %s", raw, body)
			}
		default:
			t.Fatalf("?%s: status %d: %s", raw, code, body)
		}
	})
}

// fuzzWAV is a WAV of n samples of a ramp at rate.
func fuzzWAV(rate, n int) []byte {
	a := media.Audio{Rate: rate, Samples: make([]int16, n)}
	for i := range a.Samples {
		a.Samples[i] = int16(i * 131)
	}
	var b bytes.Buffer
	if err := media.WriteWAV(&b, a); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// fuzzFill is n bytes of the ramp fuzzWAV writes after its 44-byte header,
// so fuzzWAV(rate, n) is fuzzWAV(rate, n)[:44] followed by fuzzFill(2*n).
func fuzzFill(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		s := uint16(int16((i / 2) * 131))
		b[i] = byte(s >> (8 * (i % 2)))
	}
	return b
}

// FuzzGreetingUpload uploads arbitrary files (and arbitrary multipart
// bodies) as box 600's greeting: the answer is 200 with a stored greeting
// that plays back at 8 kHz and passes pbx.CheckGreeting, or a 400 naming
// the file, never a server error.
//
// An upload is head, then fill bytes of generated audio, then tail. A
// greeting is at least half a second (kilobytes of samples): were those
// bytes a fuzzed []byte, the fuzzer would spend its time minimizing every
// new input byte by byte (quadratic in its length, a minute each) and
// never get to fuzzing. The headers and framing it mutates stay small.
func FuzzGreetingUpload(f *testing.F) {
	e := newFuzzEnv(f)
	wav := func(rate, n int) ([]byte, uint16) { return fuzzWAV(rate, n)[:44], uint16(2 * n) }
	add := func(raw bool, head []byte, fill uint16, tail []byte) { f.Add(raw, head, fill, tail) }
	head, fill := wav(8000, 4000) // 0.5 s
	add(false, head, fill, nil)
	add(false, head, fill-2, nil) // just too short
	add(false, head[:40], 0, nil)
	add(false, head, 0, []byte("x"))
	add(true, []byte("--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../../g.wav\"\r\n\r\n"+string(head)), fill, []byte("\r\n--B--\r\n"))
	add(true, []byte("--B\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nx\r\n--B--\r\n"), 0, nil)
	add(true, []byte("--B--\r\n"), 0, nil)
	add(false, []byte("RIFF\xff\xff\xff\xffWAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x40\x1f\x00\x00\x80\x3e\x00\x00\x02\x00\x10\x00data\xff\xff\xff\xff"), fill, nil)
	add(false, []byte("this is a text file, not audio"), 0, nil)
	head, fill = wav(16000, 8000)
	add(false, head, fill, nil)
	head, fill = wav(44100, 22050)
	add(false, head, fill, nil)
	f.Fuzz(func(t *testing.T, raw bool, head []byte, fill uint16, tail []byte) {
		if len(head) > 4096 || len(tail) > 4096 {
			return
		}
		data := append(append(append([]byte(nil), head...), fuzzFill(int(fill))...), tail...)
		var body []byte
		ct := "multipart/form-data; boundary=B"
		if raw {
			body = data
		} else {
			var buf bytes.Buffer
			w := multipart.NewWriter(&buf)
			fw, _ := w.CreateFormFile("file", "greeting.wav")
			fw.Write(data)
			w.Close()
			body, ct = buf.Bytes(), w.FormDataContentType()
		}
		req := httptest.NewRequest(http.MethodPut, "/api/v1/admin/boxes/600/greeting", bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		code, resp := e.serve("root", req)
		switch code {
		case http.StatusOK:
			b, err := e.st.Box(context.Background(), "600")
			if err != nil || b.Greeting == "" || filepath.Base(b.Greeting) != b.Greeting {
				t.Fatalf("200 but box greeting %q, %v", b.Greeting, err)
			}
			a, err := media.ReadWAVFile(filepath.Join(e.dir, pbx.GreetingsDir, b.Greeting))
			if err != nil || a.Rate != media.SampleRate {
				t.Fatalf("stored greeting: rate %d, %v", a.Rate, err)
			}
			if err := pbx.CheckGreeting(a); err != nil {
				t.Fatalf("stored greeting: %v", err)
			}
			// The replaced greeting is removed: only the current one stays.
			if files, _ := os.ReadDir(filepath.Join(e.dir, pbx.GreetingsDir)); len(files) != 1 {
				t.Fatalf("%d greeting files on disk, want 1", len(files))
			}
		case http.StatusBadRequest:
			var fe apiError
			if json.Unmarshal(resp, &fe) != nil || fe.Fields["file"] == "" {
				t.Fatalf("400 not naming the file: %s", resp)
			}
		default:
			t.Fatalf("status %d: %s", code, resp)
		}
	})
}
