//go:build bench

package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/frontdesk-pbx/frontdesk/store"
)

// The inbox benchmark: list and search latency and server memory with a
// million messages stored.
const (
	benchInboxMessages = 1_000_000
	benchInboxBoxes    = 10
	benchInboxRequests = 200
)

// benchVocabulary is a deterministic word list the transcripts draw from
// with a Zipf distribution, as real speech does.
func benchVocabulary() []string {
	syllables := []string{"ka", "lo", "mi", "ren", "ta", "vo", "sel", "dun", "pri", "an", "ber", "co", "fi", "gu", "hal", "ix", "jo", "mar", "ne", "ost"}
	r := rand.New(rand.NewPCG(1, 2))
	seen := map[string]bool{}
	var words []string
	for len(words) < 5000 {
		n := 2 + r.IntN(3)
		var b strings.Builder
		for range n {
			b.WriteString(syllables[r.IntN(len(syllables))])
		}
		if w := b.String(); !seen[w] {
			seen[w] = true
			words = append(words, w)
		}
	}
	return words
}

// benchInboxData returns a data dir holding the million messages, built once
// and kept under /var/tmp for later runs (keyed by the schema version).
func benchInboxData(t *testing.T) string {
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("frontdesk-bench-inbox-%d-v%d", benchInboxMessages, store.SchemaVersion()))
	if v := os.Getenv("FRONTDESK_BENCH_CACHE"); v != "" {
		dir = filepath.Join(v, filepath.Base(dir))
	} else if _, err := os.Stat("/var/tmp"); err == nil {
		dir = filepath.Join("/var/tmp", filepath.Base(dir))
	}
	if _, err := os.Stat(filepath.Join(dir, "seeded")); err == nil {
		t.Logf("reusing seeded data dir %s", dir)
		return dir
	}
	os.RemoveAll(dir)
	began := time.Now()
	for i := range benchInboxBoxes {
		runCLI(t, dir, "vm", "add", strconv.Itoa(700+i), "--name", fmt.Sprintf("Team %d", i), "--pin", "2580")
	}
	runCLI(t, dir, "ext", "add", "101", "--name", "Bench", "--secret", "bench-secret-101")
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, store.FileName)+"?_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)&_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	words := benchVocabulary()
	r := rand.New(rand.NewPCG(3, 4))
	zipf := rand.NewZipf(rand.New(rand.NewPCG(5, 6)), 1.1, 2, uint64(len(words)-1))
	start := time.Now().Add(-365 * 24 * time.Hour).UnixMilli()
	const batch = 50_000
	for done := 0; done < benchInboxMessages; done += batch {
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := tx.Prepare(`INSERT INTO messages(box, caller_number, caller_name, called_number, started_at, duration_ms, audio, played, status, conversation, updated_at, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)`)
		conv, _ := tx.Prepare(`UPDATE messages SET conversation = id WHERE id = ?`)
		tr, _ := tx.Prepare(`INSERT INTO transcripts(message_id, language, model, text, seconds, created_at) VALUES (?, 'en', 'bench', ?, 1, ?)`)
		job, _ := tx.Prepare(`UPDATE transcription_jobs SET state = 'done' WHERE message_id = ?`)
		for i := done; i < done+batch && i < benchInboxMessages; i++ {
			at := start + int64(i)*(365*24*3600*1000/benchInboxMessages)
			box := strconv.Itoa(700 + r.IntN(benchInboxBoxes))
			status := "done"
			if i > benchInboxMessages-20_000 || r.IntN(50) == 0 {
				status = "open"
			}
			res, err := msg.Exec(box, fmt.Sprintf("+1555%07d", r.IntN(200_000)), "", box, at, 5000+r.IntN(60_000),
				fmt.Sprintf("bench-%d.wav", i), status == "done", status, at, at)
			if err != nil {
				t.Fatalf("seed message %d: %v", i, err)
			}
			id, _ := res.LastInsertId()
			var text strings.Builder
			for w := range 25 {
				if w > 0 {
					text.WriteByte(' ')
				}
				text.WriteString(words[zipf.Uint64()])
			}
			for _, err := range []error{
				func() error { _, err := conv.Exec(id); return err }(),
				func() error { _, err := tr.Exec(id, text.String(), at); return err }(),
				func() error { _, err := job.Exec(id); return err }(),
			} {
				if err != nil {
					t.Fatalf("seed message %d: %v", i, err)
				}
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`PRAGMA optimize; INSERT INTO message_search(message_search) VALUES ('optimize')`); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "seeded"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("seeded %d messages in %s", benchInboxMessages, time.Since(began).Round(time.Second))
	return dir
}

// TestBenchInbox prints p50/p95 latency of inbox list pages and transcript
// searches over the API with a million messages, and the server's memory.
func TestBenchInbox(t *testing.T) {
	dir := benchInboxData(t)
	add := exec.Command(frontdeskBinary(t), "--data", dir, "user", "add", "bench", "--admin", "--password-stdin")
	add.Stdin = strings.NewReader(benchInboxPassword + "\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Logf("user add (fine if it exists from an earlier run): %v %s", err, out)
	}
	// A browser session, as the inbox page has: HTTP Basic would time the
	// password hash (argon2id, on purpose slow) on every request instead.
	token := benchSession(t, dir)
	srv := startServer(t, dir)
	client := &http.Client{Timeout: 30 * time.Second}
	get := func(path string) (time.Duration, int) {
		req, _ := http.NewRequest(http.MethodGet, srv.HTTPURL+"/api/v1"+path, nil)
		req.AddCookie(&http.Cookie{Name: "fd_session", Value: token})
		began := time.Now()
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		var raw json.RawMessage
		err = json.NewDecoder(res.Body).Decode(&raw)
		res.Body.Close()
		took := time.Since(began)
		if res.StatusCode != http.StatusOK || err != nil {
			t.Fatalf("GET %s: %s %v", path, res.Status, err)
		}
		// Lists are {"items": [...]}; /inboxes is a bare array.
		var page struct {
			Items []json.RawMessage `json:"items"`
		}
		if json.Unmarshal(raw, &page) != nil {
			json.Unmarshal(raw, &page.Items)
		}
		return took, len(page.Items)
	}
	words := benchVocabulary()
	r := rand.New(rand.NewPCG(7, 8))
	cases := []struct {
		name string
		path func() string
	}{
		{"inbox page: one box, open, 50 rows", func() string {
			return fmt.Sprintf("/messages?box=%d&view=open&limit=50", 700+r.IntN(benchInboxBoxes))
		}},
		{"inbox page: all boxes, all, 50 rows", func() string { return "/messages?view=all&limit=50" }},
		{"inbox page: one box, done, page 20", func() string {
			return fmt.Sprintf("/messages?box=%d&view=done&limit=50&before_time=%s&before_id=%d", 700+r.IntN(benchInboxBoxes),
				url.QueryEscape(time.Now().Add(-time.Duration(r.IntN(300))*24*time.Hour).UTC().Format(time.RFC3339)), benchInboxMessages)
		}},
		{"transcript search: common word", func() string { return "/messages?q=" + words[2+r.IntN(20)] + "&limit=50" }},
		{"transcript search: rare word", func() string { return "/messages?q=" + words[1000+r.IntN(3000)] + "&limit=50" }},
		{"transcript search: two words, one box", func() string {
			return fmt.Sprintf("/messages?box=%d&q=%s+%s&limit=50", 700+r.IntN(benchInboxBoxes), words[2+r.IntN(50)], words[2+r.IntN(50)])
		}},
		{"counts for the view tabs", func() string { return "/inboxes" }},
	}
	t.Logf("%d messages in %d boxes; %d requests per case, one at a time", benchInboxMessages, benchInboxBoxes, benchInboxRequests)
	for _, c := range cases {
		get(c.path()) // warm up
		var lat []time.Duration
		rows := 0
		for range benchInboxRequests {
			d, n := get(c.path())
			lat = append(lat, d)
			rows += n
		}
		slices.Sort(lat)
		t.Logf("%-40s p50 %7.1f ms   p95 %7.1f ms   (%.0f rows on average)", c.name,
			ms(lat[len(lat)/2]), ms(lat[len(lat)*95/100]), float64(rows)/benchInboxRequests)
	}
	rss, hwm := procMemory(t, srv.cmd.Process.Pid)
	db, _ := os.Stat(filepath.Join(dir, store.FileName))
	t.Logf("server memory: %d MiB resident now, %d MiB peak; database file %d MiB", rss>>10, hwm>>10, db.Size()>>20)
}

// benchSession opens a session for the bench user in the data dir's store.
func benchSession(t *testing.T, dir string) string {
	ctx := context.Background()
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := st.UserByName(ctx, "bench")
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := st.CreateSession(ctx, u.ID, "127.0.0.1", "bench", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// benchInboxPassword is the bench user's password, fed to user add on stdin.
const benchInboxPassword = "bench-password-1m"

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// procMemory reads VmRSS and VmHWM (KiB) of a process.
func procMemory(t *testing.T, pid int) (rss, hwm int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && (f[0] == "VmRSS:" || f[0] == "VmHWM:") {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			if f[0] == "VmRSS:" {
				rss = v
			} else {
				hwm = v
			}
		}
	}
	return rss, hwm
}
