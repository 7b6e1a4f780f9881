package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/frontdesk-pbx/frontdesk/pbx"
	"github.com/frontdesk-pbx/frontdesk/store"
)

func newQueueCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "queue", Short: "Manage call queues (members log in with *45QUEUE, out with *46QUEUE)"}
	cmd.AddCommand(newQueueSaveCommand(g, false), newQueueSaveCommand(g, true), newQueueListCommand(g), newQueueRmCommand(g))
	return cmd
}

func newQueueSaveCommand(g *globalFlags, update bool) *cobra.Command {
	var q store.Queue
	var members, music []string
	use, short := "add NUMBER --name NAME --members 101,102 [--strategy roundrobin|longest-idle] [--ring 15] [--max-wait 300] [--fallback vm:600] [--leave-digit 1] [--announce 30] [--music a.wav,b.wav]", "Add a call queue"
	if update {
		use, short = "set NUMBER [same flags as add]", "Change a call queue (given flags only)"
	}
	cmd := &cobra.Command{
		Use: use, Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := pbx.CheckNumber(args[0]); err != nil {
				return err
			}
			fl := cmd.Flags()
			return withStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				target := q
				target.Members = nil
				if update {
					old, err := st.Queue(ctx, args[0])
					if err != nil {
						return friendly(err)
					}
					old.Members = nil // kept unless --members is given
					for flag, apply := range map[string]func(){
						"name": func() { old.Name = q.Name }, "strategy": func() { old.Strategy = q.Strategy },
						"ring": func() { old.RingSeconds = q.RingSeconds }, "max-wait": func() { old.MaxWait = q.MaxWait },
						"fallback": func() { old.Fallback = q.Fallback }, "leave-digit": func() { old.LeaveDigit = q.LeaveDigit },
						"announce": func() { old.AnnounceSeconds = q.AnnounceSeconds },
					} {
						if fl.Changed(flag) {
							apply()
						}
					}
					target = old
				}
				target.Number = args[0]
				if !update || fl.Changed("members") {
					target.Members = []store.QueueMember{}
					for _, m := range members {
						if m = strings.TrimSpace(m); m != "" {
							target.Members = append(target.Members, store.QueueMember{Extension: m})
						}
					}
				}
				if err := pbx.CheckQueue(ctx, st, &target); err != nil {
					return err
				}
				if fl.Changed("music") {
					target.Music = nil
					for _, f := range music {
						name, err := pbx.StoreMusicFile(g.dataDir, f)
						if err != nil {
							return err
						}
						target.Music = append(target.Music, name)
					}
				}
				if err := st.SaveQueue(ctx, target, update); err != nil {
					return friendly(err)
				}
				_ = st.Audit(ctx, "cli", "queue.saved", "", 0, target.Number)
				fmt.Fprintf(cmd.OutOrStdout(), "queue %s (%s) saved\n", target.Number, target.Name)
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&q.Name, "name", "", "name shown to members as \"Name: caller\"")
	fl.StringSliceVar(&members, "members", nil, "extensions answering the queue")
	fl.StringVar(&q.Strategy, "strategy", "roundrobin", "roundrobin or longest-idle")
	fl.IntVar(&q.RingSeconds, "ring", 15, "seconds to ring a member before trying the next")
	fl.IntVar(&q.MaxWait, "max-wait", 300, "seconds a caller waits before the fallback")
	fl.StringVar(&q.Fallback, "fallback", "", "where callers go on max wait, the leave digit, or nobody logged in (e.g. vm:600)")
	fl.StringVar(&q.LeaveDigit, "leave-digit", "1", "key that takes a waiting caller to the fallback at once (empty: none)")
	fl.IntVar(&q.AnnounceSeconds, "announce", 30, "seconds between position announcements (0: none)")
	fl.StringSliceVar(&music, "music", nil, "WAV files of music on hold (default: built-in)")
	return cmd
}

func newQueueListCommand(g *globalFlags) *cobra.Command {
	return listCommand(g, "List call queues and who is logged in", (*store.Store).Queues,
		"NUMBER\tNAME\tSTRATEGY\tRING\tMAX WAIT\tFALLBACK\tMEMBERS (* logged in)",
		func(q store.Queue) string {
			var ms []string
			for _, m := range q.Members {
				mark := ""
				if m.LoggedIn {
					mark = "*"
				}
				ms = append(ms, m.Extension+mark)
			}
			return fmt.Sprintf("%s\t%s\t%s\t%ds\t%ds\t%s\t%s", q.Number, q.Name, q.Strategy, q.RingSeconds, q.MaxWait, q.Fallback, strings.Join(ms, ","))
		})
}

func newQueueRmCommand(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use: "rm NUMBER", Short: "Remove a call queue", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				if err := st.RemoveQueue(ctx, args[0]); err != nil {
					return friendly(err)
				}
				_ = st.Audit(ctx, "cli", "queue.removed", "", 0, args[0])
				fmt.Fprintf(cmd.OutOrStdout(), "queue %s removed\n", args[0])
				return nil
			})
		},
	}
}
