package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/frontdesk-pbx/frontdesk/store"
)

func newRetentionCommand(g *globalFlags) *cobra.Command {
	var audioDays int
	cmd := &cobra.Command{
		Use:   "retention [--audio-days N]",
		Short: "Show or set how long voicemail recordings are kept",
		Long: `Show or set how long voicemail recordings are kept. With --audio-days N the
server deletes recordings older than N days (checked hourly); the message,
its transcript and the audit log stay, and every deletion is audited.
--audio-days 0 keeps recordings forever (the default).

Messages in a box's trash are purged after the box's trash days
(frontdesk vm set BOX, or the admin portal).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				if cmd.Flags().Changed("audio-days") {
					if audioDays < 0 || audioDays > 36500 {
						return fmt.Errorf("--audio-days %d: want 0 (forever) to 36500", audioDays)
					}
					if err := st.SetSetting(ctx, store.AudioRetentionSetting, strconv.Itoa(audioDays)); err != nil {
						return err
					}
					_ = st.Audit(ctx, "cli", "retention.set", "", 0, fmt.Sprintf("audio %d days", audioDays))
				}
				days, err := st.AudioRetentionDays(ctx)
				if err != nil {
					return err
				}
				if days == 0 {
					fmt.Fprintln(cmd.OutOrStdout(), "recordings: kept forever")
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "recordings: deleted after %d days (transcripts and audit log kept)\n", days)
				}
				return nil
			})
		},
	}
	cmd.Flags().IntVar(&audioDays, "audio-days", 0, "delete recordings older than this many days (0: keep forever)")
	return cmd
}
