package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// workerRole (in roleEnv) makes a child process of this binary hold
// connections for the cluster scenario. One process may open about 20,000
// files, the load tool's as much as a server's: holding 19,000 connections
// to each of three instances takes a process per instance. The tool asks,
// the worker answers, one JSON object per line on the worker's stdin and
// stdout; when its stdin closes it closes its connections and exits.
const workerRole = "worker"

// workerRequest is one thing the tool asks a worker to do.
type workerRequest struct {
	// Op is open (a fleet, closing the last one), wait (until the fleet
	// received Want stamped events, Timeout at most), send (the fleet's
	// senders send for Duration, each its next message once its last came
	// back), tally (what the fleet received) or close.
	Op string `json:"op"`

	Kind            string `json:"kind,omitempty"` // open: "sse" or "ws" (room members)
	Addr            string `json:"addr,omitempty"` // open: the server, 127.0.0.1:port
	N               int    `json:"n,omitempty"`    // open: connections
	Expect          int    `json:"expect,omitempty"`
	First           int    `json:"first,omitempty"` // open: see fleet.first
	Stride          int    `json:"stride,omitempty"`
	RoomSize        int    `json:"room_size,omitempty"`
	Senders         int    `json:"senders,omitempty"` // of the whole load, not this worker's
	DialConcurrency int    `json:"dial_concurrency,omitempty"`

	Want     int64         `json:"want,omitempty"`     // wait, tally
	Timeout  time.Duration `json:"timeout,omitempty"`  // wait
	Duration time.Duration `json:"duration,omitempty"` // send
	TextSize int           `json:"text_size,omitempty"`
}

// workerReply is a worker's answer.
type workerReply struct {
	Error string `json:"error,omitempty"`

	Held    int           `json:"held,omitempty"` // open
	Failed  int           `json:"failed,omitempty"`
	Errors  []string      `json:"errors,omitempty"`
	Opened  time.Duration `json:"opened,omitempty"`
	Senders int           `json:"senders,omitempty"` // open: senders among the members held

	Received int64 `json:"received,omitempty"` // wait
	Complete bool  `json:"complete,omitempty"`

	Sent    int64 `json:"sent,omitempty"` // send
	Stalled int64 `json:"stalled,omitempty"`

	Got      int      `json:"got,omitempty"` // tally
	Disorder int      `json:"disorder,omitempty"`
	Retries  int      `json:"retries,omitempty"`
	Refused  int      `json:"refused,omitempty"`
	Why      string   `json:"why,omitempty"`
	Short    int      `json:"short,omitempty"`
	Dropped  int      `json:"dropped,omitempty"`
	Drops    []string `json:"drops,omitempty"`
	Last     int64    `json:"last,omitempty"` // Unix nanoseconds of the last receipt
	Lat      []int64  `json:"lat,omitempty"`  // nanoseconds, one per stamped event received
}

// serveWorker answers the tool's requests from in on out until in ends.
func serveWorker(ctx context.Context, in io.Reader, out io.Writer) error {
	if _, err := raiseOpenFiles(); err != nil {
		return fmt.Errorf("raise the open-files limit: %w", err)
	}
	w := &worker{}
	defer w.closeFleet()
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	enc := json.NewEncoder(out)
	for sc.Scan() {
		var req workerRequest
		rep := workerReply{}
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			rep.Error = fmt.Sprintf("bad request: %v", err)
		} else {
			rep = w.do(ctx, req)
		}
		if err := enc.Encode(rep); err != nil {
			return err
		}
	}
	return sc.Err()
}

// worker is one worker process's state: the fleet it holds. Requests come
// one at a time, from serveWorker's loop alone.
type worker struct {
	f *fleet
}

func (w *worker) closeFleet() {
	if w.f != nil {
		w.f.closeAll()
		w.f = nil
	}
}

func (w *worker) do(ctx context.Context, req workerRequest) workerReply {
	if req.Op != "open" && req.Op != "close" && w.f == nil {
		return workerReply{Error: req.Op + ": no fleet open"}
	}
	switch req.Op {
	case "open":
		w.closeFleet()
		if !loopbackHost(hostOf(req.Addr)) {
			return workerReply{Error: fmt.Sprintf("open: %q is not a loopback address", req.Addr)}
		}
		srv := &server{Kind: kindBeacon, Addr: req.Addr, URL: "http://" + req.Addr}
		var f *fleet
		switch req.Kind {
		case "sse":
			f = newFleet(srv, "raw", req.Expect)
		case "ws":
			f = newRoomFleet(srv, req.Expect, req.RoomSize, req.Senders)
		default:
			return workerReply{Error: fmt.Sprintf("open: kind %q", req.Kind)}
		}
		f.first, f.stride = req.First, req.Stride
		f.open(ctx, req.N, max(req.DialConcurrency, 1))
		w.f = f
		rep := workerReply{Held: len(f.clients), Failed: int(f.failed.Load()), Errors: f.errors(), Opened: f.opened}
		for _, c := range f.clients {
			if c.sender >= 0 {
				rep.Senders++
			}
		}
		return rep
	case "wait":
		ok := w.f.waitReceived(ctx, req.Want, req.Timeout)
		return workerReply{Received: w.f.received.Load(), Complete: ok}
	case "send":
		sent, stalled, err := w.send(ctx, req.Duration, req.TextSize)
		rep := workerReply{Sent: sent, Stalled: stalled}
		if err != nil {
			rep.Error = err.Error()
		}
		return rep
	case "tally":
		t := w.f.tally(int(req.Want))
		rep := workerReply{Got: t.got, Disorder: t.disorder, Retries: t.retries, Refused: t.refused, Why: t.why, Short: t.short}
		rep.Dropped, rep.Drops = w.f.dropped()
		if !t.last.IsZero() {
			rep.Last = t.last.UnixNano()
		}
		rep.Lat = make([]int64, len(t.lat))
		for i, d := range t.lat {
			rep.Lat[i] = int64(d)
		}
		return rep
	case "close":
		w.closeFleet()
		return workerReply{}
	}
	return workerReply{Error: fmt.Sprintf("unknown op %q", req.Op)}
}

