package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// machine describes where the figures were taken.
type machine struct {
	CPUs      int     `json:"cpus"`
	CPU       string  `json:"cpu_model,omitempty"`
	MemoryGiB float64 `json:"memory_gib"`
	Go        string  `json:"go"`
	Kernel    string  `json:"kernel,omitempty"`
	OpenFiles uint64  `json:"open_files_limit"`
	LoadStart string  `json:"load_average_start,omitempty"` // 1, 5 and 15 minutes
	LoadEnd   string  `json:"load_average_end,omitempty"`
}

func readMachine(openFiles uint64) machine {
	m := machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), OpenFiles: openFiles, LoadStart: loadAverage()}
	if out, err := exec.Command("go", "version").Output(); err == nil {
		m.Go = strings.TrimPrefix(strings.TrimSpace(string(out)), "go version ")
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if fields := strings.Fields(sc.Text()); len(fields) >= 2 && fields[0] == "MemTotal:" {
				kb, _ := strconv.ParseFloat(fields[1], 64)
				m.MemoryGiB = kb / (1 << 20)
			}
		}
		f.Close()
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	return m
}

// loadAverage returns the 1, 5 and 15 minute load averages, or "".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// busy reports whether the machine was doing other work: a one-minute load
// average above half its CPUs at the start or the end.
func (m machine) busy() bool {
	for _, l := range []string{m.LoadStart, m.LoadEnd} {
		if f := strings.Fields(l); len(f) > 0 {
			if v, err := strconv.ParseFloat(f[0], 64); err == nil && v > float64(m.CPUs)/2 {
				return true
			}
		}
	}
	return false
}

// runResult is one run of one scenario against one server.
type runResult struct {
	Scenario string  `json:"scenario"`
	Server   string  `json:"server"`
	Run      int     `json:"run"`
	Error    string  `json:"error,omitempty"`
	Sample   *sample `json:"sample,omitempty"`
}

// profileResult is a CPU profile of Beacon taken during one scenario.
type profileResult struct {
	Scenario string   `json:"scenario"`
	Data     string   `json:"perf_data"`
	Report   string   `json:"report"`
	Self     []string `json:"top_self"`     // flat: where the CPU time is spent
	Children []string `json:"top_children"` // cumulative: which calls it is spent under
}

// report is everything one invocation measured.
type report struct {
	Machine  machine         `json:"machine"`
	Command  string          `json:"command"`
	Smoke    bool            `json:"smoke"`
	Runs     int             `json:"runs"`
	Client   string          `json:"client"`
	Target   string          `json:"target,omitempty"`
	Started  time.Time       `json:"started"`
	Duration string          `json:"duration"`
	Figures  []figureResult  `json:"figures"`
	Results  []runResult     `json:"results"`
	Profiles []profileResult `json:"profiles,omitempty"`
	Problems []string        `json:"problems,omitempty"`
	Notes    []string        `json:"notes,omitempty"`   // how scenarios were set up, for the Markdown
	Cluster  []figureResult  `json:"cluster,omitempty"` // the cluster scenario's rows (cluster.go)
}

// evaluate fills the figures from the results.
func (r *report) evaluate(c *config) {
	r.Figures = r.Figures[:0]
	r.Problems = r.Problems[:0]
	for _, res := range r.Results {
		if res.Error != "" {
			r.Problems = append(r.Problems, fmt.Sprintf("%s run %d on %s: %s", res.Scenario, res.Run, res.Server, res.Error))
		}
		if res.Sample != nil {
			for _, p := range res.Sample.Problems {
				r.Problems = append(r.Problems, fmt.Sprintf("%s run %d on %s: %s", res.Scenario, res.Run, res.Server, p))
			}
		}
	}
	ran := map[string]bool{}
	for _, s := range c.Scenarios {
		ran[s] = true
	}
	for _, fg := range figures {
		if fg.NotMeasured == "" && !ran[fg.Scenario] {
			continue
		}
		var beacon, ref []float64
		for _, res := range r.Results {
			if res.Scenario != fg.Scenario || res.Sample == nil {
				continue
			}
			v, ok := res.Sample.Values[fg.Key]
			if !ok {
				continue
			}
			if res.Server == kindBeacon {
				beacon = append(beacon, v)
			} else {
				ref = append(ref, v)
			}
		}
		r.Figures = append(r.Figures, fg.evaluate(c, beacon, ref))
	}
	r.evaluateCluster(c)
}

