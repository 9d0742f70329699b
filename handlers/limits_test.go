package handlers

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// TestClientIP: behind a trusted proxy the client's address is the entry
// ProxyHops from the right of every line of the header, read as one list;
// anything a client could have written further left is ignored, and a
// header that is missing, too short or malformed falls back to the socket's
// address (the proxy's).
func TestClientIP(t *testing.T) {
	const socket = "10.0.0.9:5555"
	tests := []struct {
		name   string
		header string // empty: no proxy header configured
		hops   int
		lines  []string
		want   string
	}{
		{"no proxy configured", "", 0, []string{"1.2.3.4"}, "10.0.0.9"},
		{"no header", "X-Forwarded-For", 1, nil, "10.0.0.9"},
		{"one line, one entry", "X-Forwarded-For", 1, []string{"1.2.3.4"}, "1.2.3.4"},
		{"client's claim before the proxy's entry", "X-Forwarded-For", 1, []string{"6.6.6.6, 1.2.3.4"}, "1.2.3.4"},
		{"proxy appends a line", "X-Forwarded-For", 1, []string{"6.6.6.6", "1.2.3.4"}, "1.2.3.4"},
		{"proxy appends a line after a list", "X-Forwarded-For", 1, []string{"6.6.6.6, 7.7.7.7", "1.2.3.4"}, "1.2.3.4"},
		{"hops 0 is 1", "X-Forwarded-For", 0, []string{"6.6.6.6", "1.2.3.4"}, "1.2.3.4"},
		{"two proxies", "X-Forwarded-For", 2, []string{"6.6.6.6, 1.2.3.4", "10.0.0.1"}, "1.2.3.4"},
		{"two proxies, one line each", "X-Forwarded-For", 2, []string{"6.6.6.6", "1.2.3.4", "10.0.0.1"}, "1.2.3.4"},
		{"fewer entries than hops", "X-Forwarded-For", 3, []string{"1.2.3.4, 10.0.0.1"}, "10.0.0.9"},
		{"malformed entry", "X-Forwarded-For", 1, []string{"1.2.3.4, not-an-address"}, "10.0.0.9"},
		{"empty entry", "X-Forwarded-For", 1, []string{"1.2.3.4,"}, "10.0.0.9"},
		{"with a port", "X-Forwarded-For", 1, []string{"1.2.3.4:8080"}, "1.2.3.4"},
		{"IPv6, by /64", "X-Forwarded-For", 1, []string{"2001:db8:1:2:3:4:5:6"}, "2001:db8:1:2::/64"},
		{"IPv6 with a port", "X-Forwarded-For", 1, []string{"[2001:db8:1:2::9]:80"}, "2001:db8:1:2::/64"},
		{"X-Real-IP", "X-Real-IP", 1, []string{"1.2.3.4"}, "1.2.3.4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = socket
			for _, v := range tt.lines {
				r.Header.Add("X-Forwarded-For", v)
				r.Header.Add("X-Real-IP", v)
			}
			l := Limits{ProxyHeader: tt.header, ProxyHops: tt.hops}
			if got := l.clientIP(r); got != tt.want {
				t.Fatalf("clientIP = %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzForwardedAddr checks the reader of --proxy-header: no input panics
// it; it answers the entry hops from the right of the lines read as one
// comma-separated list when that entry is an address (with or without a
// port), and nothing otherwise.
func FuzzForwardedAddr(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "6.6.6.6, 1.2.3.4", "6.6.6.6\n1.2.3.4", "1.2.3.4,", ",", "", "[::1]:80, 10.0.0.1:5",
		"not-an-address", "2001:db8::1%eth0", "\xff,1.2.3.4"} {
		f.Add(s, uint8(1))
		f.Add(s, uint8(2))
	}
	f.Fuzz(func(t *testing.T, header string, hops uint8) {
		if hops == 0 {
			return
		}
		lines := strings.Split(header, "\n")
		ip, ok := forwardedAddr(lines, int(hops))
		entries := strings.Split(strings.Join(lines, ","), ",")
		if len(entries) < int(hops) {
			if ok {
				t.Fatalf("%q, hops %d: got %v from fewer entries than hops", header, hops, ip)
			}
			return
		}
		entry := strings.TrimSpace(entries[len(entries)-int(hops)])
		want, err := netip.ParseAddr(entry)
		if ap, perr := netip.ParseAddrPort(entry); perr == nil {
			want, err = ap.Addr(), nil
		}
		if ok != (err == nil) || (ok && ip != want) {
			t.Fatalf("%q, hops %d: got %v, %v; the entry is %q", header, hops, ip, ok, entry)
		}
	})
}
