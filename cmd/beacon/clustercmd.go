package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/beacon-live/beacon/cluster"
)

var (
	clusterGroup = group{name: "cluster", about: `  beacon cluster status --nats URL

What a cluster's instances share. beacon cluster COMMAND --help says more.
`}
	clusterStatus = command{name: "cluster status", synopsis: "--nats URL",
		about: `Shows the cluster's log (its epoch and the positions it holds), the servers that
keep it (the leader first; whether each is current, how far behind, when the
leader last heard from it) and the newest snapshot. A server shown offline has
stopped or is cut off; docs/cluster.md says how to replace one lost for good.
`}
)

// runCluster runs "beacon cluster status".
func runCluster(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	name, args, err := clusterGroup.pick(args, stdout, "status")
	if errors.Is(err, errHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if name != "status" {
		return usagef("cluster", "cluster: unknown command %q", name)
	}
	cmd := clusterStatus
	fs := cmd.flags()
	var nats natsFlag
	nats.bind(fs, getenv, "the NATS the cluster's instances share, nats://host:port, comma-separated (env BEACON_NATS)")
	rest, err := cmd.parseArgs(fs, args, stdout)
	if errors.Is(err, errHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	switch {
	case len(rest) > 0:
		return usagef(cmd.name, "cluster status: unexpected argument %q", rest[0])
	case nats.envErr != nil:
		return fmt.Errorf("BEACON_NATS: %w", nats.envErr)
	case len(nats.urls) == 0:
		return usagef(cmd.name, "cluster status: give --nats (or BEACON_NATS): the NATS the instances share")
	}

	log := slog.New(slog.DiscardHandler)
	dctx, cancel := context.WithTimeout(ctx, commandDial)
	defer cancel()
	client, err := cluster.Dial(dctx, cluster.ClientConfig{URLs: nats.urls, Name: "beacon-command", Logger: log})
	if err != nil {
		return fmt.Errorf("connect to NATS at %s: %w", strings.Join(nats.urls, ","), err)
	}
	defer client.Close()
	l, err := client.OpenLog(dctx, cluster.LogConfig{Existing: true})
	if err != nil {
		return fmt.Errorf("open the cluster log: %w", err)
	}
	st, err := l.Status(dctx)
	if err != nil {
		return err
	}
	held := "none yet"
	if st.Last >= st.First && st.Last > 0 {
		held = fmt.Sprintf("positions %d to %d", st.First, st.Last)
	}
	fmt.Fprintf(stdout, "log: epoch %s, %s, kept by %d %s\n", st.Epoch, held, len(st.Replicas), plural(len(st.Replicas), "server", "servers"))
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tROLE\tSTATE\tBEHIND\tLAST HEARD")
	for _, r := range st.Replicas {
		role, state, heard := "follower", "current", r.Seen.Round(time.Millisecond).String()+" ago"
		switch {
		case r.Offline:
			state = "offline"
		case !r.Current:
			state = "catching up"
		}
		if r.Leader {
			role, heard = "leader", "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", r.Name, role, state, r.Lag, heard)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	snaps, err := l.OpenSnapshots(dctx, cluster.SnapshotConfig{})
	if err != nil {
		return fmt.Errorf("open the cluster's snapshots: %w", err)
	}
	snap, err := snaps.Newest(dctx)
	switch {
	case errors.Is(err, cluster.ErrNoSnapshot):
		fmt.Fprintln(stdout, "newest snapshot: none yet")
	case err != nil:
		return err
	default:
		fmt.Fprintf(stdout, "newest snapshot: position %d, %d bytes, taken %s\n", snap.Seq, snap.Size, snap.Time.UTC().Format(time.RFC3339))
	}
	return nil
}

// plural returns one when n is 1, else many.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