func ratioText(f figureResult) string {
	if f.Ratio == nil {
		return "—"
	}
	return fmt.Sprintf("×%.2f", *f.Ratio)
}

func statusText(f figureResult) string {
	s := f.Status
	if f.Miss != "" {
		s += ": " + f.Miss
	}
	return s
}

// writeTable prints the report for a person.
func (r *report) writeTable(w io.Writer) {
	fmt.Fprintf(w, "\nBeacon under load (%s; %d CPUs, %.0f GiB, %s; load average %s → %s)\n\n",
		r.Started.Format("2006-01-02 15:04"), r.Machine.CPUs, r.Machine.MemoryGiB, r.Machine.Go, r.Machine.LoadStart, r.Machine.LoadEnd)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "transport\tfigure\ttarget\tbeacon\treference\tratio\tstatus")
	for _, f := range r.Figures {
		title := f.Title
		if f.Note != "" && f.Status != statusNotMeasured {
			title += " (" + f.Note + ")"
		}
		val, ref := f.Value, f.RefValue
		if f.Status == statusNotMeasured {
			val, ref = f.Note, ""
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.Transport, title, dash(f.Target), dash(val), dash(ref), ratioText(f), statusText(f))
	}
	tw.Flush()
	r.writeClusterTable(w)
	for _, p := range r.Profiles {
		fmt.Fprintf(w, "\nCPU profile of Beacon during %s (%s):\n", p.Scenario, p.Report)
		for _, l := range p.Self[:min(len(p.Self), 10)] {
			fmt.Fprintln(w, "  "+l)
		}
	}
	if len(r.Problems) > 0 {
		fmt.Fprintln(w, "\nProblems:")
		for _, p := range r.Problems {
			fmt.Fprintln(w, "  - "+p)
		}
	}
	fmt.Fprintf(w, "\n%s in %s\n", r.Command, r.Duration)
}

func dash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// writeJSON prints the report for a program.
func (r *report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// The generated part of BENCHMARKS.md lies between these markers; the rest
// of the file (the notes a person writes about the figures) is kept.
const (
	markBegin = "<!-- beacon-load:begin: generated by cmd/beacon-load; everything up to the end marker is rewritten -->"
	markEnd   = "<!-- beacon-load:end -->"
)

// writeMarkdown rewrites the generated part of path, or writes a new file.
func (r *report) writeMarkdown(path string) error {
	if !r.ranSuite() {
		return r.writeClusterMarkdown(path) // the cluster alone: the suite's figures stay
	}
	var gen strings.Builder
	r.markdown(&gen)
	old, err := os.ReadFile(path)
	var out string
	switch {
	case err == nil && strings.Contains(string(old), markBegin) && strings.Contains(string(old), markEnd):
		s := string(old)
		i := strings.Index(s, markBegin)
		j := strings.Index(s, markEnd) + len(markEnd)
		out = s[:i] + markBegin + "\n" + gen.String() + markEnd + s[j:]
	case err == nil || os.IsNotExist(err):
		out = "# Benchmarks\n\n" + markBegin + "\n" + gen.String() + markEnd + "\n\n## Notes\n\nWritten by hand; the tool keeps this part.\n"
	default:
		return err
	}
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		return err
	}
	return r.writeClusterMarkdown(path)
}

