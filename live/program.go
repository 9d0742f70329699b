package live

import (
	"cmp"
	"time"
)

// The program format of an SSE stream (Request.Program): what a Go or
// shell program following topics needs and a page does not. Every event
// names its topic and carries one JSON object on one data line:
//
//	event: activity
//	data: {"id":"<epoch>-812","topic":"activity","at":"2026-11-20T14:03:07.123Z","html":"<hx-partial …>","data":{…}}
//	id: <epoch>-812
//
// "data" is the frame's JSON form for programs (Frame.JSON) when it has
// one; "id" and the id field are there on log frames only. The position
// block is {"id":…} alone (named by SSEConfig.ResyncEvent after a resync);
// retry hints and heartbeats are as on a page's stream.
//
// The id is in the data too, and the data is one line of JSON, so a client
// that hands over the first part of an event cut off by a dropped
// connection as if it were whole (r3labs/sse does) can tell: the data is
// not a whole JSON object. The id field comes last, so a cut before it
// leaves a client that trusts the id field (r3labs/sse's LastEventID) at
// the previous event.

// appendProgramEvent appends f as a program-format event: id is its
// resume id ("" for none), event its name (the topic, or a named event).
func appendProgramEvent(dst []byte, id, event string, f Frame) ([]byte, error) {
	if !validField(id) || !validField(event) {
		return dst, ErrField
	}
	data := make([]byte, 0, len(f.Data)+len(f.JSON)+96)
	data = append(data, '{')
	sep := func() {
		if len(data) > 1 {
			data = append(data, ',')
		}
	}
	field := func(name string, value []byte) {
		sep()
		data = append(data, '"')
		data = append(data, name...)
		data = append(data, `":"`...)
		data = append(data, jsonString(value)...)
		data = append(data, '"')
	}
	if id != "" {
		field("id", []byte(id))
	}
	if f.Topic != "" {
		field("topic", []byte(f.Topic))
	}
	if !f.At.IsZero() {
		field("at", f.At.UTC().AppendFormat(nil, time.RFC3339Nano))
	}
	if len(f.Data) > 0 {
		field("html", f.Data)
	}
	if len(f.JSON) > 0 {
		sep()
		data = append(data, `"data":`...)
		data = append(data, f.JSON...) // one JSON value: json.Marshal wrote it
	}
	data = append(data, '}')

	if event != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, event...)
		dst = append(dst, '\n')
	}
	dst = appendData(dst, data) // JSON holds no raw line ending: one line
	if id != "" {
		dst = append(dst, "id: "...)
		dst = append(dst, id...)
		dst = append(dst, '\n')
	}
	return append(dst, '\n'), nil
}

// program returns m as a program-format event, made on first use, once:
// most frames only ever go out to pages.
func (m *message) program(epoch string) []byte {
	m.programOnce.Do(func() {
		id := ""
		if m.class == Log {
			id = FormatID(epoch, m.Position)
		}
		m.programSSE, _ = appendProgramEvent(nil, id, cmp.Or(m.Event, m.Topic), m.Frame) // a refused topic is not sent
	})
	return m.programSSE
}

// appendProgramPosition appends the program format's position block:
// {"id":…} with the id field, named event when it is not "".
func appendProgramPosition(dst []byte, id, event string) []byte {
	dst, _ = appendProgramEvent(dst, id, event, Frame{}) // the caller's id is FormatID's
	return dst
}
