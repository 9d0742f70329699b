package cluster

import (
	"bytes"
	"io"
	"testing"
	"time"
)

// TestThreeNodes runs one three-node cluster through the log's life: a
// racing creation, deduplication, losing the stream's leader while
// writing and reading, its return, snapshots and presence across nodes.
// One cluster for all, since each takes seconds to elect its meta leader.
func TestThreeNodes(t *testing.T) {
	nodes := startCluster(t, 3)
	ctx := ctxFor(t, 2*time.Minute)
	clients := []*Client{dial(t, nodes[0].url()), dial(t, nodes[1].url()), dial(t, nodes[2].url())}

	// Opened from three nodes at once while JetStream elects its meta
	// leader: one stream, one epoch, three replicas.
	logs := openRace(t, ctx, LogConfig{}, clients...)
	if logs[0].Replicas() != 3 {
		t.Fatalf("replicas %d, want 3 on a three-node cluster", logs[0].Replicas())
	}

	s1, err := logs[0].Append(ctx, "same", []byte("x"))
	must(t, err)
	s2, err := logs[1].Append(ctx, "same", []byte("x"))
	must(t, err)
	if s1 != 1 || s2 != 1 {
		t.Fatalf("one id appended through two nodes: %d and %d, want 1 and 1", s1, s2)
	}
	appendN(t, ctx, logs[2], "before", 49)

	r := logs[0].Read(1, ReaderConfig{Wait: time.Second, Heartbeat: 100 * time.Millisecond})
	defer r.Close()
	readUntil(t, ctx, r, 50)

	// Stop the stream's leader: writes through another node go on once a
	// new leader is elected, and the reader goes on where it was.
	info, err := logs[0].stream.Info(ctx)
	must(t, err)
	leader := -1
	for i, n := range nodes {
		if n.cfg.Name == info.Cluster.Leader {
			leader = i
		}
	}
	if leader < 0 {
		t.Fatalf("leader %q is none of the nodes", info.Cluster.Leader)
	}
	nodes[leader].stop()
	writer := logs[(leader+1)%3]
	seqs := appendN(t, ctx, writer, "during", 50)
	if seqs[0] != 51 || seqs[49] != 100 {
		t.Fatalf("appends during the outage got %d..%d, want 51..100", seqs[0], seqs[49])
	}
	got := readUntil(t, ctx, r, 100)
	if got[0].MsgID != "during-1" {
		t.Fatalf("read on with %s, want during-1", got[0].MsgID)
	}

	// The stopped node comes back and catches up.
	nodes[leader].start()
	waitFor(t, time.Minute, "the restarted node to catch up", func() bool {
		return nodes[leader].replicaLast(DefaultStream) == 100
	})

	// Snapshots are replicated like the log.
	snaps, err := logs[1].OpenSnapshots(ctx, SnapshotConfig{})
	must(t, err)
	if _, err := snaps.Put(ctx, 100, bytes.NewReader([]byte("db at 100"))); err != nil {
		t.Fatal(err)
	}
	snaps2, err := logs[2].OpenSnapshots(ctx, SnapshotConfig{})
	must(t, err)
	sn, rc, err := snaps2.Latest(ctx)
	must(t, err)
	body, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || sn.Seq != 100 || string(body) != "db at 100" {
		t.Fatalf("latest through another node: %+v %q %v", sn, body, err)
	}

	// Presence across nodes is the union of the instances'.
	cfg := ExchangeConfig{Subject: "test.presence", Heartbeat: 50 * time.Millisecond}
	var members []*member
	for _, n := range nodes {
		m := newMember(t, n.url(), n.cfg.Name, cfg)
		must(t, m.x.Set("lobby", []string{"user-" + n.cfg.Name}))
		members = append(members, m)
	}
	for _, m := range members {
		waitFor(t, 30*time.Second, "the union across nodes", func() bool {
			return m.w.union("lobby") == "user-n1,user-n2,user-n3"
		})
	}
}
