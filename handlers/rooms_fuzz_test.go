package handlers

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeChat checks the decoder of what clients send on a room's
// socket: no input panics it; an accepted "chat" has content that is
// non-empty, trimmed, valid UTF-8 and at most the limit; an accepted
// "typing" has none; every refusal is a field error naming the field with a
// message a person can act on. Seeds are in testdata/fuzz/FuzzDecodeChat:
// htmx's shape (with "headers"), typing, SSE-breaking and HTML content,
// invalid UTF-8, the size limit, and malformed JSON.
//
// The size limit is also checked at 8 bytes, so that short inputs reach it
// (seeds of 4 KiB would make the fuzzer spend its time minimizing them);
// TestDecodeChat checks 4 KiB itself.
func FuzzDecodeChat(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, limit := range []int{4096, 8} {
			in, err := decodeChat(data, limit)
			if err != nil {
				var fe *fieldError
				if !errors.As(err, &fe) || fe.Field == "" || fe.Message == "" {
					t.Fatalf("error %#v is not a field error with a field and a message", err)
				}
				if in != (chatIn{}) {
					t.Fatalf("refused input came with %+v", in)
				}
				continue
			}
			switch in.Type {
			case "chat":
				if in.Content == "" || !utf8.ValidString(in.Content) || len(in.Content) > limit || strings.TrimSpace(in.Content) != in.Content {
					t.Fatalf("accepted chat content %q (%d bytes, limit %d)", in.Content, len(in.Content), limit)
				}
			case "typing":
				if in.Content != "" {
					t.Fatalf("accepted typing with content %q", in.Content)
				}
			default:
				t.Fatalf("accepted type %q", in.Type)
			}
		}
	})
}

// TestDecodeChat checks the decoder on the shapes clients send and on each
// way of getting it wrong.
func TestDecodeChat(t *testing.T) {
	tests := []struct {
		name, data string
		want       chatIn
		field      string // the field the error names; "" for success
	}{
		{"json", `{"type":"chat","content":"hi"}`, chatIn{"chat", "hi"}, ""},
		{"htmx", `{"type":"chat","content":" hi ","headers":{"HX-Request":"true"}}`, chatIn{"chat", "hi"}, ""},
		{"typing", `{"type":"typing"}`, chatIn{"typing", ""}, ""},
		{"sse breaking text is content", `{"type":"chat","content":"a\n\ndata: x\r"}`, chatIn{"chat", "a\n\ndata: x"}, ""},
		{"markup is content", `{"type":"chat","content":"<script>alert(1)</script>"}`, chatIn{"chat", "<script>alert(1)</script>"}, ""},
		{"at the limit", `{"type":"chat","content":"` + strings.Repeat("é", 2048) + `"}`, chatIn{"chat", strings.Repeat("é", 2048)}, ""},
		{"over the limit", `{"type":"chat","content":"` + strings.Repeat("é", 2048) + `x"}`, chatIn{}, "content"},
		{"empty", ``, chatIn{}, "body"},
		{"not json", `hello`, chatIn{}, "body"},
		{"truncated", `{"type":"chat","content":"a`, chatIn{}, "body"},
		{"two objects", `{"type":"typing"}{"type":"typing"}`, chatIn{}, "body"},
		{"unknown field", `{"type":"chat","content":"a","admin":true}`, chatIn{}, "admin"},
		{"no type", `{"content":"a"}`, chatIn{}, "type"},
		{"unknown type", `{"type":"shout","content":"a"}`, chatIn{}, "type"},
		{"no content", `{"type":"chat"}`, chatIn{}, "content"},
		{"null content", `{"type":"chat","content":null}`, chatIn{}, "content"},
		{"blank content", `{"type":"chat","content":" \t\n"}`, chatIn{}, "content"},
		{"content not a string", `{"type":"chat","content":1}`, chatIn{}, "content"},
		// A closing bracket after the object is not JSON either. dec.More()
		// reports false before ']' and '}', so these got through.
		{"trailing brace", `{"type":"chat","content":"a"}}`, chatIn{}, "body"},
		{"trailing bracket", `{"type":"typing"}]`, chatIn{}, "body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeChat([]byte(tt.data), 4096)
			if tt.field == "" {
				if err != nil || got != tt.want {
					t.Fatalf("decodeChat = %+v, %v; want %+v", got, err, tt.want)
				}
				return
			}
			var fe *fieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("decodeChat = %+v, %v; want an error about %q", got, err, tt.field)
			}
		})
	}
}
