package handlers

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beacon-live/beacon/db"
	"github.com/beacon-live/beacon/live"
	"github.com/beacon-live/beacon/views"
)

// TestResumeAtTheHorizonWhilePruning resumes SSE streams exactly at the
// oldest position the log keeps, 20,000 times, while a writer appends and
// retention prunes after every commit (retention 1): the real database,
// Source and SSE transport. Every resume is either replayed exactly what
// followed its position (contiguous from position+1 up to the position the
// stream then reports), or resynced; never replayed from a later position as
// if nothing were missing.
//
// Every sixteenth stream, as soon as it has read the horizon, has the writer
// append an event and goes on when the append returns, just as the writer
// prunes the log down to that event: the stream's replay races the prune,
// in the window where retention used to open a silent gap. Four logs run
// side by side, each resumed by one client at a time.
// Streams are served in process, without a socket: what is under test is
// how a stream reads the log, and 20,000 connections would cost the test
// most of its time (over a minute under -race).
func TestResumeAtTheHorizonWhilePruning(t *testing.T) {
	resumes := 20_000
	if testing.Short() {
		resumes = 2_000
	}
	const logs = 4
	var (
		mu                 sync.Mutex
		replayed, resynced int
		gaps               []string
		wg                 sync.WaitGroup
	)
	for i := range logs {
		h := newHorizonLog(t, filepath.Join(t.TempDir(), fmt.Sprintf("%d.db", i)))
		wg.Go(func() {
			defer h.stop()
			for i := range resumes / logs {
				res, err := h.resume(t.Context(), i%16 == 0)
				mu.Lock()
				switch {
				case err != nil:
					t.Error(err)
				case res.gap != "":
					gaps = append(gaps, res.gap)
				case res.resynced:
					resynced++
				default:
					replayed++
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d resumes at the horizon: %d replayed, %d resynced, %d silent gaps", resumes, replayed, resynced, len(gaps))
	if len(gaps) > 0 {
		t.Fatalf("%d of %d resumes at the horizon skipped events without a resync, e.g.:\n%s",
			len(gaps), resumes, strings.Join(gaps[:min(len(gaps), 5)], "\n"))
	}
	if replayed < resumes/2 {
		t.Fatalf("only %d of %d resumes were replayed: the test hardly resumed inside the log", replayed, resumes)
	}
}

// horizonLog is one database with retention 1, its SSE transport, and a
// writer that appends one event when an armed stream reads the horizon.
type horizonLog struct {
	store    *db.Store
	sse      *live.SSE
	armed    atomic.Bool   // the next stream to read the horizon kicks the writer
	kick     chan struct{} // an armed stream read the horizon
	appended chan struct{} // the writer's event is in; the prune starts
	pruned   chan struct{} // the log is pruned down to the writer's event
	last     int64         // the writer's last event; owned by the resuming goroutine between pruned and kick
	done     chan struct{} // closed by stop
	exited   chan struct{} // closed when the writer returns
}

func newHorizonLog(t *testing.T, path string) *horizonLog {
	t.Helper()
	store, err := db.Open(t.Context(), path, db.Options{Retention: 1})
	if err != nil {
		t.Fatal(err)
	}
	hub := live.NewHub(live.HubConfig{Classify: Classify, Epoch: store.Epoch()})
	h := &horizonLog{store: store, kick: make(chan struct{}), appended: make(chan struct{}), pruned: make(chan struct{}),
		done: make(chan struct{}), exited: make(chan struct{})}
	h.sse = live.NewSSE(hub, kickingSource{NewSource(store.Epoch(), store, slog.New(slog.DiscardHandler)), h}, live.SSEConfig{ResyncEvent: views.EventResync})
	t.Cleanup(func() {
		h.stop()
		hub.Close()
		if err := store.Close(); err != nil {
			t.Error(err)
		}
	})
	go func() {
		defer close(h.exited)
		for {
			select {
			case <-h.done:
				return
			case <-h.kick:
			}
			a, err := store.AddActivity(context.Background(), "x", "", time.Time{})
			if err != nil {
				t.Error(err)
				return
			}
			h.last = a.Position
			select {
			case h.appended <- struct{}{}:
			case <-h.done:
				return
			}
			// The store prunes right after that commit, before it takes
			// the next write: once this one (changing nothing) returns, it has.
			if err := store.TouchToken(context.Background(), 0, time.Now()); err != nil {
				t.Error(err)
				return
			}
			select {
			case h.pruned <- struct{}{}:
			case <-h.done:
				return
			}
		}
	}()
	for range 3 { // a log to resume in
		h.armed.Store(true)
		if !h.kickWriter() || !h.waitPruned() {
			t.Fatal("the writer stopped")
		}
	}
	return h
}

func (h *horizonLog) stop() {
	select {
	case <-h.done:
	default:
		close(h.done)
	}
	<-h.exited
}

// kickWriter has the writer append, if the stream that reads the horizon
// now is armed, and waits until the append has returned. It reports false
// if the writer has stopped.
func (h *horizonLog) kickWriter() bool {
	if !h.armed.Swap(false) {
		return true
	}
	select {
	case h.kick <- struct{}{}:
	case <-h.exited:
		return false
	}
	select {
	case <-h.appended:
		return true
	case <-h.exited:
		return false
	}
}

// waitPruned waits until the writer's last event is the only one left. It
// reports false if the writer has stopped.
func (h *horizonLog) waitPruned() bool {
	select {
	case <-h.pruned:
		return true
	case <-h.exited:
		return false
	}
}

// resume serves one stream that resumes at the horizon, in process, and
// reads it until it says where the client is; if the stream was armed, it
// then waits for the writer, which the stream kicked.
func (h *horizonLog) resume(ctx context.Context, armed bool) (resumeResult, error) {
	horizon := h.last - 1 // retention 1 keeps only the last event
	h.armed.Store(armed)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := &streamRecorder{header: http.Header{}, located: cancel}
	r := httptest.NewRequestWithContext(ctx, http.MethodGet, "/live", nil)
	err := h.sse.Serve(w, r, live.Request{Topics: []string{views.TopicActivity}, Resume: live.FormatID(h.store.Epoch(), horizon)})
	if err != nil {
		return resumeResult{}, fmt.Errorf("resume at %d: %w", horizon, err)
	}
	if armed && !h.waitPruned() {
		return resumeResult{}, errors.New("the writer stopped")
	}
	return checkResume(horizon, w.blocks)
}

// checkResume says whether the blocks of a stream that resumed at pos are a
// replay without a gap, a resync, or a silent gap.
func checkResume(pos int64, blocks []sseBlock) (resumeResult, error) {
	var got []int64
	for _, b := range blocks {
		if b.event == views.EventResync {
			return resumeResult{resynced: true}, nil
		}
		if b.id == "" {
			continue // a snapshot frame, before the resync event
		}
		_, p, ok := live.ParseID(b.id)
		if !ok {
			return resumeResult{}, fmt.Errorf("resume at %d: bad id %q", pos, b.id)
		}
		if !b.data { // the position block: the replay is over
			want := pos
			if len(got) > 0 {
				want = got[len(got)-1]
			}
			if p != want {
				return resumeResult{gap: fmt.Sprintf("resumed at %d, replayed %v, then told it is at %d", pos, got, p)}, nil
			}
			return resumeResult{}, nil
		}
		if want := pos + 1 + int64(len(got)); p != want {
			return resumeResult{gap: fmt.Sprintf("resumed at %d, replayed %v, then %d (want %d)", pos, got, p, want)}, nil
		}
		got = append(got, p)
	}
	return resumeResult{}, fmt.Errorf("resume at %d: the stream ended after %v without saying where the client is", pos, got)
}

// resumeResult is what one resume got: a replay, a resync, or a gap (a
// description of the frames that were skipped).
type resumeResult struct {
	resynced bool
	gap      string
}

// kickingSource is the real Source, but an armed stream, as soon as it has
// read the horizon, has the writer append and waits until it has.
type kickingSource struct {
	*Source
	log *horizonLog
}

func (k kickingSource) Horizon(ctx context.Context) (int64, int64, error) {
	horizon, head, err := k.Source.Horizon(ctx)
	k.log.kickWriter()
	return horizon, head, err
}

// sseBlock is one event block of a stream: its id, its event name, and
// whether it had data.
type sseBlock struct {
	id, event string
	data      bool
}

// streamRecorder is the response of an SSE stream served in process. It
// parses what the stream writes, and calls located once the stream has told
// the client where it is (the position block, or the resync event), which
// ends the stream.
type streamRecorder struct {
	header  http.Header
	buf     bytes.Buffer
	blocks  []sseBlock
	located func()
}

func (w *streamRecorder) Header() http.Header              { return w.header }
func (w *streamRecorder) WriteHeader(int)                  {}
func (w *streamRecorder) Flush()                           {}
func (w *streamRecorder) SetWriteDeadline(time.Time) error { return nil }
func (w *streamRecorder) Write(p []byte) (int, error) {
	w.buf.Write(p)
	br := bufio.NewReader(bytes.NewReader(w.buf.Bytes()))
	w.blocks = w.blocks[:0]
	for {
		b, err := readSSEBlock(br)
		if err != nil {
			return len(p), nil // the rest comes with the next write
		}
		w.blocks = append(w.blocks, b)
		if b.event == views.EventResync || (b.id != "" && !b.data && b.event == "") {
			w.located()
			return len(p), nil
		}
	}
}

// readSSEBlock reads one event block.
func readSSEBlock(br *bufio.Reader) (sseBlock, error) {
	var b sseBlock
	lines := 0
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return b, err
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			if lines > 0 {
				return b, nil
			}
			continue
		}
		lines++
		name, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch name {
		case "id":
			b.id = value
		case "event":
			b.event = value
		case "data":
			b.data = true
		}
	}
}
