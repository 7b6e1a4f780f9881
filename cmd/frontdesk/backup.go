package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/frontdesk-pbx/frontdesk/store"
	"github.com/frontdesk-pbx/frontdesk/store/backup"
)

func newBackupCommand(g *globalFlags) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "backup --out FILE",
		Short: "Write a backup of the data directory to a tar.gz file",
		Long: `Write a backup of the data directory to FILE, a tar.gz archive: a consistent
copy of the database and the audio of messages/, greetings/ and music/, with
a manifest of every file's SHA-256. It runs while the server works.

Models (DATA/models) are not backed up: download them again with
'frontdesk model'. Restore with 'frontdesk restore FILE'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("--out FILE is required")
			}
			return withStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				w, err := backup.WriteFile(ctx, st, g.dataDir, out)
				if err != nil {
					return err
				}
				m := w.Manifest
				fmt.Fprintf(cmd.OutOrStdout(), "backup %s: schema %d, %d messages, %d greetings, %d music files, %d bytes, sha256 %s\n",
					out, m.SchemaVersion, m.Count("messages"), m.Count("greetings"), m.Count("music"), w.Size, w.SHA256)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "archive to write (written to FILE.partial, then renamed)")
	return cmd
}

func newRestoreCommand(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "restore FILE",
		Short: "Replace the data directory with a backup (stop the server first)",
		Long: `Replace the data directory with the backup in FILE. Stop the server first:
restore refuses while one runs on the data directory.

The whole archive is verified first (every file's SHA-256); nothing is
touched if it fails. It is then unpacked next to the data directory and its
database opened (upgrading an older backup), and only then swapped in: the
old data directory is kept as DATA.old-TIMESTAMP, and its models/ folder is
moved over (models are not in backups). If the data directory does not
exist yet, the backup is simply unpacked there.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kept, err := backup.Restore(cmd.Context(), args[0], g.dataDir)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "restored %s into %s\n", args[0], g.dataDir)
			if kept != "" {
				fmt.Fprintf(w, "the old data is kept in %s: remove it once all is well\n", kept)
			}
			return nil
		},
	}
}
