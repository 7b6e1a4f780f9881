package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/frontdesk-pbx/frontdesk/store"
)

// listCommand builds a `list [--json]` command: it fetches the rows and
// prints them as JSON, or as a table with header and one row line each
// (tab-separated columns).
func listCommand[T any](g *globalFlags, short string, fetch func(*store.Store, context.Context) ([]T, error), header string, row func(T) string) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use: "list [--json]", Short: short, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				all, err := fetch(st, ctx)
				if err != nil {
					return err
				}
				if asJSON {
					if all == nil {
						all = []T{}
					}
					return writeJSON(cmd.OutOrStdout(), all)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, header)
				for _, v := range all {
					fmt.Fprintln(tw, row(v))
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
