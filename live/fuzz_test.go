package live

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzAppendEvent parses what AppendEvent writes with the independent parser
// in helpers_test.go and checks that a browser would see exactly the event
// that was asked for: the data with every line ending made "\n", the same id
// and event name, and nothing else. Seeds are in testdata/fuzz/FuzzAppendEvent.
func FuzzAppendEvent(f *testing.F) {
	f.Add("5eed-1", "", []byte("<p>hello</p>"))
	f.Add("", "resync", []byte(nil))
	f.Add("5eed-2", "", []byte(nil))
	f.Add("", "", []byte("a\r\nb\rc\nd\r"))
	f.Fuzz(func(t *testing.T, id, event string, data []byte) {
		const prefix = "data: before\n\n"
		dst := append(make([]byte, 0, len(prefix)+8), prefix...)
		orig := bytes.Clone(data)

		out, err := AppendEvent(dst, id, event, data)
		if !bytes.Equal(data, orig) {
			t.Fatalf("AppendEvent changed its data argument")
		}
		if hasControl(id) || hasControl(event) {
			if !errors.Is(err, ErrField) {
				t.Fatalf("AppendEvent(%q, %q, …) = %v, want ErrField", id, event, err)
			}
			if string(out) != prefix {
				t.Fatalf("refused event changed dst to %q", out)
			}
			return
		}
		if err != nil {
			t.Fatalf("AppendEvent(%q, %q, %q): %v", id, event, data, err)
		}
		if !bytes.HasPrefix(out, []byte(prefix)) {
			t.Fatalf("AppendEvent did not append to dst: %q", out)
		}
		wire := out[len(prefix):]

		// The whole stream parses: the event cannot disturb what came before.
		all, err := parseEvents(out)
		if err != nil {
			t.Fatalf("output %q does not parse: %v", out, err)
		}
		if len(all) == 0 || all[0].Data != "before" {
			t.Fatalf("the preceding event was disturbed: %q", out)
		}

		blocks, err := parseEvents(wire)
		if err != nil {
			t.Fatalf("AppendEvent(%q, %q, %q) wrote %q, which does not parse: %v", id, event, data, wire, err)
		}
		if id == "" && event == "" && len(data) == 0 {
			if len(blocks) != 0 {
				t.Fatalf("an empty event wrote %q", wire)
			}
			return
		}
		if len(blocks) != 1 {
			t.Fatalf("AppendEvent(%q, %q, %q) wrote %d blocks: %q", id, event, data, len(blocks), wire)
		}
		b := blocks[0]
		if b.HasID != (id != "") || b.ID != id {
			t.Fatalf("id %q came back as %q (present %v) in %q", id, b.ID, b.HasID, wire)
		}
		if b.HasEvent != (event != "") || b.Event != event {
			t.Fatalf("event %q came back as %q (present %v) in %q", event, b.Event, b.HasEvent, wire)
		}
		if b.HasRetry || b.Comments > 0 {
			t.Fatalf("unexpected retry or comment in %q", wire)
		}
		if len(data) == 0 && event == "" {
			// Only an id: it moves the client's position and must not fire
			// an empty message.
			if b.Dispatched() {
				t.Fatalf("an id-only event dispatches a message: %q", wire)
			}
			return
		}
		if !b.Dispatched() {
			t.Fatalf("AppendEvent(%q, %q, %q) wrote %q, which a browser does not dispatch", id, event, data, wire)
		}
		if want := normalizeLineEnds(data); b.Data != want {
			t.Fatalf("data %q came back as %q, want %q; wire %q", data, b.Data, want, wire)
		}
	})
}

// hasControl reports whether s holds a C0 control character or DEL.
func hasControl(s string) bool {
	for _, c := range []byte(s) {
		if c < ' ' || c == 0x7f {
			return true
		}
	}
	return false
}

// normalizeLineEnds turns "\r\n" and then every remaining "\r" into "\n".
func normalizeLineEnds(p []byte) string {
	p = bytes.ReplaceAll(p, []byte("\r\n"), []byte("\n"))
	p = bytes.ReplaceAll(p, []byte("\r"), []byte("\n"))
	return string(p)
}

// FuzzAppendTopicEvent checks the "topic" line of a shared connection's
// events (Request.TopicField) the way FuzzAppendEvent checks the rest: the
// parser sees exactly the topic, id, event and data asked for, and a topic
// with a control character is refused without writing anything.
func FuzzAppendTopicEvent(f *testing.F) {
	f.Add("5eed-1", "", "room:ops", []byte("<p>hello</p>"))
	f.Add("", "", "metrics", []byte("a\r\nb"))
	f.Add("", "resync", "", []byte(nil))
	f.Add("5eed-2", "", "user:1", []byte(nil))
	f.Add("", "", "a\nevent: x", []byte("y"))
	f.Fuzz(func(t *testing.T, id, event, topic string, data []byte) {
		const prefix = "data: before\n\n"
		out, err := appendEvent([]byte(prefix), id, event, topic, data)
		if hasControl(id) || hasControl(event) || hasControl(topic) {
			if !errors.Is(err, ErrField) || string(out) != prefix {
				t.Fatalf("appendEvent(%q, %q, %q, …) = %q, %v; want ErrField and dst unchanged", id, event, topic, out, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("appendEvent(%q, %q, %q, %q): %v", id, event, topic, data, err)
		}
		plain, _ := AppendEvent(nil, id, event, data)
		blocks, err := parseEvents(out[len(prefix):])
		if err != nil {
			t.Fatalf("wrote %q, which does not parse: %v", out, err)
		}
		if len(plain) == 0 {
			if len(blocks) != 0 {
				t.Fatalf("an empty event with topic %q wrote %q", topic, out)
			}
			return
		}
		if len(blocks) != 1 {
			t.Fatalf("wrote %d blocks: %q", len(blocks), out)
		}
		b := blocks[0]
		if b.HasTopic != (topic != "") || b.Topic != topic {
			t.Fatalf("topic %q came back as %q (present %v) in %q", topic, b.Topic, b.HasTopic, out)
		}
		// Without its topic line the event is exactly AppendEvent's.
		rest := out[len(prefix):]
		if topic != "" {
			rest = rest[len("topic: ")+len(topic)+1:]
		}
		if !bytes.Equal(rest, plain) {
			t.Fatalf("after the topic line %q, want AppendEvent's %q", rest, plain)
		}
	})
}
