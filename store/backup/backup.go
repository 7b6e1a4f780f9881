// Package backup writes and restores Frontdesk backups: one tar.gz archive
// holding a consistent copy of the database and the audio files of the
// data directory (messages/, greetings/ and music/), with manifest.json last
// listing every other entry's size and SHA-256.
//
// Create runs while the server works: the database is copied with VACUUM
// INTO (one consistent snapshot), and audio files only ever appear complete
// because the server writes them to a temp file and renames it. Models
// (DATA/models) are not backed up: they can be downloaded again.
//
// Restore verifies the whole archive before it touches anything, extracts
// it next to the data directory, checks the database opens (applying
// migrations if the backup is older), and only then swaps it in, keeping the
// old data directory aside. It refuses while a server holds the data
// directory's lock (store.LockDataDir).
package backup

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/frontdesk-pbx/frontdesk/store"
)

// FormatVersion is the archive format this package writes and reads.
const FormatVersion = 1

// ManifestName is the name of the manifest entry, the archive's last.
const ManifestName = "manifest.json"

// AudioDirs are the data directory's folders a backup holds.
var AudioDirs = []string{"messages", "greetings", "music"}

// ModelsDir is not backed up; Restore carries it over from the old data.
const ModelsDir = "models"

// Manifest describes an archive.
type Manifest struct {
	FormatVersion int       `json:"format_version"`
	CreatedAt     time.Time `json:"created_at"`
	SchemaVersion int       `json:"schema_version"`
	Files         []File    `json:"files"`
}

// File is one archive entry the manifest covers.
type File struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Count returns how many of the manifest's files lie under dir.
func (m Manifest) Count(dir string) int {
	n := 0
	for _, f := range m.Files {
		if strings.HasPrefix(f.Path, dir+"/") {
			n++
		}
	}
	return n
}

// Create writes a backup of the data directory dataDir, whose database st
// is, to w.
func Create(ctx context.Context, st *store.Store, dataDir string, w io.Writer) (Manifest, error) {
	m := Manifest{FormatVersion: FormatVersion, CreatedAt: time.Now().UTC()}
	v, err := st.Version(ctx)
	if err != nil {
		return m, err
	}
	m.SchemaVersion = v

	// The database first: a message recorded after this leaves an audio
	// file without a row, which is harmless.
	tmpDir, err := os.MkdirTemp(dataDir, ".backup-")
	if err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(tmpDir)
	dbCopy := filepath.Join(tmpDir, store.FileName)
	if err := st.SnapshotTo(ctx, dbCopy); err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}

	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	add := func(name, src string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		f, err := os.Open(src)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // deleted since it was listed
		}
		if err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: fi.Size(), Mode: 0o600, ModTime: fi.ModTime().UTC(), Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("backup: write %s: %w", name, err)
		}
		h := sha256.New()
		if _, err := io.CopyN(io.MultiWriter(tw, h), f, fi.Size()); err != nil {
			return fmt.Errorf("backup: copy %s: %w", name, err)
		}
		m.Files = append(m.Files, File{Path: name, Size: fi.Size(), SHA256: hex.EncodeToString(h.Sum(nil))})
		return nil
	}
	if err := add(store.FileName, dbCopy); err != nil {
		return m, err
	}
	for _, dir := range AudioDirs {
		root := filepath.Join(dataDir, dir)
		var names []string
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if !d.Type().IsRegular() || strings.HasPrefix(d.Name(), ".") {
				return nil // temp files of unfinished writes, symlinks, dirs
			}
			rel, err := filepath.Rel(dataDir, p)
			if err != nil {
				return err
			}
			names = append(names, filepath.ToSlash(rel))
			return nil
		})
		if err != nil {
			return m, fmt.Errorf("backup: list %s: %w", root, err)
		}
		sort.Strings(names)
		for _, name := range names {
			if err := add(name, filepath.Join(dataDir, filepath.FromSlash(name))); err != nil {
				return m, err
			}
		}
	}

	body, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return m, err
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: ManifestName, Size: int64(len(body)), Mode: 0o600, ModTime: m.CreatedAt, Format: tar.FormatPAX}); err != nil {
		return m, fmt.Errorf("backup: write manifest: %w", err)
	}
	if _, err := tw.Write(body); err != nil {
		return m, fmt.Errorf("backup: write manifest: %w", err)
	}
	if err := errors.Join(tw.Close(), gz.Close()); err != nil {
		return m, fmt.Errorf("backup: finish archive: %w", err)
	}
	return m, nil
}

