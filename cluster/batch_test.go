package cluster

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// openTestLog opens the log on a fresh cluster of nodes servers
// (replicated: batches are for replicated logs).
func openTestLog(t *testing.T, nodes int) *Log {
	t.Helper()
	url := ""
	if nodes == 1 {
		url = startNode(t).url()
	} else {
		url = startCluster(t, nodes)[0].url()
	}
	l, err := dial(t, url).OpenLog(ctxFor(t, time.Minute), LogConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if !l.atomicBatches {
		t.Fatalf("a log of %d replicas does not batch its appends", l.Replicas())
	}
	return l
}

// queued is how many appends wait for a flight.
func (l *Log) queued() int {
	l.queueMu.Lock()
	defer l.queueMu.Unlock()
	return len(l.queue)
}

// checkEntries checks that every append got its own sequence and that the
// log holds each one's data there, once.
func checkEntries(t *testing.T, ctx context.Context, l *Log, seqs map[string]uint64) {
	t.Helper()
	first, last, err := l.Bounds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if int(last-first+1) != len(seqs) {
		t.Fatalf("the log holds %d..%d, want %d entries", first, last, len(seqs))
	}
	got := map[uint64]string{}
	r := l.Read(first, ReaderConfig{})
	defer r.Close()
	for len(got) < len(seqs) {
		batch, err := r.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range batch {
			got[e.Seq] = string(e.Data)
		}
	}
	for id, seq := range seqs {
		if got[seq] != "data of "+id {
			t.Fatalf("append %s was answered with sequence %d, which holds %q", id, seq, got[seq])
		}
	}
}

// Appends that arrive while every flight is busy are stored as one batch:
// each caller gets its own sequence, the log holds each entry once, in
// consecutive sequences.
func TestConcurrentAppendsAreStoredAsOneBatch(t *testing.T) {
	for _, nodes := range []int{3} {
		t.Run(fmt.Sprintf("nodes=%d", nodes), func(t *testing.T) {
			l := openTestLog(t, nodes)
			ctx := ctxFor(t, time.Minute)
			for range maxFlights { // every flight busy
				l.flights <- struct{}{}
			}
			const n = 100
			var mu sync.Mutex
			seqs := map[string]uint64{}
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					id := fmt.Sprintf("cmd-%03d", i)
					seq, err := l.Append(ctx, id, []byte("data of "+id))
					if err != nil {
						t.Error(err)
					}
					mu.Lock()
					seqs[id] = seq
					mu.Unlock()
				})
			}
			waitFor(t, time.Minute, "every append queued", func() bool { return l.queued() == n })
			<-l.flights // one flight frees up: it takes all that is queued
			wg.Wait()
			for range maxFlights - 1 {
				<-l.flights
			}
			if got := l.batches.Load(); got != 1 {
				t.Fatalf("%d appends made %d batches, want 1", n, got)
			}
			checkEntries(t, ctx, l, seqs)
		})
	}
}

// A batch published again after its acknowledgement was lost stores
// nothing twice, and every append learns its first sequence.
func TestBatchRetriedAfterLostAckStoresNothingTwice(t *testing.T) {
	l := openTestLog(t, 3)
	ctx := ctxFor(t, time.Minute)
	batch := func() []*appendReq {
		var b []*appendReq
		for i := range 5 {
			id := fmt.Sprintf("cmd-%d", i)
			b = append(b, &appendReq{ctx: ctx, id: id, data: []byte("data of " + id), done: make(chan appendResult, 1)})
		}
		return b
	}
	results := func(b []*appendReq) map[string]uint64 {
		seqs := map[string]uint64{}
		for _, r := range b {
			res := <-r.done
			if res.err != nil {
				t.Fatalf("%s: %v", r.id, res.err)
			}
			seqs[r.id] = res.seq
		}
		return seqs
	}
	first := batch()
	l.publish(first)
	want := results(first)
	again := batch() // as if the first acknowledgement never came
	l.publish(again)
	if got := results(again); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("the retried batch was answered %v, want the first sequences %v", got, want)
	}
	checkEntries(t, ctx, l, want)
}
