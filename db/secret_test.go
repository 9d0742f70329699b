package db

import (
	"bytes"
	"context"
	"path/filepath"
	"sync"
	"testing"
)

// TestSecretIsMadeOnceAndKept opens one database file twice at once, as two
// processes would, asks both for the secret concurrently, then reopens it:
// every answer must be the same 32 bytes.
func TestSecretIsMadeOnceAndKept(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	a, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got [2][]byte
	var wg sync.WaitGroup
	for i, s := range []*Store{a, b} {
		wg.Go(func() {
			var err error
			if got[i], err = s.Secret(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if len(got[0]) != 32 || !bytes.Equal(got[0], got[1]) {
		t.Fatalf("two stores got secrets %x and %x, want the same 32 bytes", got[0], got[1])
	}
	c, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	again, err := c.Secret(ctx)
	if err != nil || !bytes.Equal(again, got[0]) {
		t.Fatalf("after reopening: %x, %v; want %x", again, err, got[0])
	}
}