// checkName refuses entry names that could land outside the data directory
// or that a backup never holds.
func checkName(name string) error {
	if name == "" || path.IsAbs(name) || strings.Contains(name, `\`) || path.Clean(name) != name || !filepath.IsLocal(name) {
		return fmt.Errorf("unsafe path %q in archive", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return fmt.Errorf("unsafe path %q in archive", name)
		}
	}
	if name == store.FileName || name == ManifestName {
		return nil
	}
	for _, dir := range AudioDirs {
		if strings.HasPrefix(name, dir+"/") {
			return nil
		}
	}
	return fmt.Errorf("unexpected entry %q in archive", name)
}

// walk reads the archive, calling file for every entry but the manifest
// (with the entry's content; it must read it to the end or not at all) and
// checking each against the manifest at the end. It returns the manifest.
func walk(r io.Reader, file func(name string, content io.Reader) error) (Manifest, error) {
	var m Manifest
	gz, err := gzip.NewReader(r)
	if err != nil {
		return m, fmt.Errorf("not a frontdesk backup (gzip): %w", err)
	}
	gz.Multistream(false)
	tr := tar.NewReader(gz)
	type seen struct {
		size int64
		sum  string
	}
	got := map[string]seen{}
	var manifest []byte
	// refuse reports a bad entry, unless the real cause is a damaged
	// stream that decoded into garbage: gzip's CRC at the end tells.
	refuse := func(err error) (Manifest, error) {
		if _, gzErr := io.Copy(io.Discard, gz); gzErr != nil {
			return m, fmt.Errorf("damaged archive: %w", gzErr)
		}
		return m, err
	}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return m, fmt.Errorf("damaged archive: %w", err)
		}
		if err := checkName(hdr.Name); err != nil {
			return refuse(err)
		}
		if hdr.Typeflag != tar.TypeReg {
			return refuse(fmt.Errorf("unexpected entry %q in archive: not a regular file", hdr.Name))
		}
		if manifest != nil {
			return refuse(fmt.Errorf("entry %q after the manifest", hdr.Name))
		}
		if _, dup := got[hdr.Name]; dup {
			return refuse(fmt.Errorf("entry %q twice in archive", hdr.Name))
		}
		if hdr.Name == ManifestName {
			if manifest, err = io.ReadAll(io.LimitReader(tr, 64<<20)); err != nil {
				return m, fmt.Errorf("damaged archive: %w", err)
			}
			continue
		}
		h := sha256.New()
		cr := &countReader{r: io.TeeReader(tr, h)}
		if err := file(hdr.Name, cr); err != nil {
			return m, err
		}
		if _, err := io.Copy(io.Discard, cr); err != nil {
			return m, fmt.Errorf("damaged archive: %s: %w", hdr.Name, err)
		}
		got[hdr.Name] = seen{cr.n, hex.EncodeToString(h.Sum(nil))}
	}
	// Read to the gzip trailer, whose CRC catches damage tar can't see.
	if _, err := io.Copy(io.Discard, gz); err != nil {
		return m, fmt.Errorf("damaged archive: %w", err)
	}
	if manifest == nil {
		return m, errors.New("not a frontdesk backup: no manifest.json")
	}
	if err := json.Unmarshal(manifest, &m); err != nil {
		return m, fmt.Errorf("damaged archive: manifest.json: %w", err)
	}
	if m.FormatVersion != FormatVersion {
		return m, fmt.Errorf("backup format %d is not supported (want %d): upgrade frontdesk", m.FormatVersion, FormatVersion)
	}
	if cur := store.SchemaVersion(); m.SchemaVersion > cur {
		return m, fmt.Errorf("backup made by a newer frontdesk (schema %d > %d): upgrade frontdesk first", m.SchemaVersion, cur)
	}
	listed := map[string]bool{}
	for _, f := range m.Files {
		if err := checkName(f.Path); err != nil {
			return m, err
		}
		listed[f.Path] = true
		s, ok := got[f.Path]
		switch {
		case !ok:
			return m, fmt.Errorf("damaged archive: %s is listed in the manifest but missing", f.Path)
		case s.size != f.Size:
			return m, fmt.Errorf("damaged archive: %s is %d bytes, the manifest says %d", f.Path, s.size, f.Size)
		case s.sum != f.SHA256:
			return m, fmt.Errorf("damaged archive: %s fails its SHA-256 check", f.Path)
		}
	}
	for name := range got {
		if !listed[name] {
			return m, fmt.Errorf("damaged archive: %s is not listed in the manifest", name)
		}
	}
	if !listed[store.FileName] {
		return m, fmt.Errorf("not a frontdesk backup: no %s", store.FileName)
	}
	return m, nil
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Verify reads a whole archive and checks it: intact, every file the
// manifest lists present with its size and SHA-256, nothing else, safe
// paths, and a schema this binary knows.
func Verify(r io.Reader) (Manifest, error) {
	return walk(r, func(string, io.Reader) error { return nil })
}

// Restore replaces the data directory dataDir with the backup in
// archivePath. The server must be stopped first. If dataDir exists it is
// renamed to dataDir.old-TIMESTAMP, whose path Restore returns, and its
// models/ folder is moved into the restored directory; nothing is touched
// unless the archive verifies and its database opens.
func Restore(ctx context.Context, archivePath, dataDir string) (kept string, err error) {
	dataDir = filepath.Clean(dataDir)
	if locked, err := store.DataDirLocked(dataDir); err != nil {
		return "", fmt.Errorf("restore: %w", err)
	} else if locked {
		return "", fmt.Errorf("restore: %s: %w", dataDir, store.ErrLocked)
	}
	if err := verifyFile(archivePath); err != nil {
		return "", err
	}
	exists := false
	if fi, err := os.Stat(dataDir); err == nil {
		if !fi.IsDir() {
			return "", fmt.Errorf("restore: %s is not a directory", dataDir)
		}
		exists = true
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("restore: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(dataDir), 0o750); err != nil {
		return "", fmt.Errorf("restore: %w", err)
	}
	stamp := time.Now().UTC().Format("20060102T150405Z")
	tmp := dataDir + ".restore-" + stamp
	if err := os.Mkdir(tmp, 0o750); err != nil {
		return "", fmt.Errorf("restore: %w", err)
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	if err := extract(archivePath, tmp); err != nil {
		return "", err
	}
	st, err := store.Open(ctx, tmp)
	if err != nil {
		return "", fmt.Errorf("restore: the backup's database does not open: %w", err)
	}
	if err := st.Close(); err != nil {
		return "", fmt.Errorf("restore: %w", err)
	}
	if !exists {
		if err := os.Rename(tmp, dataDir); err != nil {
			return "", fmt.Errorf("restore: %w", err)
		}
		done = true
		return "", nil
	}
	kept = dataDir + ".old-" + stamp
	if err := os.Rename(dataDir, kept); err != nil {
		return "", fmt.Errorf("restore: move the old data aside: %w", err)
	}
	if err := os.Rename(tmp, dataDir); err != nil {
		// Put the old data back: nothing changed.
		if err2 := os.Rename(kept, dataDir); err2 != nil {
			return "", fmt.Errorf("restore: %w; the old data is in %s", errors.Join(err, err2), kept)
		}
		return "", fmt.Errorf("restore: %w", err)
	}
	done = true
	oldModels := filepath.Join(kept, ModelsDir)
	if _, err := os.Stat(oldModels); err == nil {
		if err := os.Rename(oldModels, filepath.Join(dataDir, ModelsDir)); err != nil {
			return kept, fmt.Errorf("restore: restored, but could not move the models over from %s: %w", oldModels, err)
		}
	}
	return kept, nil
}

func verifyFile(archivePath string) error {
	f, err := os.Open(archivePath)
	if err != nil {
		return fmt.Errorf("open backup: %w", err)
	}
	defer f.Close()
	_, err = Verify(f)
	return err
}

// extract writes the archive's files into dir, checking them again as it
// goes (the file could have changed since it was verified).
func extract(archivePath, dir string) error {
	f, err := os.Open(archivePath)
	if err != nil {
		return fmt.Errorf("open backup: %w", err)
	}
	defer f.Close()
	_, err = walk(f, func(name string, content io.Reader) error {
		dst := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		_, err = io.Copy(out, content)
		if err == nil {
			err = out.Sync()
		}
		if err2 := out.Close(); err == nil {
			err = err2
		}
		if err != nil {
			return fmt.Errorf("restore %s: %w", name, err)
		}
		return nil
	})
	return err
}
