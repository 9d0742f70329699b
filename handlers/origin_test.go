package handlers

import (
	"strings"
	"testing"
)

func TestParsePublicURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://beacon.example.com", "https://beacon.example.com"},
		{"HTTPS://Beacon.Example.com:443/", "https://beacon.example.com"},
		{"http://beacon.example.com:80", "http://beacon.example.com"},
		{"https://beacon.example.com:80", "https://beacon.example.com:80"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"https://[::1]:443", "https://[::1]"},
		{"https://[::1]:8443/", "https://[::1]:8443"},
		{" https://beacon.example.com ", "https://beacon.example.com"},
		{"beacon.example.com", ""},
		{"ftp://beacon.example.com", ""},
		{"https://", ""},
		{"https://:443", ""},
		{"https://beacon.example.com/beacon", ""},
		{"https://beacon.example.com/?a=1", ""},
		{"https://beacon.example.com/#top", ""},
		{"https://ann:pw@beacon.example.com", ""},
		{"", ""},
	} {
		got, err := ParsePublicURL(tc.in)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("ParsePublicURL(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		if err != nil && !strings.Contains(err.Error(), "e.g. https://") {
			t.Errorf("ParsePublicURL(%q): error %q does not say what to write", tc.in, err)
		}
	}
}

func TestCanonicalOrigin(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://beacon.example.com", "https://beacon.example.com"},
		{"https://beacon.example.com:443", "https://beacon.example.com"},
		{"HTTP://Beacon.example.com:8080", "http://beacon.example.com:8080"},
		{"null", ""},
		{"https://beacon.example.com/", ""}, // browsers never send a path
		{"file://", ""},
		{"", ""},
	} {
		if got := canonicalOrigin(tc.in); got != tc.want {
			t.Errorf("canonicalOrigin(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct {
		host string
		want bool
	}{
		{"127.0.0.1:8080", true}, {"[::1]:8080", true}, {"::1", true}, {"localhost", true}, {"localhost:8080", true},
		{"10.0.0.5", true}, {"beacon.example.com", false}, {"127.0.0.1.nip.io:8080", false}, {"", false},
	} {
		if got := isAddressHost(tc.host); got != tc.want {
			t.Errorf("isAddressHost(%q) = %v, want %v", tc.host, got, tc.want)
		}
	}
}

// FuzzParsePublicURL checks the public URL's parser: no input panics it; an
// accepted URL is an origin that parses to itself, reads as itself in an
// Origin header, and names a host a Host header can carry.
func FuzzParsePublicURL(f *testing.F) {
	for _, s := range []string{"https://beacon.example.com", "HTTP://A:80/", "https://[::1]:443", "https://a/b", "null", "http://a b", "https://%41"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParsePublicURL(s)
		if err != nil {
			if u != "" {
				t.Fatalf("ParsePublicURL(%q) refused it but returned %q", s, u)
			}
			return
		}
		if again, err := ParsePublicURL(u); err != nil || again != u {
			t.Fatalf("ParsePublicURL(%q) = %q, which parses as %q, %v", s, u, again, err)
		}
		if o := canonicalOrigin(u); o != u {
			t.Fatalf("ParsePublicURL(%q) = %q, but as an Origin it reads %q", s, u, o)
		}
		if h := (Site{PublicURL: u}).host(); h == "" || strings.ContainsAny(h, "/ ") {
			t.Fatalf("ParsePublicURL(%q) = %q, whose host is %q", s, u, h)
		}
	})
}
