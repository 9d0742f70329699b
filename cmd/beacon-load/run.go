package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// dispatch runs the tool, or the reference server when this process was
// started as one (`beacon-load reference`, or roleEnv in a test binary).
func dispatch(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "reference" {
		return serveReference(ctx, args[1:], stdout, stderr)
	}
	if getenv(roleEnv) == "reference" {
		return serveReference(ctx, args, stdout, stderr)
	}
	if getenv(roleEnv) == workerRole {
		return serveWorker(ctx, os.Stdin, stdout)
	}
	return run(ctx, args, stdout, stderr)
}

// run measures every scenario asked for against a fresh Beacon and a fresh
// reference server per run, prints the report, and writes BENCHMARKS.md
// when asked. It fails when a sanity check failed (a connection dropped, an
// event lost), not when a target is missed: the report says that.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	openFiles, err := raiseOpenFiles()
	if err != nil {
		return fmt.Errorf("raise the open-files limit: %w", err)
	}
	cfg, err := newConfig(args, stderr, openFiles)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	dir, err := os.MkdirTemp("", "beacon-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	ctl := &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true},
		Timeout:   30 * time.Second,
	}
	defer ctl.CloseIdleConnections()

	rep := &report{
		Machine: readMachine(openFiles),
		Command: "go run ./cmd/beacon-load " + strings.Join(args, " "),
		Smoke:   cfg.Smoke, Runs: cfg.Runs, Client: cfg.Client, Target: cfg.Target,
		Started: time.Now(),
	}
	for _, n := range []string{roomNote(cfg), streamNote(cfg)} {
		if n != "" {
			rep.Notes = append(rep.Notes, n)
		}
	}
	launchers := []*launcher{}
	bl, err := beaconLauncher(ctx, cfg, dir, stderr)
	if err != nil {
		return err
	}
	launchers = append(launchers, bl)
	if cfg.Reference {
		rl, err := referenceLauncher(dir)
		if err != nil {
			return err
		}
		launchers = append(launchers, rl)
	}
	var prof *perfProfiler
	if cfg.Profile != "" {
		if err := os.MkdirAll(cfg.Profile, 0o755); err != nil {
			return err
		}
		prof = &perfProfiler{dir: cfg.Profile, log: stderr}
	}

	for _, name := range cfg.Scenarios {
		sc := scenarios[name]
		for i := 1; i <= cfg.Runs && ctx.Err() == nil; i++ {
			for _, l := range launchers {
				if ctx.Err() != nil {
					break
				}
				if l.kind == kindReference && sc.beaconOnly {
					continue // a setting of Beacon's
				}
				b := &bench{cfg: cfg, ctl: ctl, log: stderr, limited: name == "connect-limit"}
				if prof != nil && l.kind == kindBeacon && i == cfg.Runs {
					// The last run of Beacon is profiled: perf costs a few
					// percent of one run of three, and no extra run is needed.
					b.profile = prof.start
				}
				fmt.Fprintf(stderr, "%s: run %d of %d on %s\n", name, i, cfg.Runs, l.kind)
				res := runResult{Scenario: name, Server: l.kind, Run: i}
				res.Sample, err = runOnce(ctx, b, l, sc, fmt.Sprintf("%s-%d", name, i))
				if err != nil {
					res.Error = err.Error()
					fmt.Fprintf(stderr, "  failed: %v\n", err)
				}
				rep.Results = append(rep.Results, res)
			}
		}
	}
	rep.evaluate(cfg)
	if prof != nil {
		// Only the profiles of scenarios that missed a target are shown; the
		// others stay in the directory.
		rep.Profiles = prof.reports(failedScenarios(rep))
	}

	rep.Machine.LoadEnd = loadAverage()
	rep.Duration = time.Since(rep.Started).Round(time.Second).String()
	if cfg.JSON {
		if err := rep.writeJSON(stdout); err != nil {
			return err
		}
	} else {
		rep.writeTable(stdout)
	}
	if cfg.Markdown != "" {
		if err := rep.writeMarkdown(cfg.Markdown); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wrote %s\n", cfg.Markdown)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("stopped before the end: %w", context.Cause(ctx))
	}
	if len(rep.Problems) > 0 {
		return fmt.Errorf("%d sanity problem(s): the figures above are not to be trusted", len(rep.Problems))
	}
	return nil
}

// runOnce starts a fresh server, runs the scenario against it and stops it.
func runOnce(ctx context.Context, b *bench, l *launcher, sc scenario, run string) (*sample, error) {
	var extra, env []string
	if sc.beaconArgs != nil {
		extra = sc.beaconArgs(b.cfg)
	}
	if sc.beaconOnly {
		env = sc.beaconEnv
	}
	srv, err := l.start(ctx, run, extra, env)
	if err != nil {
		return nil, err
	}
	s, err := sc.run(ctx, b, srv)
	if stopErr := srv.Stop(); stopErr != nil && err == nil {
		err = stopErr
	}
	return s, err
}

// failedScenarios returns the scenarios with a figure that missed its target.
func failedScenarios(r *report) []string {
	var out []string
	for _, f := range r.Figures {
		if f.Status == statusFail && (len(out) == 0 || out[len(out)-1] != f.Scenario) {
			out = append(out, f.Scenario)
		}
	}
	return out
}
