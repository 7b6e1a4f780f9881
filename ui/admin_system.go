package ui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/frontdesk-pbx/frontdesk/media/whisper"
	"github.com/frontdesk-pbx/frontdesk/media/whisper/models"
	"github.com/frontdesk-pbx/frontdesk/pbx/mailer"
	"github.com/frontdesk-pbx/frontdesk/store"
	"github.com/frontdesk-pbx/frontdesk/store/backup"
)

// processStart is when this process started, for the status page's uptime
// (set once at start-up, never changed).
var processStart = time.Now()

// smtpView is what the SMTP settings look like through the API, the same
// as `frontdesk smtp show --json`; the password is write-only.
type smtpView struct {
	Host        string `json:"host"`
	Port        int    `json:"port"`
	PortDefault bool   `json:"port_default"`
	Security    string `json:"security"`
	Username    string `json:"username"`
	Password    string `json:"password"` // "set" or "unset"
	From        string `json:"from"`
	LinkBase    string `json:"link_base"`
	Pending     int    `json:"pending_emails"`
	LastError   string `json:"last_error"`
	Configured  bool   `json:"configured"`
	Problem     string `json:"problem,omitempty"` // why these settings can't send mail
}

func (s *Server) smtpView(ctx context.Context) (smtpView, error) {
	set, err := mailer.LoadSettings(ctx, s.store)
	if err != nil {
		return smtpView{}, err
	}
	pending, lastErr, err := s.store.PendingEmails(ctx)
	if err != nil {
		return smtpView{}, err
	}
	v := smtpView{Host: set.Host, Port: set.Port, Security: set.Security, Username: set.Username, Password: "unset",
		From: set.From, LinkBase: set.LinkBase, Pending: pending, LastError: lastErr, Configured: set.Configured()}
	if v.Port == 0 {
		v.Port, v.PortDefault = mailer.DefaultPort(set.Security), true
	}
	if set.Password != "" {
		v.Password = "set"
	}
	if err := set.Validate(); err != nil && set.Configured() {
		v.Problem = err.Error()
	}
	return v, nil
}

func (s *Server) adminGetSMTP(c echo.Context) error {
	v, err := s.smtpView(c.Request().Context())
	if err != nil {
		return s.adminFail(c, "read mail settings", err)
	}
	return c.JSON(http.StatusOK, v)
}

// smtpRequest changes the mail settings like `smtp set`: absent fields keep
// their value, an empty username turns login off (and drops the password),
// an empty password keeps the stored one unless clear_password is set.
type smtpRequest struct {
	Host          *string `json:"host"`
	Port          *int    `json:"port"` // 0: the default for the security
	Security      *string `json:"security"`
	Username      *string `json:"username"`
	Password      *string `json:"password"`
	ClearPassword bool    `json:"clear_password"`
	From          *string `json:"from"`
	LinkBase      *string `json:"link_base"`
}

