package backup

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/frontdesk-pbx/frontdesk/store"
)

// fixture is a data directory with a box, two messages, a greeting, hold
// music, a setting and a model.
type fixture struct {
	dir      string
	messages []store.Message
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	write := func(rel string, content string) {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	write("greetings/600.wav", "RIFF greeting of box 600")
	write("music/hold.wav", "RIFF hold music")
	write("messages/m1.wav", strings.Repeat("RIFF message one ", 1000))
	write("messages/m2.wav", strings.Repeat("RIFF message two ", 500))
	write("messages/.tmp-123", "an unfinished recording")
	write("models/ggml-base.bin", "a model")
	if err := st.AddBox(ctx, store.Box{Number: "600", Name: "Sales", Kind: store.BoxShared, Greeting: "600.wav"}); err != nil {
		t.Fatal(err)
	}
	for i, audio := range []string{"m1.wav", "m2.wav"} {
		_, err := st.AddMessage(ctx, store.Message{Box: "600", CallerNumber: "101", CalledNumber: "600",
			StartedAt: time.Now().Add(time.Duration(i) * time.Minute), Duration: float64(i + 2), Audio: audio}, nil)
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SetSetting(ctx, "test.key", "kept"); err != nil {
		t.Fatal(err)
	}
	msgs, err := st.Messages(ctx, "600")
	if err != nil {
		t.Fatal(err)
	}
	return fixture{dir: dir, messages: msgs}
}

// archive backs up the fixture with its database open, as the server has.
func (f fixture) archive(t *testing.T) ([]byte, Manifest) {
	t.Helper()
	st, err := store.Open(context.Background(), f.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var buf bytes.Buffer
	m, err := Create(context.Background(), st, f.dir, &buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), m
}

// tree returns every file under dir with its SHA-256.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		sum := sha256.Sum256(b)
		out[rel] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type entry struct {
	name string
	data []byte
}

func unpack(t *testing.T, archive []byte) []entry {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var es []entry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return es
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, entry{h.Name, b})
	}
}

func pack(t *testing.T, es []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range es {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: e.name, Size: int64(len(e.data)), Mode: 0o600, Format: tar.FormatPAX}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// relist rewrites the manifest (the last entry) to cover the other entries
// exactly, after edit has changed it.
func relist(t *testing.T, es []entry, edit func(*Manifest)) []entry {
	t.Helper()
	var m Manifest
	if err := json.Unmarshal(es[len(es)-1].data, &m); err != nil {
		t.Fatal(err)
	}
	m.Files = nil
	for _, e := range es[:len(es)-1] {
		sum := sha256.Sum256(e.data)
		m.Files = append(m.Files, File{Path: e.name, Size: int64(len(e.data)), SHA256: hex.EncodeToString(sum[:])})
	}
	if edit != nil {
		edit(&m)
	}
	b, _ := json.Marshal(m)
	es[len(es)-1].data = b
	return es
}

func TestVerifyAndRestoreRefuse(t *testing.T) {
	f := newFixture(t)
	good, _ := f.archive(t)
	if _, err := Verify(bytes.NewReader(good)); err != nil {
		t.Fatalf("good archive: %v", err)
	}
	find := func(es []entry, name string) int {
		for i, e := range es {
			if e.name == name {
				return i
			}
		}
		t.Fatalf("no entry %s", name)
		return -1
	}
	insert := func(es []entry, e entry) []entry { // before the manifest
		return append(es[:len(es)-1:len(es)-1], e, es[len(es)-1])
	}
	tests := []struct {
		name string
		make func(t *testing.T) []byte
		want string // in the error
	}{
		{"flipped byte in a file entry", func(t *testing.T) []byte {
			es := unpack(t, good)
			es[find(es, "messages/m1.wav")].data[100] ^= 1
			return pack(t, es)
		}, "SHA-256"},
		{"flipped byte in the gzip stream", func(t *testing.T) []byte {
			b := bytes.Clone(good)
			b[len(b)/2] ^= 0x40
			return b
		}, ""},
		{"flipped byte in the gzip trailer", func(t *testing.T) []byte {
			b := bytes.Clone(good)
			b[len(b)-6] ^= 1
			return b
		}, "damaged archive"},
		{"missing file", func(t *testing.T) []byte {
			es := unpack(t, good)
			i := find(es, "messages/m2.wav")
			return pack(t, append(es[:i], es[i+1:]...))
		}, "missing"},
		{"extra file", func(t *testing.T) []byte {
			return pack(t, insert(unpack(t, good), entry{"messages/extra.wav", []byte("RIFF")}))
		}, "not listed"},
		{"truncated", func(t *testing.T) []byte { return good[:len(good)/2] }, "damaged archive"},
		{"truncated trailer", func(t *testing.T) []byte { return good[:len(good)-3] }, "damaged archive"},
		{"empty", func(t *testing.T) []byte { return nil }, "not a frontdesk backup"},
		{"../ path", func(t *testing.T) []byte {
			return pack(t, relist(t, insert(unpack(t, good), entry{"../evil.wav", []byte("x")}), nil))
		}, "unsafe path"},
		{"nested ../ path", func(t *testing.T) []byte {
			return pack(t, relist(t, insert(unpack(t, good), entry{"messages/../../evil.wav", []byte("x")}), nil))
		}, "unsafe path"},
		{"absolute path", func(t *testing.T) []byte {
			return pack(t, relist(t, insert(unpack(t, good), entry{"/tmp/evil.wav", []byte("x")}), nil))
		}, "unsafe path"},
		{"no manifest", func(t *testing.T) []byte {
			es := unpack(t, good)
			return pack(t, es[:len(es)-1])
		}, "no manifest.json"},
		{"newer schema", func(t *testing.T) []byte {
			return pack(t, relist(t, unpack(t, good), func(m *Manifest) { m.SchemaVersion = store.SchemaVersion() + 1 }))
		}, "made by a newer frontdesk"},
	}
	before := tree(t, f.dir)
	parent := filepath.Dir(f.dir)
	siblings, _ := os.ReadDir(parent)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := tt.make(t)
			if _, err := Verify(bytes.NewReader(bad)); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Verify: %v, want an error with %q", err, tt.want)
			}
			path := filepath.Join(t.TempDir(), "bad.tar.gz")
			if err := os.WriteFile(path, bad, 0o600); err != nil {
				t.Fatal(err)
			}
			kept, err := Restore(context.Background(), path, f.dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Restore: %v, want an error with %q", err, tt.want)
			}
			t.Logf("refused: %v", err)
			if kept != "" {
				t.Errorf("Restore kept old data in %s after refusing", kept)
			}
			if after := tree(t, f.dir); !reflect.DeepEqual(before, after) {
				t.Errorf("data dir changed:\nbefore %v\nafter  %v", before, after)
			}
			if now, _ := os.ReadDir(parent); len(now) != len(siblings) {
				t.Errorf("Restore left %d entries next to the data dir, want %d", len(now), len(siblings))
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	archive, m := f.archive(t)
	if got := m.Count("messages"); got != 2 {
		t.Errorf("manifest lists %d messages, want 2 (the .tmp- file must be skipped)", got)
	}
	if m.Count("models") != 0 || m.SchemaVersion != store.SchemaVersion() {
		t.Errorf("manifest: %+v", m)
	}
	entries, _ := os.ReadDir(f.dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".backup-") {
			t.Errorf("Create left its temp %s", e.Name())
		}
	}
	before := tree(t, f.dir)
	path := filepath.Join(t.TempDir(), "b.tar.gz")
	if err := os.WriteFile(path, archive, 0o600); err != nil {
		t.Fatal(err)
	}

	// Change the data after the backup: the restore must undo it.
	st, err := store.Open(ctx, f.dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetSetting(ctx, "test.key", "changed"); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if err := os.Remove(filepath.Join(f.dir, "messages", "m1.wav")); err != nil {
		t.Fatal(err)
	}

	check := func(t *testing.T, dir string, wantModels bool) {
		t.Helper()
		got := tree(t, dir)
		for rel, sum := range before {
			if strings.HasPrefix(rel, "frontdesk.db") || strings.HasPrefix(rel, filepath.Join("messages", ".tmp-")) {
				continue
			}
			if strings.HasPrefix(rel, "models") && !wantModels {
				continue
			}
			if got[rel] != sum {
				t.Errorf("%s: sha256 %q, want %q", rel, got[rel], sum)
			}
		}
		st, err := store.Open(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		msgs, err := st.Messages(ctx, "600")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(msgs, f.messages) {
			t.Errorf("messages:\n got %+v\nwant %+v", msgs, f.messages)
		}
		b, err := st.Box(ctx, "600")
		if err != nil || b.Greeting != "600.wav" {
			t.Errorf("box 600: %+v, %v", b, err)
		}
		if v, err := st.Setting(ctx, "test.key"); err != nil || v != "kept" {
			t.Errorf("setting test.key = %q, %v; want kept", v, err)
		}
	}

	t.Run("over existing data", func(t *testing.T) {
		kept, err := Restore(ctx, path, f.dir)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(kept, f.dir+".old-") {
			t.Fatalf("old data kept in %q", kept)
		}
		check(t, f.dir, true)
		if _, err := os.Stat(filepath.Join(kept, "messages", "m2.wav")); err != nil {
			t.Errorf("old data not kept: %v", err)
		}
		left, _ := os.ReadDir(filepath.Dir(f.dir))
		for _, e := range left {
			if strings.Contains(e.Name(), ".restore-") {
				t.Errorf("restore left %s", e.Name())
			}
		}
	})
	t.Run("into a new dir", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "new", "data")
		kept, err := Restore(ctx, path, dir)
		if err != nil || kept != "" {
			t.Fatalf("Restore: %q, %v", kept, err)
		}
		check(t, dir, false)
	})
}
