package ui

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/frontdesk-pbx/frontdesk/media"
	"github.com/frontdesk-pbx/frontdesk/pbx"
)

// maxAudioUpload bounds an uploaded greeting or music file.
const maxAudioUpload = 32 << 20

// musicFiles lists the music-on-hold files queues may use.
func (s *Server) musicFiles() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(s.opts.DataDir, pbx.MusicDir))
	if errors.Is(err, fs.ErrNotExist) {
		return []string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list music: %w", err)
	}
	out := []string{}
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(strings.ToLower(e.Name()), ".wav") {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// checkMusic adds a problem for each queue music file that is not stored.
func (s *Server) checkMusic(music []string, bad *pbx.Invalid) {
	have, err := s.musicFiles()
	if err != nil {
		bad.Add("music", "%s", err.Error())
		return
	}
	for _, m := range music {
		if !slices.Contains(have, m) {
			bad.Add("music", "music %q: no such file; upload it first", m)
		}
	}
}

func (s *Server) listMusic(c echo.Context) error {
	files, err := s.musicFiles()
	if err != nil {
		return s.routingFail(c, err, "file")
	}
	return c.JSON(http.StatusOK, files)
}

// uploadedFile copies the multipart field "file" into a temporary directory
// under a tidy version of its own name, and returns the path.
func uploadedFile(c echo.Context, dir string) (string, error) {
	fh, err := c.FormFile("file")
	if err != nil {
		return "", pbx.InvalidField("file", "choose a WAV file to upload")
	}
	if fh.Size > maxAudioUpload {
		return "", pbx.InvalidField("file", "the file is larger than %d MB", maxAudioUpload>>20)
	}
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '-'
	}, filepath.Base(fh.Filename))
	if name = strings.TrimLeft(name, ".-"); name == "" {
		name = "upload.wav"
	}
	src, err := fh.Open()
	if err != nil {
		return "", fmt.Errorf("open upload: %w", err)
	}
	defer src.Close()
	path := filepath.Join(dir, name)
	dst, err := os.Create(path)
	if err != nil {
		return "", fmt.Errorf("save upload: %w", err)
	}
	if _, err := dst.ReadFrom(src); err != nil {
		dst.Close()
		return "", fmt.Errorf("save upload: %w", err)
	}
	return path, dst.Close()
}

// uploadMusic stores a WAV as music on hold (as queue set --music does).
func (s *Server) uploadMusic(c echo.Context) error {
	c.Request().Body = http.MaxBytesReader(c.Response(), c.Request().Body, maxAudioUpload+1<<20)
	tmp, err := os.MkdirTemp("", "frontdesk-upload-")
	if err != nil {
		return s.routingFail(c, err, "file")
	}
	defer os.RemoveAll(tmp)
	path, err := uploadedFile(c, tmp)
	if err != nil {
		return s.routingFail(c, err, "file")
	}
	name, err := pbx.StoreMusicFile(s.opts.DataDir, path)
	if err != nil {
		return s.routingFail(c, pbx.InvalidField("file", "not a WAV file we can read: %v", err), "file")
	}
	s.routingAudit(c, "music.saved", name)
	return c.JSON(http.StatusCreated, map[string]string{"name": name})
}

// greetingWhich reads ?which=greeting|after_hours (or the form field).
func greetingWhich(c echo.Context) (string, bool) {
	w := c.QueryParam("which")
	if w == "" {
		w = c.FormValue("which")
	}
	switch w {
	case "", "greeting":
		return "greeting", true
	case "after_hours":
		return "after_hours", true
	}
	return "", false
}

// attendantGreeting plays an attendant's greeting (404 when it has none and
// the built-in one plays).
func (s *Server) attendantGreeting(c echo.Context) error {
	a, err := s.store.Attendant(c.Request().Context(), routeParam(c, "number"))
	if err != nil {
		return s.routingFail(c, err, "number")
	}
	which, ok := greetingWhich(c)
	if !ok {
		return jsonError(c, http.StatusBadRequest, "which must be greeting or after_hours")
	}
	file := a.Greeting
	if which == "after_hours" {
		file = a.AfterHoursGreeting
	}
	if file == "" {
		return jsonError(c, http.StatusNotFound, "this attendant plays the built-in greeting")
	}
	return s.serveGreeting(c, file)
}