func (r *report) markdown(w *strings.Builder) {
	m := r.Machine
	fmt.Fprintf(w, "\nTaken %s with `%s` (%s).\n\n", r.Started.Format("2006-01-02 15:04 MST"), r.Command, r.Duration)
	fmt.Fprintf(w, "| machine | |\n|---|---|\n")
	fmt.Fprintf(w, "| CPUs | %d (%s) |\n", m.CPUs, dash(m.CPU))
	fmt.Fprintf(w, "| memory | %.1f GiB |\n", m.MemoryGiB)
	fmt.Fprintf(w, "| Go | %s |\n", m.Go)
	fmt.Fprintf(w, "| kernel | %s |\n", dash(m.Kernel))
	fmt.Fprintf(w, "| open files per process | %d |\n", m.OpenFiles)
	fmt.Fprintf(w, "| load average (1, 5, 15 min) | %s at the start, %s at the end |\n", dash(m.LoadStart), dash(m.LoadEnd))
	w.WriteString("\n")
	if m.busy() {
		fmt.Fprintf(w, "**Taken on a shared, busy machine**: other work was running (load average above %d, half the CPUs), "+
			"so these figures are noisy and likely pessimistic for Beacon and the reference alike; the ratios are the steadier numbers.\n\n", m.CPUs/2)
	}
	if r.Smoke {
		w.WriteString("**Smoke run**: about 200 connections; the figures show that the tool works, not how Beacon performs.\n\n")
	}
	fmt.Fprintf(w, "Client and servers share the machine's %d CPUs. Each server is a separate process, started fresh for every run: "+
		"Beacon built from `./cmd/beacon` (SQLite database in a temporary directory), and the reference server, a plain net/http "+
		"SSE fan-out (one hub goroutine, a channel and a handler per subscriber, one write and flush per event; `cmd/beacon-load/reference.go`) "+
		"with gorilla/websocket rooms (gorilla's chat example: a hub goroutine, a reading and a writing goroutine per member, one write per message; "+
		"`cmd/beacon-load/refrooms.go`). "+
		"Figures are medians of %d run(s); the ratio is Beacon ÷ reference (below 1 is better where lower is better). "+
		"The %s client reads every stream.\n\n", m.CPUs, r.Runs, r.Client)
	for _, n := range r.Notes {
		w.WriteString(n + "\n\n")
	}
	w.WriteString("| | figure | target | Beacon | reference | ratio | status | command |\n|---|---|---|---|---|---|---|---|\n")
	for _, f := range r.Figures {
		title := f.Title
		if f.Note != "" && f.Status != statusNotMeasured {
			title += " (" + f.Note + ")"
		}
		val, ref, cmd := f.Value, f.RefValue, "`"+f.Command+"`"
		if f.Status == statusNotMeasured {
			val, ref, cmd = f.Note, "", ""
		}
		if len(f.BeaconRuns) > 1 {
			val += " " + runsText(f)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", strings.ToUpper(f.Transport), title, dash(f.Target),
			dash(val), dash(ref), ratioText(f), statusText(f), cmd)
	}
	w.WriteString("\n")
	if len(r.Problems) > 0 {
		w.WriteString("Problems seen (sanity checks: every connection held, every event delivered):\n\n")
		for _, p := range r.Problems {
			fmt.Fprintf(w, "- %s\n", p)
		}
		w.WriteString("\n")
	}
	for _, p := range r.Profiles {
		fmt.Fprintf(w, "CPU profile of Beacon during `%s` (perf, last run, measured part only; `%s`). "+
			"By own time, then by time spent in a function and what it calls (goroutine entry, net/http, echo and kernel frames below the system call omitted):\n\n```\n", p.Scenario, p.Report)
		for _, l := range p.Self[:min(len(p.Self), 12)] {
			fmt.Fprintln(w, l)
		}
		w.WriteString("---\n")
		n := 0
		for _, l := range p.Children {
			if n == 25 {
				break
			}
			if wrapperFrame(l) {
				continue
			}
			fmt.Fprintln(w, l)
			n++
		}
		w.WriteString("```\n\n")
	}
}

// wrapperFrame reports whether a perf row is a frame that every request
// passes through (goroutine entry, the HTTP server, echo and its
// middleware), or a kernel frame below the system call or page fault that
// led to it: true of much of the time, and no help in finding what to change.
func wrapperFrame(row string) bool {
	if strings.Contains(row, "[k]") {
		return !strings.Contains(row, "do_syscall_64") && !strings.Contains(row, "asm_exc_page_fault")
	}
	for _, w := range []string{"goexit", "gowrap", "net/http.(*conn).serve", "serverHandler", "labstack/echo",
		"handlers.NewServer", "handlers.securityHeaders", "handlers.visitor", "handlers.(*Server).ServeHTTP",
		"sync.(*WaitGroup).Go"} {
		if strings.Contains(row, w) {
			return true
		}
	}
	return false
}

// runsText lists every run's value.
func runsText(f figureResult) string {
	u := unitCount
	for _, fg := range figures {
		if fg.ID == f.ID {
			u = fg.Unit
		}
	}
	var parts []string
	for _, v := range f.BeaconRuns {
		parts = append(parts, u.format(v))
	}
	return "(" + strings.Join(parts, ", ") + ")"
}
