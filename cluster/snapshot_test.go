package cluster

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"
)

func TestSnapshotsRoundTripAndKeepTheNewest(t *testing.T) {
	n := startNode(t)
	c := dial(t, n.url())
	ctx := ctxFor(t, 60*time.Second)
	l, err := c.OpenLog(ctx, LogConfig{})
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := l.OpenSnapshots(ctx, SnapshotConfig{Keep: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := snaps.Latest(ctx); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("latest of none: %v, want ErrNoSnapshot", err)
	}

	big := make([]byte, 1<<20+123) // several chunks
	rand.Read(big)
	for _, seq := range []uint64{0, 10, 30, 20} { // 20 after 30: the newest is by position
		body := fmt.Appendf(nil, "db at %d", seq)
		if seq == 30 {
			body = big
		}
		sn, err := snaps.Put(ctx, seq, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if sn.Seq != seq || sn.Epoch != l.Epoch() || sn.Size != uint64(len(body)) {
			t.Fatalf("put %d: %+v", seq, sn)
		}
	}
	sn, rc, err := snaps.Latest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || sn.Seq != 30 || !bytes.Equal(got, big) {
		t.Fatalf("latest: seq %d, %d bytes equal %v (%v); want 30 and the 1 MiB body", sn.Seq, len(got), bytes.Equal(got, big), err)
	}
	ours, others, err := snaps.list(ctx)
	if err != nil || len(ours) != 2 || ours[0].Seq != 30 || ours[1].Seq != 20 || len(others) != 0 {
		t.Fatalf("kept %+v, others %v (%v); want 30 and 20", ours, others, err)
	}

	// Another instance sees the same; a snapshot of another epoch is ignored.
	other, err := dial(t, n.url()).OpenLog(ctx, LogConfig{})
	if err != nil {
		t.Fatal(err)
	}
	snaps2, err := other.OpenSnapshots(ctx, SnapshotConfig{Keep: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := snaps2.store.PutBytes(ctx, "ffffffffffffffff-00000000000000000099", []byte("old epoch")); err != nil {
		t.Fatal(err)
	}
	sn, rc, err = snaps2.Latest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if sn.Seq != 30 {
		t.Fatalf("latest with a foreign object: %d, want 30", sn.Seq)
	}
}
