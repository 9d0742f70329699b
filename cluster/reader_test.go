package cluster

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestReaderDeliversFromASequenceInOrderBatchingWhatIsThere(t *testing.T) {
	n := startNode(t)
	c := dial(t, n.url())
	ctx := ctxFor(t, 30*time.Second)
	l, err := c.OpenLog(ctx, LogConfig{})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, ctx, l, "cmd", 10)

	r := l.Read(4, ReaderConfig{})
	defer r.Close()
	batch, err := r.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(batch) != 7 || batch[0].Seq != 4 || batch[6].Seq != 10 {
		t.Fatalf("first batch: %d entries from %d; want 4..10 at once", len(batch), batch[0].Seq)
	}
	for i, e := range batch {
		want := uint64(4 + i)
		if e.Seq != want || e.MsgID != fmt.Sprintf("cmd-%d", want) || string(e.Data) != fmt.Sprintf("cmd %d", want) || e.Time.IsZero() {
			t.Fatalf("entry %d: %+v", i, e)
		}
	}

	// A small batch bound splits what is there; the next entries come as
	// they are appended.
	r2 := l.Read(1, ReaderConfig{MaxBatch: 3})
	defer r2.Close()
	if b, err := r2.Next(ctx); err != nil || len(b) != 3 {
		t.Fatalf("MaxBatch 3: %d entries, %v", len(b), err)
	}
	readUntil(t, ctx, r2, 10)
	errs := make(chan error, 1)
	go func() {
		var err error
		for i := range 5 {
			if _, err = l.Append(ctx, fmt.Sprint("later-", i), nil); err != nil {
				break
			}
		}
		errs <- err
	}()
	readUntil(t, ctx, r2, 15)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
}

func TestReaderGoesOnAcrossARestartOfTheServer(t *testing.T) {
	n := startNode(t)
	c := dial(t, n.url())
	ctx := ctxFor(t, 60*time.Second)
	l, err := c.OpenLog(ctx, LogConfig{})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, ctx, l, "a", 20)
	r := l.Read(1, ReaderConfig{Wait: time.Second, Heartbeat: 100 * time.Millisecond})
	defer r.Close()
	readUntil(t, ctx, r, 20)

	n.stop()
	waitFor(t, 10*time.Second, "the client to notice", func() bool { return !c.Connected() })
	n.start()
	waitFor(t, 10*time.Second, "the client to reconnect", c.Connected)
	appendN(t, ctx, l, "b", 20)
	got := readUntil(t, ctx, r, 40)
	if got[0].MsgID != "b-1" || got[len(got)-1].MsgID != "b-20" {
		t.Fatalf("after the restart read %s..%s, want b-1..b-20", got[0].MsgID, got[len(got)-1].MsgID)
	}
}

func TestReaderReportsAGap(t *testing.T) {
	n := startNode(t)
	c := dial(t, n.url())
	ctx := ctxFor(t, 30*time.Second)
	// A stream bound of 4 KiB keeps only the newest few hundred-byte entries.
	l, err := c.OpenLog(ctx, LogConfig{MaxBytes: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 100)
	for i := range 10 {
		if _, err := l.Append(ctx, fmt.Sprint("early-", i), data); err != nil {
			t.Fatal(err)
		}
	}
	early := l.Read(1, ReaderConfig{})
	defer early.Close()
	readUntil(t, ctx, early, 3) // it has read 1..10 (one batch) or at least 1..3; stopped now

	for i := range 100 {
		if _, err := l.Append(ctx, fmt.Sprint("late-", i), data); err != nil {
			t.Fatal(err)
		}
	}
	first, last, err := l.Bounds(ctx)
	if err != nil || first <= 11 {
		t.Fatalf("bounds %d..%d (%v): the test needs the early entries dropped", first, last, err)
	}

	fresh := l.Read(1, ReaderConfig{})
	defer fresh.Close()
	if _, err := fresh.Next(ctx); !errors.Is(err, ErrGap) {
		t.Fatalf("a new reader from 1: %v, want ErrGap", err)
	}
	if _, err := early.Next(ctx); !errors.Is(err, ErrGap) {
		t.Fatalf("a reader whose next entry was dropped: %v, want ErrGap", err)
	}
	ahead := l.Read(last+2, ReaderConfig{})
	defer ahead.Close()
	if _, err := ahead.Next(ctx); !errors.Is(err, ErrGap) {
		t.Fatalf("a reader past the end: %v, want ErrGap", err)
	}
	// Reading from the first sequence held works.
	ok := l.Read(first, ReaderConfig{})
	defer ok.Close()
	readUntil(t, ctx, ok, last)
}
