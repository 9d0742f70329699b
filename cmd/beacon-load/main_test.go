package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the package if the tool leaves a goroutine behind: a
// connection's reader, a publisher, a child's output copier. When the tool
// under test starts this test binary as its reference server (roleEnv), it
// serves instead of testing.
func TestMain(m *testing.M) {
	if os.Getenv(roleEnv) != "" { // the reference server, or a worker
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := dispatch(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "reference:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	// With a Cleanup, goleak leaves the exit to it.
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		if beaconDir != "" {
			os.RemoveAll(beaconDir)
		}
		os.Exit(code)
	}))
}

// beaconOnce builds ./cmd/beacon once for every test of the package.
var (
	beaconOnce sync.Once
	beaconDir  string
	beaconBin  string
	beaconErr  error
)

// builtBeacon returns a Beacon binary built from this module.
func builtBeacon(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the tool builds ./cmd/beacon with the go command, which is not on PATH")
	}
	beaconOnce.Do(func() {
		if beaconDir, beaconErr = os.MkdirTemp("", "beacon-load-test-"); beaconErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		beaconBin, beaconErr = buildBeacon(ctx, beaconDir, io.Discard)
	})
	if beaconErr != nil {
		t.Fatal(beaconErr)
	}
	return beaconBin
}
