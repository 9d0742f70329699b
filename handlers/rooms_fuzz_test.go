package handlers

import (
	"errors"
	"strings"
	"testing"
	"unicode"
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
		// Chat keeps newlines and tabs, turns CRLF into LF, and refuses
		// every other control character, as every other field does.
		{"newline and tab", `{"type":"chat","content":"a\n\tb"}`, chatIn{"chat", "a\n\tb"}, ""},
		{"crlf", `{"type":"chat","content":"a\r\nb"}`, chatIn{"chat", "a\nb"}, ""},
		{"nul", `{"type":"chat","content":"a\u0000b"}`, chatIn{}, "content"},
		{"escape", `{"type":"chat","content":"\u001b[2Ja"}`, chatIn{}, "content"},
		{"bell", `{"type":"chat","content":"a\u0007"}`, chatIn{}, "content"},
		{"delete", `{"type":"chat","content":"a\u007fb"}`, chatIn{}, "content"},
		{"next line", `{"type":"chat","content":"a\u0085b"}`, chatIn{}, "content"},
		{"bare cr", `{"type":"chat","content":"a\rb"}`, chatIn{}, "content"},
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

// FuzzCheckContent checks the chat content check shared by both sockets and
// the widget's form: no input panics it; accepted content is non-empty,
// trimmed, valid UTF-8, within the limit, holds no control character but
// newline and tab, and passes the check again unchanged; refused content
// is a field error about "content"; and input made only of printable runs,
// spaces, tabs and line breaks (LF or CRLF) is accepted when it fits.
func FuzzCheckContent(f *testing.F) {
	for _, s := range []string{"hi", " a\r\nb\t", "a\x00b", "\x1b[2J", "a\rb", "a\u0085", "\u202eevil 12:30", "\xff", "é\n\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		const limit = 64
		out, err := checkContent(in, limit)
		if err != nil {
			var fe *fieldError
			if !errors.As(err, &fe) || fe.Field != "content" || fe.Message == "" {
				t.Fatalf("checkContent(%q): error %#v is not a field error about content", in, err)
			}
			if out != "" {
				t.Fatalf("checkContent(%q) refused it but returned %q", in, out)
			}
			plain := strings.ReplaceAll(in, "\r\n", "\n")
			fits := strings.TrimSpace(plain) != "" && len(strings.TrimSpace(plain)) <= limit && utf8.ValidString(plain)
			clean := !strings.ContainsFunc(plain, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' })
			if fits && clean {
				t.Fatalf("checkContent(%q) refused text without control characters: %v", in, err)
			}
			return
		}
		if out == "" || !utf8.ValidString(out) || len(out) > limit || strings.TrimSpace(out) != out {
			t.Fatalf("checkContent(%q) accepted %q", in, out)
		}
		for _, r := range out {
			if unicode.IsControl(r) && r != '\n' && r != '\t' {
				t.Fatalf("checkContent(%q) accepted %q with control character %U", in, out, r)
			}
		}
		if again, err := checkContent(out, limit); err != nil || again != out {
			t.Fatalf("checkContent(%q) = %q, but checking that again gives %q, %v", in, out, again, err)
		}
	})
}
