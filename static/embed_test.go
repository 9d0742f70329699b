package static

import (
	"encoding/json"
	"io/fs"
	"os"
	"strings"
	"testing"
)

func TestFSHoldsWhatThePagesLoad(t *testing.T) {
	for _, name := range []string{
		"beacon.js",
		"beacon-paint.js",
		"rooms.js",
		"beacon.css",
		"embed.css",
		"vendor/htmx.min.js",
		"vendor/hx-sse.min.js",
		"vendor/hx-ws.min.js",
	} {
		b, err := fs.ReadFile(FS, name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(b) == 0 {
			t.Errorf("%s is empty", name)
		}
	}
}

// TestVendoredHTMXMatchesThePin fails when package.json and static/vendor
// disagree: run `./task vendor` after changing the pin.
func TestVendoredHTMXMatchesThePin(t *testing.T) {
	raw, err := os.ReadFile("../package.json")
	if err != nil {
		t.Fatal(err)
	}
	var pkg struct {
		DevDependencies map[string]string `json:"devDependencies"`
	}
	if err := json.Unmarshal(raw, &pkg); err != nil {
		t.Fatal(err)
	}
	pin := pkg.DevDependencies["htmx.org"]
	if pin == "" || strings.ContainsAny(pin, "^~<>=* ") {
		t.Fatalf("htmx.org must be pinned to an exact version in package.json, got %q", pin)
	}
	htmx, err := fs.ReadFile(FS, "vendor/htmx.min.js")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(htmx), `version="`+pin+`"`) {
		t.Errorf("static/vendor/htmx.min.js is not htmx %s", pin)
	}
}

func TestBeaconJSHasNoInlineHTMLSinks(t *testing.T) {
	for _, name := range []string{"beacon.js", "beacon-paint.js", "rooms.js"} {
		js, err := fs.ReadFile(FS, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "eval(", "new Function", "document.write"} {
			if strings.Contains(string(js), sink) {
				t.Errorf("%s uses %s: set text, never HTML", name, sink)
			}
		}
	}
}
