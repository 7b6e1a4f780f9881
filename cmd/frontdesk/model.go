package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/frontdesk-pbx/frontdesk/media"
	"github.com/frontdesk-pbx/frontdesk/media/whisper"
	"github.com/frontdesk-pbx/frontdesk/media/whisper/models"
	"github.com/frontdesk-pbx/frontdesk/store"
)

func newModelCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "model",
		Short: "Manage the whisper models voicemail is transcribed with",
	}
	cmd.AddCommand(newModelPullCommand(g), newModelUseCommand(g), newModelListCommand(g))
	return cmd
}

func newModelPullCommand(g *globalFlags) *cobra.Command {
	var baseURL, sum string
	cmd := &cobra.Command{
		Use:   "pull NAME [--base-url URL] [--sha256 HEX]",
		Short: "Download a whisper model (tiny.en, base.en, small.en, ...) into the data dir",
		Long: `Download the ggml model NAME (see "frontdesk model list") from the whisper.cpp
project's host into DATA/models/ggml-NAME.bin. An interrupted download resumes,
in the same run or the next one. The file is kept only if its SHA-256 is the
catalogue's (or --sha256's) and it starts like a ggml model; otherwise it is
deleted. A model outside the catalogue needs --sha256. The last line printed
is the SHA-256 and the path of the model.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := strings.TrimSuffix(strings.TrimPrefix(args[0], "ggml-"), ".bin")
			if err := models.CheckName(name); err != nil {
				return err
			}
			if !cmd.Flags().Changed("base-url") {
				baseURL = models.BaseURL()
			}
			stderr := cmd.ErrOrStderr()
			if e, ok := models.Lookup(name); ok && sum != "" && !strings.EqualFold(strings.TrimSpace(sum), e.SHA256) {
				fmt.Fprintf(stderr, "note: --sha256 differs from the catalogue's %s for %s; checking against yours\n", e.SHA256, name)
			}
			p := newPullProgress(stderr, name)
			res, err := models.Pull(cmd.Context(), name, g.dataDir, baseURL, sum, p.report)
			p.finish()
			if err != nil {
				return err
			}
			path, err := filepath.Abs(res.Path)
			if err != nil {
				return err
			}
			if res.Already {
				fmt.Fprintf(stderr, "%s is already downloaded and verified\n", name)
			} else {
				fmt.Fprintf(stderr, "%s downloaded (%s), SHA-256 verified; transcribe with it: frontdesk model use %s\n", name, models.FormatBytes(res.Size), name)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s  %s\n", res.SHA256, path)
			return nil
		},
	}
	cmd.Flags().StringVar(&baseURL, "base-url", "", "where to download from (default $"+models.BaseURLEnv+" or "+models.DefaultBaseURL+")")
	cmd.Flags().StringVar(&sum, "sha256", "", "expected SHA-256 of the file, in hex (required for a model outside the catalogue)")
	return cmd
}

// pullProgress shows a download on stderr: a line rewritten in place on a
// terminal, a line per tenth of the file otherwise (logs, CI).
type pullProgress struct {
	w       io.Writer
	name    string
	tty     bool
	last    time.Time
	lastTen int64
	inPlace bool // a progress line is showing and has no newline yet
}

func newPullProgress(w io.Writer, name string) *pullProgress {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &pullProgress{w: w, name: name, tty: tty, lastTen: -1}
}

func (p *pullProgress) report(pr models.Progress) {
	if pr.Note != "" {
		p.endLine()
		fmt.Fprintf(p.w, "%s: %s\n", p.name, pr.Note)
		return
	}
	line := fmt.Sprintf("%s: %s", p.name, models.FormatBytes(pr.Done))
	if pr.Total > 0 {
		line += fmt.Sprintf(" of %s (%d%%)", models.FormatBytes(pr.Total), pr.Done*100/pr.Total)
	}
	if p.tty {
		if time.Since(p.last) < 200*time.Millisecond && pr.Done != pr.Total {
			return
		}
		p.last = time.Now()
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.inPlace = true
		return
	}
	if pr.Total > 0 {
		if ten := pr.Done * 10 / pr.Total; ten != p.lastTen {
			p.lastTen = ten
			fmt.Fprintln(p.w, line)
		}
	}
}

func (p *pullProgress) endLine() {
	if p.inPlace {
		fmt.Fprintln(p.w)
		p.inPlace = false
	}
}

func (p *pullProgress) finish() { p.endLine() }

func newModelUseCommand(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "use NAME|PATH",
		Short: "Choose the whisper model voicemail is transcribed with",
		Long: `Choose the model: a NAME that "frontdesk model pull" downloaded
(DATA/models/ggml-NAME.bin), or the PATH of a ggml model file elsewhere.
The server picks the change up for the next message.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := models.Resolve(g.dataDir, args[0])
			if err != nil {
				return err
			}
			return withStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				if err := st.SetSetting(ctx, models.SettingKey, path); err != nil {
					return err
				}
				_ = st.Audit(ctx, "cli", "model.use", "", 0, path)
				fmt.Fprintf(cmd.OutOrStdout(), "whisper model: %s\n", path)
				if !whisper.Available() {
					fmt.Fprintf(cmd.ErrOrStderr(), "note: this frontdesk binary was built without whisper, so messages stay untranscribed: %v\n", whisper.ErrUnavailable)
				}
				return nil
			})
		},
	}
}