// uploadAttendantGreeting stores a WAV as an attendant's greeting or
// after-hours greeting (as attendant set --greeting does).
func (s *Server) uploadAttendantGreeting(c echo.Context) error {
	ctx := c.Request().Context()
	c.Request().Body = http.MaxBytesReader(c.Response(), c.Request().Body, maxAudioUpload+1<<20)
	a, err := s.store.Attendant(ctx, routeParam(c, "number"))
	if err != nil {
		return s.routingFail(c, err, "number")
	}
	which, ok := greetingWhich(c)
	if !ok {
		return s.routingFail(c, pbx.InvalidField("which", "which must be greeting or after_hours"), "number")
	}
	fh, err := c.FormFile("file")
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return s.routingFail(c, pbx.InvalidField("file", "the file is larger than %d MB", maxAudioUpload>>20), "number")
		}
		return s.routingFail(c, pbx.InvalidField("file", "choose a WAV file to upload"), "number")
	}
	if fh.Size > maxAudioUpload {
		return s.routingFail(c, pbx.InvalidField("file", "the file is larger than %d MB", maxAudioUpload>>20), "number")
	}
	src, err := fh.Open()
	if err != nil {
		return s.routingFail(c, err, "number")
	}
	defer src.Close()
	audio, err := media.ReadWAV(src)
	if err != nil {
		return s.routingFail(c, pbx.InvalidField("file", "not a WAV file we can read: %v", err), "number")
	}
	prefix := "attendant-" + a.Number
	if which == "after_hours" {
		prefix += "-after"
	}
	name, err := pbx.StoreGreetingFile(s.opts.DataDir, prefix, audio)
	if err != nil {
		return s.routingFail(c, err, "number")
	}
	if which == "after_hours" {
		a.AfterHoursGreeting = name
	} else {
		a.Greeting = name
	}
	if err := s.store.SaveAttendant(ctx, a, true); err != nil {
		return s.routingFail(c, err, "number")
	}
	s.routingAudit(c, "attendant.saved", a.Number+" ("+which+" uploaded)")
	return c.JSON(http.StatusOK, a)
}

// routingChoice is one entry of a picker in the routing forms.
type routingChoice struct {
	Value string `json:"value"`
	Label string `json:"label"`
}

// routingOptions are what the routing forms offer to pick from.
type routingOptions struct {
	Extensions   []routingChoice `json:"extensions"`
	Destinations []routingChoice `json:"destinations"`
	Schedules    []string        `json:"schedules"`
	Trunks       []string        `json:"trunks"`
	Music        []string        `json:"music"`
	Classes      []string        `json:"classes"`
}

func (s *Server) routingOptions(c echo.Context) error {
	ctx := c.Request().Context()
	var o routingOptions
	fail := func(err error) error { return s.routingFail(c, err, "") }
	exts, err := s.store.Extensions(ctx)
	if err != nil {
		return fail(err)
	}
	o.Extensions, o.Destinations = []routingChoice{}, []routingChoice{}
	for _, e := range exts {
		o.Extensions = append(o.Extensions, routingChoice{e.Number, e.Number + " " + e.Name})
		o.Destinations = append(o.Destinations, routingChoice{pbx.DestExtension + ":" + e.Number, "Extension " + e.Number + " " + e.Name})
	}
	boxes, err := s.store.Boxes(ctx)
	if err != nil {
		return fail(err)
	}
	for _, b := range boxes {
		o.Destinations = append(o.Destinations, routingChoice{pbx.DestVoicemail + ":" + b.Number, "Voicemail " + b.Number + " " + b.Name})
	}
	groups, err := s.store.RingGroups(ctx)
	if err != nil {
		return fail(err)
	}
	for _, g := range groups {
		o.Destinations = append(o.Destinations, routingChoice{pbx.DestGroup + ":" + g.Number, "Ring group " + g.Number + " " + g.Name})
	}
	queues, err := s.store.Queues(ctx)
	if err != nil {
		return fail(err)
	}
	for _, q := range queues {
		o.Destinations = append(o.Destinations, routingChoice{pbx.DestQueue + ":" + q.Number, "Queue " + q.Number + " " + q.Name})
	}
	atts, err := s.store.Attendants(ctx)
	if err != nil {
		return fail(err)
	}
	for _, a := range atts {
		o.Destinations = append(o.Destinations, routingChoice{pbx.DestAttendant + ":" + a.Number, "Attendant " + a.Number + " " + a.Name})
	}
	if o.Schedules, err = s.store.Schedules(ctx); err != nil {
		return fail(err)
	}
	trunks, err := s.store.Trunks(ctx)
	if err != nil {
		return fail(err)
	}
	o.Trunks = []string{}
	for _, t := range trunks {
		o.Trunks = append(o.Trunks, t.Name)
	}
	if o.Music, err = s.musicFiles(); err != nil {
		return fail(err)
	}
	o.Schedules, o.Classes = nonNil(o.Schedules), pbx.DialClasses
	return c.JSON(http.StatusOK, o)
}
