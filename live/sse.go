package live

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"time"
)

// ErrField reports an SSE id, event name or topic that cannot be written
// safely: it holds a line ending, a NUL or another control character, which
// would end the field early and let the rest of the text become a field or
// event of its own.
var ErrField = errors.New("live: SSE id, event name and topic must not contain control characters")

// AppendEvent appends one Server-Sent Event to dst and returns the extended
// slice. It is the only place that writes the SSE format.
//
//   - id and event are written only when they are not empty: an empty "id:" line
//     would reset the browser's last event id.
//   - id and event with a control character are refused with ErrField and dst
//     is returned unchanged.
//   - data is split on "\r\n", "\r" and "\n" into one "data:" line each, so no
//     line ending inside data can start a new field or end the event early.
//   - An event with neither id, event nor data is written as nothing.
func AppendEvent(dst []byte, id, event string, data []byte) ([]byte, error) {
	return appendEvent(dst, id, event, "", data)
}

// appendEvent is AppendEvent with a "topic:" line naming the topic the
// event belongs to, when topic is not empty: for a connection that carries
// the topics of several pages (Request.TopicField). The SSE standard has a
// client ignore a field it does not know, so EventSource and htmx see the
// same event as without it; Beacon's tabs.js reads it. A topic with a
// control character is refused with ErrField.
func appendEvent(dst []byte, id, event, topic string, data []byte) ([]byte, error) {
	if !validField(id) || !validField(event) || !validField(topic) {
		return dst, ErrField
	}
	if id == "" && event == "" && len(data) == 0 {
		return dst, nil
	}
	dst = appendTopic(dst, topic)
	if event != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, event...)
		dst = append(dst, '\n')
	}
	if id != "" {
		dst = append(dst, "id: "...)
		dst = append(dst, id...)
		dst = append(dst, '\n')
	}
	if len(data) > 0 || event != "" {
		for {
			i := bytes.IndexAny(data, "\r\n")
			if i < 0 {
				dst = appendData(dst, data)
				break
			}
			dst = appendData(dst, data[:i])
			if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
				i++
			}
			data = data[i+1:]
		}
	}
	return append(dst, '\n'), nil
}

// appendTopic appends the "topic:" line that starts an event, or nothing
// for an empty topic. The topic must have no control character.
func appendTopic(dst []byte, topic string) []byte {
	if topic == "" {
		return dst
	}
	dst = append(dst, "topic: "...)
	dst = append(dst, topic...)
	return append(dst, '\n')
}

func appendData(dst, line []byte) []byte {
	dst = append(dst, "data: "...)
	dst = append(dst, line...)
	return append(dst, '\n')
}

// AppendRetry appends a block that sets the client's reconnection delay.
func AppendRetry(dst []byte, d time.Duration) []byte {
	dst = append(dst, "retry: "...)
	dst = strconv.AppendInt(dst, d.Milliseconds(), 10)
	return append(dst, "\n\n"...)
}

// AppendComment appends a comment line, which clients ignore; Beacon uses it
// as a heartbeat that keeps proxies and NAT tables from closing an idle stream.
func AppendComment(dst []byte, text string) []byte {
	dst = append(dst, ':')
	if text != "" {
		dst = append(dst, ' ')
		dst = append(dst, strings.Map(dropLineEnds, text)...)
	}
	return append(dst, "\n\n"...)
}

func dropLineEnds(r rune) rune {
	if r == '\r' || r == '\n' {
		return -1
	}
	return r
}

func validField(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}