func (s *Server) adminSetSMTP(c echo.Context) error {
	var r smtpRequest
	if ok, err := decodeJSON(c, &r); !ok {
		return err
	}
	ctx := c.Request().Context()
	cur, err := mailer.LoadSettings(ctx, s.store)
	if err != nil {
		return s.adminFail(c, "change mail settings", err)
	}
	if r.Host != nil {
		cur.Host = strings.TrimSpace(*r.Host)
	}
	if r.Port != nil {
		cur.Port = *r.Port
	}
	if r.Security != nil {
		cur.Security = strings.ToLower(strings.TrimSpace(*r.Security))
	}
	if r.Username != nil {
		cur.Username = strings.TrimSpace(*r.Username)
		if cur.Username == "" {
			cur.Password = ""
		}
	}
	if r.Password != nil && *r.Password != "" {
		cur.Password = *r.Password
	}
	if r.ClearPassword {
		cur.Password = ""
	}
	if r.From != nil {
		cur.From = strings.TrimSpace(*r.From)
	}
	if r.LinkBase != nil {
		cur.LinkBase = strings.TrimSpace(*r.LinkBase)
	}
	// The CLI's own checks first (same words), then the mailer's.
	if cur.Host == "" {
		return badField(c, "host", "the mail server host is required")
	}
	if cur.From == "" {
		return badField(c, "from", "the sender address is required, e.g. \"Frontdesk <pbx@example.com>\"")
	}
	if err := cur.Validate(); err != nil {
		return badField(c, smtpField(err), err.Error())
	}
	if err := mailer.SaveSettings(ctx, s.store, cur); err != nil {
		return s.adminFail(c, "change mail settings", err)
	}
	s.audit(c, "smtp.set", "", cur.Addr()+" "+cur.Security)
	if _, err := s.store.RetryEmailsNow(ctx, time.Now()); err != nil {
		return s.adminFail(c, "change mail settings", err)
	}
	if s.opts.Wake != nil {
		s.opts.Wake()
	}
	return s.adminGetSMTP(c)
}

// smtpField names the field a mailer.Settings.Validate error is about.
func smtpField(err error) string {
	msg := strings.ToLower(err.Error())
	for _, f := range []struct{ word, field string }{
		{"smtp host", "host"}, {"no smtp host", "host"}, {"port", "port"}, {"security", "security"},
		{"unencrypted", "security"}, {"needs a username", "username"}, {"sender", "from"}, {"link base", "link_base"},
	} {
		if strings.Contains(msg, f.word) {
			return f.field
		}
	}
	return "host"
}

// smtpTestRequest names where the test mail goes.
type smtpTestRequest struct {
	Address string `json:"address"`
}

func (s *Server) adminTestSMTP(c echo.Context) error {
	var r smtpTestRequest
	if ok, err := decodeJSON(c, &r); !ok {
		return err
	}
	to, err := mail.ParseAddress(strings.TrimSpace(r.Address))
	if err != nil {
		return badField(c, "address", fmt.Sprintf("address %q: want an email address like name@example.com", r.Address))
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 30*time.Second)
	defer cancel()
	set, err := mailer.LoadSettings(ctx, s.store)
	if err != nil {
		return s.adminFail(c, "send test mail", err)
	}
	m := mailer.New(s.store, s.opts.DataDir, s.log)
	m.Timeout = 30 * time.Second
	if err := m.SendTest(ctx, to.Address); err != nil {
		s.audit(c, "smtp.test", "", to.Address+": failed: "+err.Error())
		return jsonError(c, http.StatusBadGateway, fmt.Sprintf("the test mail to %s was not sent: %s", to.Address, err))
	}
	s.audit(c, "smtp.test", "", to.Address)
	return c.JSON(http.StatusOK, map[string]string{"message": fmt.Sprintf("test mail sent to %s through %s (%s)", to.Address, set.Addr(), set.Security)})
}

// adminStatusView is the system status page's data.
type adminStatusView struct {
	Version        string             `json:"version"`
	GoVersion      string             `json:"go_version"`
	StartedAt      time.Time          `json:"started_at"`
	UptimeSeconds  int64              `json:"uptime_seconds"`
	DataDir        string             `json:"data_dir"`
	DiskFree       uint64             `json:"disk_free_bytes"`
	DiskTotal      uint64             `json:"disk_total_bytes"`
	DatabaseBytes  int64              `json:"database_bytes"`
	SchemaVersion  int                `json:"schema_version"`
	Engine         string             `json:"transcription_engine"`
	WhisperBuiltIn bool               `json:"whisper_available"`
	Model          string             `json:"transcription_model"` // path of the model in use, "" for none
	ModelName      string             `json:"transcription_model_name,omitempty"`
	Queue          map[string]int     `json:"transcription_queue"`
	Counts         store.SystemCounts `json:"counts"`
	Registered     int                `json:"registered_devices"`
	ActiveCalls    int                `json:"active_calls"`
}

