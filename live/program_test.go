package live

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// programData is the data of a program-format event.
type programData struct {
	ID    string          `json:"id"`
	Topic string          `json:"topic"`
	At    time.Time       `json:"at"`
	HTML  string          `json:"html"`
	Data  json.RawMessage `json:"data"`
}

func decodeProgram(t testing.TB, b block) programData {
	t.Helper()
	var d programData
	dec := json.NewDecoder(strings.NewReader(b.Data))
	dec.DisallowUnknownFields()
	if b.DataLines != 1 || dec.Decode(&d) != nil {
		t.Fatalf("a program event's data is not one line of one JSON object: %q", b.Raw)
	}
	return d
}

func TestAppendProgramEvent(t *testing.T) {
	at := time.Date(2026, 11, 20, 14, 3, 7, 0, time.UTC)
	got, err := appendProgramEvent(nil, "ep-12", "activity", Frame{Topic: "activity", Position: 12, At: at,
		Data: []byte("<li>\"a\" & b\r\n</li>"), JSON: []byte(`{"type":"activity","text":"a"}`)})
	if err != nil {
		t.Fatal(err)
	}
	want := "event: activity\n" +
		`data: {"id":"ep-12","topic":"activity","at":"2026-11-20T14:03:07Z","html":"<li>\"a\" & b\r\n</li>","data":{"type":"activity","text":"a"}}` + "\n" +
		"id: ep-12\n\n"
	if string(got) != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	// The id field comes after the data, so a cut-off event has no new id.
	if strings.Index(string(got), "id: ") < strings.Index(string(got), "data: ") {
		t.Fatal("id before data")
	}
	if _, err := appendProgramEvent(nil, "ep-1\n", "x", Frame{}); err != ErrField {
		t.Fatalf("an id with a line end: %v, want ErrField", err)
	}
	if _, err := appendProgramEvent(nil, "", "room:a\rb", Frame{}); err != ErrField {
		t.Fatalf("an event name with a line end: %v, want ErrField", err)
	}
	pos := appendProgramPosition(nil, "ep-3", "")
	if string(pos) != "data: {\"id\":\"ep-3\"}\nid: ep-3\n\n" {
		t.Fatalf("position block %q", pos)
	}
}

// TestProgramStream: a stream asked for the program format names every
// event by its topic, carries its id in the data too, and resumes as a
// page's does.
func TestProgramStream(t *testing.T) {
	fx := newFixture(t, HubConfig{}, SSEConfig{ResyncEvent: "resync"})
	fx.publishState("metrics", []byte("<p>cpu 3</p>"))
	s := fx.open(t, "topics=log:activity,metrics&format=program", "")
	// The state topic's latest frame and the position block, in some order.
	var start string
	sawState := false
	for start == "" || !sawState {
		b := s.event(t)
		d := decodeProgram(t, b)
		switch {
		case b.Event == "metrics":
			if d.Topic != "metrics" || d.HTML != "<p>cpu 3</p>" || d.ID != "" || b.HasID {
				t.Fatalf("state frame %q", b.Raw)
			}
			sawState = true
		case b.HasID && d.Topic == "" && d.ID == b.ID && !b.HasEvent:
			start = b.ID
		default:
			t.Fatalf("unexpected block %q", b.Raw)
		}
	}
	f := fx.publishFrame(Frame{Topic: "log:activity", Data: []byte("<li>one</li>"), JSON: []byte(`{"n":1}`)})
	b := s.event(t)
	d := decodeProgram(t, b)
	if b.Event != "log:activity" || d.Topic != "log:activity" || b.ID != FormatID(testEpoch, f.Position) || d.ID != b.ID ||
		d.HTML != "<li>one</li>" || string(d.Data) != `{"n":1}` {
		t.Fatalf("log frame %q", b.Raw)
	}
	s.close()

	// Resumed from the start, it is replayed in the same format.
	r := fx.open(t, "topics=log:activity&format=program", start)
	b = r.event(t)
	if d := decodeProgram(t, b); b.Event != "log:activity" || b.ID != FormatID(testEpoch, f.Position) || d.ID != b.ID || d.HTML != "<li>one</li>" {
		t.Fatalf("replayed frame %q", b.Raw)
	}
	r.close()

	// From another epoch: the current state, then the named position block.
	o := fx.open(t, "topics=log:activity&format=program", "other-1")
	for {
		b := o.event(t)
		if b.HasEvent && b.Event == "resync" {
			if d := decodeProgram(t, b); d.ID != b.ID || !b.HasID {
				t.Fatalf("resync block %q", b.Raw)
			}
			break
		}
	}
	o.close()
}