// modelRow is one line of "model list".
type modelRow struct {
	Name         string `json:"name"`
	File         string `json:"file"`
	Catalogue    bool   `json:"catalogue"` // one of the standard whisper.cpp models
	Size         int64  `json:"size"`      // catalogue size, else the size on disk
	SHA256       string `json:"sha256,omitempty"`
	English      bool   `json:"english_only"`
	Quantization string `json:"quantization,omitempty"`
	Downloaded   bool   `json:"downloaded"`
	Path         string `json:"path,omitempty"`
	Partial      int64  `json:"partial_bytes,omitempty"` // an interrupted pull to resume
	InUse        bool   `json:"in_use"`
}

func newModelListCommand(g *globalFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "List the whisper models: the catalogue, what is downloaded, what is in use",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				inUse, err := st.Setting(ctx, models.SettingKey)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
				rows, err := modelRows(g.dataDir, inUse)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if asJSON {
					return writeJSON(out, rows)
				}
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tSIZE\tLANGUAGES\tDOWNLOADED\tIN USE")
				for _, r := range rows {
					lang := "multilingual"
					if r.English {
						lang = "English"
					}
					if !r.Catalogue {
						lang = "?"
					}
					down := "no"
					switch {
					case r.Downloaded:
						down = "yes"
					case r.Partial > 0:
						down = "partly (" + models.FormatBytes(r.Partial) + ")"
					}
					use := ""
					if r.InUse {
						use = "yes"
					}
					name := r.Name
					if !r.Catalogue {
						name = r.Path
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", name, models.FormatBytes(r.Size), lang, down, use)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				switch {
				case inUse == "":
					fmt.Fprintln(out, "no model in use: messages are kept untranscribed (frontdesk model pull base.en; frontdesk model use base.en)")
				case !whisper.Available():
					fmt.Fprintf(out, "engine: %s\n", whisper.EngineName())
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// modelRows joins the catalogue with what is on disk and what is in use.
func modelRows(dataDir, inUse string) ([]modelRow, error) {
	local, err := models.Local(dataDir)
	if err != nil {
		return nil, err
	}
	onDisk := map[string]models.LocalFile{}
	for _, f := range local {
		onDisk[f.Name] = f
	}
	same := func(path string) bool {
		if inUse == "" {
			return false
		}
		abs, err := filepath.Abs(path)
		return err == nil && abs == inUse
	}
	var rows []modelRow
	usedListed := false
	for _, e := range models.Catalog() {
		r := modelRow{Name: e.Name, File: e.File(), Catalogue: true, Size: e.Size, SHA256: e.SHA256,
			English: e.English(), Quantization: e.Quantization(), Partial: models.PartialSize(dataDir, e.Name)}
		if f, ok := onDisk[e.Name]; ok {
			r.Downloaded, r.Path, r.InUse = true, f.Path, same(f.Path)
			delete(onDisk, e.Name)
		}
		usedListed = usedListed || r.InUse
		rows = append(rows, r)
	}
	for _, f := range local {
		if _, ok := onDisk[f.Name]; !ok {
			continue // a catalogue model, listed above
		}
		r := modelRow{Name: f.Name, File: filepath.Base(f.Path), Size: f.Size, Downloaded: true, Path: f.Path, InUse: same(f.Path)}
		usedListed = usedListed || r.InUse
		rows = append(rows, r)
	}
	if inUse != "" && !usedListed {
		r := modelRow{Name: strings.TrimSuffix(strings.TrimPrefix(filepath.Base(inUse), "ggml-"), ".bin"), File: filepath.Base(inUse), Path: inUse, InUse: true}
		if st, err := os.Stat(inUse); err == nil {
			r.Size, r.Downloaded = st.Size(), true
		}
		rows = append(rows, r)
	}
	return rows, nil
}

var transcribeLanguage = regexp.MustCompile(`^(auto|[a-z]{2,3})$`)

// transcriptView is what transcribe --json prints; times are in seconds.
type transcriptView struct {
	File     string        `json:"file"`
	Model    string        `json:"model"`
	Language string        `json:"language"`
	Seconds  float64       `json:"seconds"`
	Segments []segmentView `json:"segments"`
	Text     string        `json:"text"`
}

type segmentView struct {
	Start float64 `json:"start"`
	End   float64 `json:"end"`
	Text  string  `json:"text"`
}

func newTranscribeCommand(g *globalFlags) *cobra.Command {
	var model, language string
	var asJSON bool
	var threads int
	cmd := &cobra.Command{
		Use:   "transcribe FILE.wav [--model NAME|PATH] [--language auto|en|...] [--json]",
		Short: "Print a transcript of a WAV file, to try a whisper model",
		Long: `Transcribe FILE.wav the way voicemail is transcribed: the audio is brought
to 8 kHz as a phone call would be, trimmed of silence, and given to whisper
with the model in use (or --model). Needs a binary built with whisper.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !whisper.Available() {
				return fmt.Errorf("this frontdesk binary was built without whisper: %w", whisper.ErrUnavailable)
			}
			if !transcribeLanguage.MatchString(language) {
				return fmt.Errorf("--language %q: want auto or a language code such as en, de, fr", language)
			}
			path, err := transcribeModel(cmd, g, model)
			if err != nil {
				return err
			}
			a, err := media.ReadWAVFile(args[0])
			if err != nil {
				return fmt.Errorf("read %s: %w", args[0], err)
			}
			if a.Rate != media.SampleRate {
				a = media.Audio{Rate: media.SampleRate, Samples: media.Resample(a.Samples, a.Rate, media.SampleRate)}
			}
			view := transcriptView{File: args[0], Model: path, Language: language, Seconds: a.Seconds(), Segments: []segmentView{}}
			samples, offset := whisper.Prepare(a)
			if len(samples) > 0 {
				if threads <= 0 {
					threads = runtime.NumCPU()
				}
				m, err := whisper.Load(path, whisper.Options{Threads: threads})
				if err != nil {
					if errors.Is(err, whisper.ErrUnavailable) {
						return fmt.Errorf("this frontdesk binary was built without whisper: %w", err)
					}
					return fmt.Errorf("load model %s: %w", path, err)
				}
				defer m.Close()
				res, err := m.Transcribe(cmd.Context(), samples, language)
				if err != nil {
					return fmt.Errorf("transcribe %s: %w", args[0], err)
				}
				if res.Language != "" {
					view.Language = res.Language
				}
				for _, s := range res.Segments {
					view.Segments = append(view.Segments, segmentView{
						Start: (s.Start + offset).Seconds(), End: (s.End + offset).Seconds(), Text: strings.TrimSpace(s.Text)})
				}
				view.Text = res.Text()
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return writeJSON(out, view)
			}
			if len(view.Segments) == 0 {
				fmt.Fprintln(out, "(no speech)")
				return nil
			}
			for _, s := range view.Segments {
				fmt.Fprintf(out, "[%s - %s] %s\n", segmentClock(s.Start), segmentClock(s.End), s.Text)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&model, "model", "", "model NAME (pulled) or PATH of a ggml file (default: the one in use)")
	fl.StringVar(&language, "language", "auto", "spoken language: auto to detect it, or a code such as en")
	fl.BoolVar(&asJSON, "json", false, "print JSON")
	fl.IntVar(&threads, "threads", 0, "CPU threads (0: all)")
	return cmd
}

// transcribeModel finds the model for transcribe: --model, else the one in use.
func transcribeModel(cmd *cobra.Command, g *globalFlags, arg string) (string, error) {
	if arg != "" {
		return models.Resolve(g.dataDir, arg)
	}
	var path string
	err := withStore(cmd, g, func(ctx context.Context, st *store.Store) error {
		v, err := st.Setting(ctx, models.SettingKey)
		if errors.Is(err, store.ErrNotFound) || (err == nil && v == "") {
			return errors.New("no whisper model in use: run frontdesk model pull base.en and frontdesk model use base.en, or pass --model NAME|PATH")
		}
		path = v
		return err
	})
	if err != nil {
		return "", err
	}
	if err := models.CheckFile(path); err != nil {
		return "", fmt.Errorf("model in use: %w (choose another with frontdesk model use)", err)
	}
	return path, nil
}

// segmentClock writes seconds as M:SS.s.
func segmentClock(sec float64) string {
	m := int(sec) / 60
	return fmt.Sprintf("%d:%04.1f", m, sec-float64(m*60))
}
