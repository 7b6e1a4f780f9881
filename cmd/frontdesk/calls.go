package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func newCallsCommand(g *globalFlags) *cobra.Command {
	var asJSON bool
	var limit int
	cmd := &cobra.Command{
		Use:   "calls [--limit N] [--json]",
		Short: "Show the call log, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 {
				return fmt.Errorf("--limit %d: want 1 or more", limit)
			}
			st, err := g.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			calls, err := st.RecentCalls(cmd.Context(), limit)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(calls)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "STARTED\tFROM\tTO\tSTATUS\tTALK\tHUNG UP")
			for _, c := range calls {
				talk := "-"
				if c.AnsweredAt != nil && c.EndedAt != nil {
					talk = c.EndedAt.Sub(*c.AnsweredAt).Round(time.Second).String()
				}
				fmt.Fprintf(tw, "%s\t%s %s\t%s\t%s\t%s\t%s\n", c.StartedAt.Local().Format("2006-01-02 15:04:05"),
					c.FromNumber, c.FromName, c.ToNumber, c.Status, talk, c.HangupBy)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().IntVar(&limit, "limit", 50, "how many calls to show")
	return cmd
}