func (s *Server) adminStatus(c echo.Context) error {
	ctx := c.Request().Context()
	now := time.Now()
	v := adminStatusView{Version: s.version, GoVersion: runtime.Version(), StartedAt: processStart.UTC(),
		UptimeSeconds: int64(now.Sub(processStart).Seconds()), DataDir: s.opts.DataDir,
		Engine: s.opts.Engine, WhisperBuiltIn: whisper.Available()}
	if v.Engine == "" {
		v.Engine = whisper.EngineName()
	}
	if s.opts.DataDir != "" {
		var fs syscall.Statfs_t
		if err := syscall.Statfs(s.opts.DataDir, &fs); err == nil {
			v.DiskFree = fs.Bavail * uint64(fs.Bsize)
			v.DiskTotal = fs.Blocks * uint64(fs.Bsize)
		}
	}
	for _, suffix := range []string{"", "-wal"} {
		if st, err := os.Stat(s.store.Path() + suffix); err == nil {
			v.DatabaseBytes += st.Size()
		}
	}
	var err error
	if v.SchemaVersion, err = s.store.Version(ctx); err != nil {
		return s.adminFail(c, "status", err)
	}
	model, err := s.store.Setting(ctx, models.SettingKey)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return s.adminFail(c, "status", err)
	}
	v.Model = model
	if model != "" {
		v.ModelName = strings.TrimSuffix(strings.TrimPrefix(filepath.Base(model), "ggml-"), ".bin")
	}
	if v.Queue, err = s.store.JobCounts(ctx); err != nil {
		return s.adminFail(c, "status", err)
	}
	if v.Counts, err = s.store.SystemCounts(ctx); err != nil {
		return s.adminFail(c, "status", err)
	}
	counts, err := s.store.RegisteredCounts(ctx, now)
	if err != nil {
		return s.adminFail(c, "status", err)
	}
	for _, n := range counts {
		v.Registered += n
	}
	calls, err := s.store.ActiveCalls(ctx, now.Add(-activeCallWindow))
	if err != nil {
		return s.adminFail(c, "status", err)
	}
	v.ActiveCalls = len(calls)
	return c.JSON(http.StatusOK, v)
}

// activeCallWindow: an unended call older than this is a leftover of a
// crash, not a call in progress.
const activeCallWindow = 12 * time.Hour

func (s *Server) adminDevices(c echo.Context) error {
	bs, err := s.store.AllBindings(c.Request().Context(), time.Now())
	if err != nil {
		return s.adminFail(c, "list devices", err)
	}
	return c.JSON(http.StatusOK, bs)
}

func (s *Server) adminCalls(c echo.Context) error {
	calls, err := s.store.ActiveCalls(c.Request().Context(), time.Now().Add(-activeCallWindow))
	if err != nil {
		return s.adminFail(c, "list calls", err)
	}
	return c.JSON(http.StatusOK, calls)
}

// adminBackup streams a backup of the data directory (the same archive as
// `frontdesk backup`). An error midway can only cut the stream short, which
// backup.Verify (and restore) detect.
func (s *Server) adminBackup(c echo.Context) error {
	name := "frontdesk-backup-" + time.Now().Format("20060102-150405") + ".tar.gz"
	s.audit(c, "backup.download", "", name)
	h := c.Response().Header()
	h.Set("Content-Type", "application/gzip")
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	h.Set("Cache-Control", "no-store")
	c.Response().WriteHeader(http.StatusOK)
	m, err := backup.Create(c.Request().Context(), s.store, s.opts.DataDir, c.Response())
	if err != nil {
		s.log.Error("admin: backup download", "error", err)
		return nil // the status is sent; the truncated archive fails verification
	}
	s.log.Info("backup downloaded", "file", name, "by", currentUser(c).Name, "messages", m.Count("messages"))
	return nil
}
