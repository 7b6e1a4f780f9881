package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/frontdesk-pbx/frontdesk/store"
)

func newAuditCommand(g *globalFlags) *cobra.Command {
	var asJSON bool
	var limit int
	cmd := &cobra.Command{
		Use:   "audit [--limit N] [--json]",
		Short: "Show the audit log (who did what to which box and message), newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 {
				return fmt.Errorf("--limit %d: want 1 or more", limit)
			}
			return withStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				entries, err := st.AuditLog(ctx, limit)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if asJSON {
					if entries == nil {
						entries = []store.AuditEntry{}
					}
					return writeJSON(out, entries)
				}
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "TIME\tACTOR\tACTION\tBOX\tMESSAGE\tDETAIL")
				for _, e := range entries {
					msg := ""
					if e.MessageID != 0 {
						msg = fmt.Sprint(e.MessageID)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.At.Local().Format("2006-01-02 15:04:05"), e.Actor, e.Action, e.Box, msg, e.Detail)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().IntVar(&limit, "limit", 100, "how many entries to show")
	return cmd
}
