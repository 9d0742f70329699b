package handlers

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/a-h/templ"
)

// TestLogFramesRenderOncePerEvent: every viewer of a log widget's stream
// gets the same rendering of one event, made once; a newer event renders
// again, and a late render of an older one does not replace it.
func TestLogFramesRenderOncePerEvent(t *testing.T) {
	l := &logFrames{byTopic: map[string]logFrame{}}
	renders := 0
	current := func(context.Context) (templ.Component, error) {
		renders++
		n := renders
		return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
			_, err := fmt.Fprintf(w, "render %d", n)
			return err
		}), nil
	}
	ctx := context.Background()
	get := func(topic string, pos int64) string {
		t.Helper()
		b, err := l.get(ctx, topic, pos, current)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for viewer := range 3 {
		if got := get("room:a", 5); got != "render 1" {
			t.Fatalf("viewer %d of event 5 got %q, want the one render", viewer, got)
		}
	}
	if got := get("room:a", 7); got != "render 2" {
		t.Fatalf("event 7: %q, want a new render", got)
	}
	if got := get("room:a", 6); got != "render 2" {
		t.Fatalf("a viewer behind, at event 6: %q, want the newer render it already covers", got)
	}
	if got := get("room:b", 6); got != "render 3" {
		t.Fatalf("another topic: %q, want its own render", got)
	}
	if renders != 3 {
		t.Fatalf("%d renders, want 3", renders)
	}
}
