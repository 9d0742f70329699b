package live

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestAppendEvent(t *testing.T) {
	tests := []struct {
		name      string
		id, event string
		data      string
		want      string
	}{
		{"data only", "", "", "hello", "data: hello\n\n"},
		{"id event data", "5eed-7", "msg", "hi", "event: msg\nid: 5eed-7\ndata: hi\n\n"},
		{"LF", "", "", "a\nb", "data: a\ndata: b\n\n"},
		{"CRLF", "", "", "a\r\nb", "data: a\ndata: b\n\n"},
		{"bare CR", "", "", "a\rb", "data: a\ndata: b\n\n"},
		{"mixed", "", "", "a\r\nb\rc\nd", "data: a\ndata: b\ndata: c\ndata: d\n\n"},
		{"LF then CR is two line ends", "", "", "a\n\rb", "data: a\ndata: \ndata: b\n\n"},
		{"CR CR LF", "", "", "a\r\r\nb", "data: a\ndata: \ndata: b\n\n"},
		{"trailing LF", "", "", "a\n", "data: a\ndata: \n\n"},
		{"trailing CRLF", "", "", "a\r\n", "data: a\ndata: \n\n"},
		{"trailing CR", "", "", "a\r", "data: a\ndata: \n\n"},
		{"leading LF", "", "", "\na", "data: \ndata: a\n\n"},
		{"lone CRLF", "", "", "\r\n", "data: \ndata: \n\n"},
		{"lone CR", "", "", "\r", "data: \ndata: \n\n"},
		{"lone LF", "", "", "\n", "data: \ndata: \n\n"},
		{"blank lines cannot end the event", "", "", "\n\ndata: x", "data: \ndata: \ndata: data: x\n\n"},
		{"field names in data stay data", "", "", "a\rid: 1\r\nevent: x\nretry: 1", "data: a\ndata: id: 1\ndata: event: x\ndata: retry: 1\n\n"},
		{"spaces and colons kept", "", "", " x: y ", "data:  x: y \n\n"},
		{"NUL and controls in data kept", "", "", "a\x00b\x1bc", "data: a\x00b\x1bc\n\n"},
		{"html", "", "", "<div id=\"x\">\r\n<script>alert(1)</script></div>", "data: <div id=\"x\">\ndata: <script>alert(1)</script></div>\n\n"},
		{"empty data with id", "5eed-3", "", "", "id: 5eed-3\n\n"},
		{"empty data with event", "", "resync", "", "event: resync\ndata: \n\n"},
		{"empty data with id and event", "5eed-3", "resync", "", "event: resync\nid: 5eed-3\ndata: \n\n"},
		{"nothing at all", "", "", "", ""},
		{"unicode id and event", "épo-1", "chat✓", "ü", "event: chat✓\nid: épo-1\ndata: ü\n\n"},
		{"id with spaces", " a b ", "", "x", "id:  a b \ndata: x\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, prefix := range []string{"", "data: before\n\n"} {
				got, err := AppendEvent([]byte(prefix), tt.id, tt.event, []byte(tt.data))
				if err != nil {
					t.Fatalf("AppendEvent(%q, %q, %q): %v", tt.id, tt.event, tt.data, err)
				}
				if string(got) != prefix+tt.want {
					t.Fatalf("AppendEvent(%q, %q, %q) after %q\n got %q\nwant %q", tt.id, tt.event, tt.data, prefix, got, prefix+tt.want)
				}
				for _, line := range strings.Split(string(got), "\n") {
					if line == "id:" || line == "id: " {
						t.Fatalf("empty id line in %q: it would reset the browser's last event id", got)
					}
				}
			}
		})
	}
}

func TestAppendEventRefusesControlCharacters(t *testing.T) {
	bad := []string{"\r", "\n", "\r\n", "\x00", "\x01", "\t", "\x1b", "\x1f", "\x7f"}
	for _, c := range bad {
		for _, field := range []string{"id", "event"} {
			for _, where := range []string{"alone", "inside", "end"} {
				v := map[string]string{"alone": c, "inside": "5eed" + c + "1", "end": "5eed-1" + c}[where]
				id, event := "", ""
				if field == "id" {
					id = v
				} else {
					event = v
				}
				// dst has spare capacity filled with a marker: a refused event
				// must not write into it either.
				dst := bytes.Repeat([]byte{'#'}, 64)[:4]
				copy(dst, "pre:")
				got, err := AppendEvent(dst, id, event, []byte("x\ny"))
				if !errors.Is(err, ErrField) {
					t.Errorf("%s %q: err = %v, want ErrField", field, v, err)
				}
				if string(got) != "pre:" {
					t.Errorf("%s %q: dst changed to %q", field, v, got)
				}
				if full := dst[:cap(dst)]; string(full[4:]) != strings.Repeat("#", 60) {
					t.Errorf("%s %q: wrote past dst's length: %q", field, v, full)
				}
			}
		}
	}
	// An invalid id refuses the event even when the event name is fine, and
	// the other way round.
	if _, err := AppendEvent(nil, "ok-1", "bad\nname", nil); !errors.Is(err, ErrField) {
		t.Errorf("bad event with good id: err = %v", err)
	}
	if _, err := AppendEvent(nil, "bad\r1", "ok", nil); !errors.Is(err, ErrField) {
		t.Errorf("bad id with good event: err = %v", err)
	}
}

