// Command frontdesk is the Frontdesk phone system: `frontdesk serve` runs the
// PBX, and the other commands set it up. The CLI works whether or not the
// server runs; both use the same database, so changes apply at once.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/frontdesk-pbx/frontdesk/media/whisper"
	"github.com/frontdesk-pbx/frontdesk/store"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// globalFlags are the flags every command takes.
type globalFlags struct {
	dataDir   string
	logLevel  string
	logFormat string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCommand(os.Stdout, os.Stderr).ExecuteContext(ctx); err != nil {
		// One clear line on stderr, as every command promises.
		fmt.Fprintf(os.Stderr, "frontdesk: %s\n", oneLine(err.Error()))
		os.Exit(1)
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:           "frontdesk",
		Short:         "Frontdesk: an office phone system with a shared voicemail team inbox",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	defaultData := os.Getenv("FRONTDESK_DATA")
	if defaultData == "" {
		defaultData = "./data"
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.dataDir, "data", defaultData, "data directory: database and recordings (env FRONTDESK_DATA)")
	pf.StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	pf.StringVar(&g.logFormat, "log-format", "text", "log format: text or json")

	root.AddCommand(
		newServeCommand(g),
		newExtCommand(g),
		newUserCommand(g),
		newCallsCommand(g),
		newVMCommand(g),
		newSMTPCommand(g),
		newAuditCommand(g),
		newGroupCommand(g),
		newNumberCommand(g),
		newDialRuleCommand(g),
		newScheduleCommand(g),
		newAttendantCommand(g),
		newQueueCommand(g),
		newTrunkCommand(g),
		newModelCommand(g),
		newTranscribeCommand(g),
		newBackupCommand(g),
		newRestoreCommand(g),
		newDoctorCommand(g),
		newRetentionCommand(g),
		newVersionCommand(),
	)
	return root
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "frontdesk %s (schema %d)\ntranscription: %s\n",
				version, store.SchemaVersion(), whisper.EngineName())
			return nil
		},
	}
}

// logger builds the slog logger the flags ask for, writing to w.
func (g *globalFlags) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", g.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: truncateAttr}
	switch g.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", g.logFormat)
}

// maxLogValue bounds one logged string: a 1 MB garbage datagram must not
// become a 1 MB log line.
const maxLogValue = 512

func truncateAttr(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindString {
		if v := a.Value.String(); len(v) > maxLogValue {
			a.Value = slog.StringValue(fmt.Sprintf("%s... (%d bytes)", v[:maxLogValue], len(v)))
		}
	}
	return a
}

// openStore opens the database in the data dir for a CLI command.
func (g *globalFlags) openStore(ctx context.Context) (*store.Store, error) {
	st, err := store.Open(ctx, g.dataDir)
	if err != nil {
		return nil, fmt.Errorf("open data dir %s: %w", g.dataDir, err)
	}
	return st, nil
}

// friendly turns store errors into the words a CLI user expects.
func friendly(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrExists):
		return errors.New(strings.TrimPrefix(err.Error(), "read "))
	}
	return err
}
