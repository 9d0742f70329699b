package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// perfProfiler records CPU profiles of servers this tool started with Linux
// perf (Beacon exposes no /debug/pprof). perf reads Go's symbols and frame
// pointers, so its report names Go functions.
type perfProfiler struct {
	dir string
	log io.Writer
	// recorded are the perf.data files recorded so far, by scenario.
	recorded []profileResult
}

// start begins recording srv's CPU and returns the function that ends it.
func (p *perfProfiler) start(srv *server, scenario string) func() {
	data := filepath.Join(p.dir, scenario+"-"+srv.Kind+".perf.data")
	cmd := exec.Command("perf", "record", "-F", "999", "-g", "-o", data, "-p", strconv.Itoa(srv.PID))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(p.log, "  no CPU profile (perf: %v)\n", err)
		return func() {}
	}
	time.Sleep(300 * time.Millisecond) // perf attaches to every thread first
	return func() {
		cmd.Process.Signal(os.Interrupt)
		if err := cmd.Wait(); err != nil && !strings.Contains(out.String(), "Captured and wrote") {
			fmt.Fprintf(p.log, "  perf record: %v: %s\n", err, bytes.TrimSpace(out.Bytes()))
			return
		}
		p.recorded = append(p.recorded, profileResult{Scenario: scenario, Data: data})
	}
}

// reports summarizes the profiles of the given scenarios, after the runs, so
// that perf's own work never overlaps a measurement.
func (p *perfProfiler) reports(scenarios []string) []profileResult {
	var out []profileResult
	for _, r := range p.recorded {
		if !slices.Contains(scenarios, r.Scenario) {
			continue
		}
		res, err := summarize(r.Scenario, r.Data)
		if err != nil {
			fmt.Fprintf(p.log, "perf report %s: %v\n", r.Data, err)
			continue
		}
		fmt.Fprintf(p.log, "CPU profile of Beacon during %s: %s\n", r.Scenario, res.Report)
		out = append(out, res)
	}
	return out
}

// summarize writes perf's flat and cumulative reports of data next to it and
// returns their top lines.
func summarize(scenario, data string) (profileResult, error) {
	res := profileResult{Scenario: scenario, Data: data, Report: strings.TrimSuffix(data, ".perf.data") + ".txt"}
	self, err := exec.Command("perf", "report", "-i", data, "--stdio", "--no-children", "--sort", "symbol",
		"-g", "none", "--percent-limit", "0.3").Output()
	if err != nil {
		return res, err
	}
	children, err := exec.Command("perf", "report", "-i", data, "--stdio", "--children", "--sort", "symbol",
		"-g", "none", "--percent-limit", "2").Output()
	if err != nil {
		return res, err
	}
	res.Self, res.Children = topLines(self), topLines(children)
	text := "# by own time (--no-children)\n" + string(self) + "\n# by time under the function (--children)\n" + string(children)
	return res, os.WriteFile(res.Report, []byte(text), 0o644)
}

// topLines returns the rows of a perf report: "12.34%  [.] pkg.Func".
func topLines(report []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(report))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || !strings.Contains(line, "%") {
			continue
		}
		// Drop perf's empty IPC columns ("-  -") at the end of the row.
		f := strings.Fields(line)
		for len(f) > 0 && f[len(f)-1] == "-" {
			f = f[:len(f)-1]
		}
		out = append(out, strings.Join(f, " "))
	}
	return out
}