func TestAppendRetry(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{1500 * time.Millisecond, "retry: 1500\n\n"},
		{3 * time.Second, "retry: 3000\n\n"},
		{0, "retry: 0\n\n"},
		{999 * time.Microsecond, "retry: 0\n\n"},
		{time.Millisecond, "retry: 1\n\n"},
	}
	for _, tt := range tests {
		got := AppendRetry([]byte("data: x\n\n"), tt.d)
		if string(got) != "data: x\n\n"+tt.want {
			t.Errorf("AppendRetry(%v) = %q, want %q after the prefix", tt.d, got, tt.want)
		}
		blocks, err := parseEvents(got)
		if err != nil || len(blocks) != 2 || !blocks[1].HasRetry || blocks[1].Dispatched() {
			t.Errorf("AppendRetry(%v) = %q does not parse as one retry block: %v", tt.d, got, err)
		}
	}
}

func TestAppendComment(t *testing.T) {
	tests := []struct {
		text, want string
	}{
		{"", ":\n\n"},
		{"hi", ": hi\n\n"},
		{"a\r\nb\rc\nd", ": abcd\n\n"},
		{"\n\ndata: x", ": data: x\n\n"},
		{"\r", ": \n\n"},
	}
	for _, tt := range tests {
		got := AppendComment([]byte("data: x\n\n"), tt.text)
		if string(got) != "data: x\n\n"+tt.want {
			t.Errorf("AppendComment(%q) = %q, want %q after the prefix", tt.text, got, tt.want)
			continue
		}
		blocks, err := parseEvents(got)
		if err != nil || len(blocks) != 2 || blocks[1].Comments != 1 || blocks[1].lines != 1 {
			t.Errorf("AppendComment(%q) = %q does not parse as one comment block: %v", tt.text, got, err)
		}
	}
}

func TestFormatParseIDRoundTrip(t *testing.T) {
	tests := []struct {
		epoch string
		pos   int64
		id    string
	}{
		{"5eed", 0, "5eed-0"},
		{"5eed", 1, "5eed-1"},
		{"0123456789abcdef", 42, "0123456789abcdef-42"},
		{"5eed", math.MaxInt64, "5eed-9223372036854775807"},
		// Epochs hold no dash (db makes 16 hex digits), so no "a-b" case.
	}
	for _, tt := range tests {
		id := FormatID(tt.epoch, tt.pos)
		if id != tt.id {
			t.Errorf("FormatID(%q, %d) = %q, want %q", tt.epoch, tt.pos, id, tt.id)
		}
		epoch, pos, ok := ParseID(id)
		if !ok || epoch != tt.epoch || pos != tt.pos {
			t.Errorf("ParseID(%q) = %q, %d, %v; want %q, %d, true", id, epoch, pos, ok, tt.epoch, tt.pos)
		}
	}
}

func TestParseIDRejects(t *testing.T) {
	tests := []struct{ id, why string }{
		{"", "empty"},
		{"abc", "no dash"},
		{"-5", "no epoch"},
		{"e-", "no position"},
		{"e-x", "position not a number"},
		{"e- 5", "space before the position"},
		{"e-5 ", "space after the position"},
		{"e-5x", "trailing garbage"},
		{"e-1.5", "not an integer"},
		{"e-99999999999999999999", "overflows int64"},
		{"e--1", "a negative position"},
		{"a-b-7", "epochs hold no dash"},
		{"e-+5", "FormatID never writes a sign"},
		{"e-05", "FormatID never writes a leading zero"},
	}
	for _, tt := range tests {
		if epoch, pos, ok := ParseID(tt.id); ok {
			t.Errorf("ParseID(%q) = %q, %d, true; want ok == false: %s", tt.id, epoch, pos, tt.why)
		}
	}
}
