// Command beacon-load measures Beacon under load, side by side with a plain
// net/http SSE fan-out (the reference server), and writes BENCHMARKS.md.
//
// It opens thousands of live connections to a Beacon it builds and starts
// itself (or to -target), publishes stamped events through the real ingest
// API, and reports connections held, connect rate and handshake times,
// delivery latency, deliveries per second, and the server's memory and
// goroutines per connection read from /metrics. Every scenario runs against
// the reference server too, in the same invocation, so every figure has a
// ratio. It talks to loopback addresses only and is bounded in time and
// count; see -help.
//
//	go run ./cmd/beacon-load -smoke                          # CI: ~200 connections, a few seconds
//	go run ./cmd/beacon-load -n 2000 fanout burst            # two scenarios, 2,000 connections
//	go run ./cmd/beacon-load -runs 3 -markdown BENCHMARKS.md # the full suite
//	go run ./cmd/beacon-load -markdown BENCHMARKS.md cluster # three Beacons with NATS, 57,000 connections
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := dispatch(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "beacon-load:", err)
		os.Exit(1)
	}
}
