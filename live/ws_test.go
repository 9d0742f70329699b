package live

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// TestAppendTextFrame checks the three length encodings of RFC 6455 5.2 at
// their edges; the room tests exercise the frames against a real client.
func TestAppendTextFrame(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 70000} {
		payload := bytes.Repeat([]byte{'x'}, n)
		got := appendTextFrame([]byte("prefix"), payload)
		got, ok := bytes.CutPrefix(got, []byte("prefix"))
		if !ok || got[0] != 0x81 {
			t.Fatalf("n=%d: frame starts %x, want prefix kept and 0x81 (FIN, text)", n, got[:min(len(got), 2)])
		}
		var length uint64
		var rest []byte
		switch l := got[1]; {
		case l&0x80 != 0:
			t.Fatalf("n=%d: mask bit set; a server never masks", n)
		case l < 126:
			length, rest = uint64(l), got[2:]
		case l == 126:
			length, rest = uint64(binary.BigEndian.Uint16(got[2:4])), got[4:]
			if length < 126 {
				t.Fatalf("n=%d: 16-bit length %d should have been 7-bit", n, length)
			}
		default:
			length, rest = binary.BigEndian.Uint64(got[2:10]), got[10:]
			if length <= 0xFFFF {
				t.Fatalf("n=%d: 64-bit length %d should have been shorter", n, length)
			}
		}
		if length != uint64(n) || !bytes.Equal(rest, payload) {
			t.Fatalf("n=%d: length %d and %d payload bytes", n, length, len(rest))
		}
	}
}