// send runs the fleet's senders for d: each sends a stamped message, waits
// for it to come back (stored, applied and published by its instance: the
// acknowledgement), and sends the next. Sequences are numbered across the
// whole load (sender s of k sends s+1, k+s+1, 2k+s+1, …), so every sender
// of every worker knows its own.
func (w *worker) send(ctx context.Context, d time.Duration, size int) (sent, stalled int64, err error) {
	f := w.f
	var snd []*sseClient
	for _, c := range f.clients {
		if c.sender >= 0 {
			snd = append(snd, c)
		}
	}
	return sendInTurn(ctx, snd, f.senders, time.Now().Add(d), size)
}

// sendInTurn has every sender in snd (of k in all) send a stamped message,
// wait for it to come back, and send the next, until end: the room and
// cluster scenarios' senders. It returns how many were sent, how many
// senders stalled (no echo for 10 s) and the first send error.
func sendInTurn(ctx context.Context, snd []*sseClient, k int, end time.Time, size int) (sent, stalled int64, err error) {
	var nSent, nStalled atomic.Int64
	var errOnce sync.Once
	var wg sync.WaitGroup
	for _, c := range snd {
		wg.Go(func() {
			timer := time.NewTimer(time.Hour)
			defer timer.Stop()
			for j := int64(0); time.Now().Before(end) && ctx.Err() == nil; j++ {
				seq := j*int64(k) + int64(c.sender) + 1
				if e := c.send(seq, size); e != nil {
					errOnce.Do(func() { err = e })
					return
				}
				nSent.Add(1)
				timer.Reset(10 * time.Second)
			wait:
				for {
					select {
					case got := <-c.echo:
						if got == seq {
							break wait
						}
					case <-timer.C:
						nStalled.Add(1)
						return
					case <-ctx.Done():
						return
					}
				}
			}
		})
	}
	wg.Wait()
	return nSent.Load(), nStalled.Load(), err
}

// hostOf returns the host of host:port ("" when addr is not that).
func hostOf(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return host
}

// workerProc is the tool's end of one worker process.
type workerProc struct {
	name string
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *json.Decoder
	log  *os.File
	mu   sync.Mutex // guards in and out: one request at a time
}

// startWorker starts this program again as a worker, with its output for
// people (errors) in dir/<name>.log. ctx ending kills it, and so does this
// process dying (childAttr).
func startWorker(ctx context.Context, dir, name string) (*workerProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this program to start a worker: %w", err)
	}
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), roleEnv+"="+workerRole)
	cmd.Stderr = logf
	cmd.SysProcAttr = childAttr()
	cmd.WaitDelay = 5 * time.Second
	in, err := cmd.StdinPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return &workerProc{name: name, cmd: cmd, in: in, out: json.NewDecoder(bufio.NewReaderSize(out, 64<<10)), log: logf}, nil
}

// call sends req and returns the worker's reply.
func (w *workerProc) call(req workerRequest) (workerReply, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	b, err := json.Marshal(req)
	if err != nil {
		return workerReply{}, err
	}
	if _, err := w.in.Write(append(b, '\n')); err != nil {
		return workerReply{}, fmt.Errorf("%s: %s: %w (log: %s)", w.name, req.Op, err, w.log.Name())
	}
	var rep workerReply
	if err := w.out.Decode(&rep); err != nil {
		return workerReply{}, fmt.Errorf("%s: %s: %w (log: %s)", w.name, req.Op, err, w.log.Name())
	}
	if rep.Error != "" {
		return rep, fmt.Errorf("%s: %s: %s", w.name, req.Op, rep.Error)
	}
	return rep, nil
}

// stop closes the worker's stdin (it closes its connections and exits)
// and waits for it; ctx's end or WaitDelay kills one that hangs.
func (w *workerProc) stop() error {
	w.in.Close()
	err := w.cmd.Wait()
	w.log.Close()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("%s: %w (log: %s)", w.name, err, w.log.Name())
	}
	return nil
}

// callAll sends every worker its request at once and returns the replies
// in order, or the first error.
func callAll(ws []*workerProc, req func(i int) workerRequest) ([]workerReply, error) {
	reps := make([]workerReply, len(ws))
	errs := make([]error, len(ws))
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Go(func() { reps[i], errs[i] = w.call(req(i)) })
	}
	wg.Wait()
	return reps, errors.Join(errs...)
}
