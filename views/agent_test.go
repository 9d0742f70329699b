package views

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestBrowserName(t *testing.T) {
	for _, tc := range []struct{ ua, want string }{
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36", "Chrome on Linux"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.87", "Edge on Windows"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15", "Safari on macOS"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "Safari on iOS"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1", "Chrome on iOS"},
		{"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.71 Mobile Safari/537.36", "Chrome on Android"},
		{"Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36", "Samsung Internet on Android"},
		{"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0", "Firefox on Linux"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 OPR/111.0.0.0", "Opera on Windows"},
		{"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36", "Chrome on ChromeOS"},
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36", "Headless Chrome on Linux"},
		{"curl/8.5.0", "curl"},
		{"", "Unknown browser"},
		{"unknown browser", "Unknown browser"}, // what sign-in stored for an empty header
		{"Mozilla/5.0 (Windows NT 10.0)", "Unknown browser on Windows"},
		{"NotChrome/1.0", "Unknown browser"}, // a token counts only where a product starts
		{"<script>alert(1)</script>", "Unknown browser"},
	} {
		if got := BrowserName(tc.ua); got != tc.want {
			t.Errorf("BrowserName(%q) = %q, want %q", tc.ua, got, tc.want)
		}
	}
}

// FuzzBrowserName: any header gets an answer made only of the parser's own
// words, never a piece of the header.
func FuzzBrowserName(f *testing.F) {
	f.Add("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36")
	f.Add("Edg/")
	f.Add("(Edg/")
	f.Add("")
	f.Add("\xff\xfe Firefox/1")
	known := map[string]bool{"Unknown browser": true}
	for _, b := range browserTokens {
		known[b.family] = true
	}
	known["Safari"] = true
	systems := map[string]bool{}
	for _, s := range systemTokens {
		systems[s.system] = true
	}
	f.Fuzz(func(t *testing.T, ua string) {
		got := BrowserName(ua)
		family, system, _ := strings.Cut(got, " on ")
		if !known[family] || (system != "" && !systems[system]) || !utf8.ValidString(got) {
			t.Fatalf("BrowserName(%q) = %q: not made of known families and systems", ua, got)
		}
	})
}
