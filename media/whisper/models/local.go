package models

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Magic is how every whisper.cpp ggml model file starts: the number
// 0x67676d6c ("ggml") written little-endian by the converters, so the bytes
// on disk read "lmgg".
var Magic = [4]byte{'l', 'm', 'g', 'g'}

// Dir is where models live in a data directory.
func Dir(dataDir string) string { return filepath.Join(dataDir, "models") }

// Path is where the model called name is stored in a data directory.
func Path(dataDir, name string) string { return filepath.Join(Dir(dataDir), FileName(name)) }

func partialPath(dataDir, name string) string {
	return filepath.Join(Dir(dataDir), name+".partial")
}

// ErrNotModel is returned for a file that is not a whisper ggml model.
var ErrNotModel = errors.New("not a whisper.cpp ggml model")

// CheckFile checks that path is a regular file starting with the ggml magic.
func CheckFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s: %w (not a regular file)", path, ErrNotModel)
	}
	return checkMagic(f, path)
}

func checkMagic(r io.Reader, what string) error {
	var head [4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return fmt.Errorf("%s: %w (shorter than its 4-byte header)", what, ErrNotModel)
	}
	if head != Magic {
		return fmt.Errorf("%s: %w (starts with %q, want %q)", what, ErrNotModel, head[:], Magic[:])
	}
	return nil
}

// IsPath reports whether arg names a file rather than a model: it has a
// directory separator or ends in .bin. "base.en" is a name,
// "./base.en" and "ggml-base.en.bin" are paths.
func IsPath(arg string) bool {
	return strings.ContainsRune(arg, '/') || strings.ContainsRune(arg, filepath.Separator) || strings.HasSuffix(arg, ".bin")
}

// Resolve turns a model name or a file path into the absolute path of a
// model file that exists and starts with the ggml magic. A name means
// DATA/models/ggml-NAME.bin, which must have been pulled.
func Resolve(dataDir, arg string) (string, error) {
	if strings.TrimSpace(arg) == "" {
		return "", errors.New("no model given: want a name such as base.en or a path to a ggml .bin file")
	}
	var path string
	if IsPath(arg) {
		path = arg
	} else {
		if err := CheckName(arg); err != nil {
			return "", err
		}
		path = Path(dataDir, arg)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			hint := fmt.Sprintf("frontdesk model pull %s", arg)
			if _, ok := Lookup(arg); !ok {
				hint = "see frontdesk model list"
			}
			return "", fmt.Errorf("model %s is not downloaded (no %s): %s", arg, path, hint)
		}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if err := CheckFile(abs); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("model file %s does not exist", abs)
		}
		return "", err
	}
	return abs, nil
}

// LocalFile is a model file found in DATA/models.
type LocalFile struct {
	Name string `json:"name"` // NAME of ggml-NAME.bin, else the file name
	Path string `json:"path"`
	Size int64  `json:"size"`
}

// Local lists the .bin files in DATA/models, by name, with absolute paths.
// A missing directory
// is no error: nothing has been pulled yet.
func Local(dataDir string) ([]LocalFile, error) {
	dir := Dir(dataDir)
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []LocalFile
	for _, e := range ents {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".bin") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		name := e.Name()
		if strings.HasPrefix(name, "ggml-") {
			name = strings.TrimSuffix(strings.TrimPrefix(name, "ggml-"), ".bin")
		}
		out = append(out, LocalFile{Name: name, Path: filepath.Join(dir, e.Name()), Size: info.Size()})
	}
	slices.SortFunc(out, func(a, b LocalFile) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// PartialSize is how much of a model an interrupted pull has left in
// DATA/models (0 if none): the next pull resumes from there.
func PartialSize(dataDir, name string) int64 {
	st, err := os.Stat(partialPath(dataDir, name))
	if err != nil {
		return 0
	}
	return st.Size()
}
