package views

import "strings"

// BrowserName describes a User-Agent header for people: "Chrome on Linux",
// "Safari on iOS", "Firefox" (no known system), "Unknown browser on
// Windows", or "Unknown browser". It knows the common browser families and
// systems by their tokens, and nothing else: a header is whatever a client
// sends, so the answer only ever names a family from its own list.
func BrowserName(ua string) string {
	family, system := browserFamily(ua), operatingSystem(ua)
	switch {
	case family == "" && system == "":
		return "Unknown browser"
	case family == "":
		return "Unknown browser on " + system
	case system == "":
		return family
	}
	return family + " on " + system
}

// browserTokens are the product tokens of browser families, in the order
// they are looked for: a browser built on another names both (Edge says
// "Chrome/… Safari/… Edg/…"; Chrome says "Safari/…"), so the more specific
// token comes first. A token matches only at the start of a product
// ("Edg/" not in "HeadlessEdg/").
var browserTokens = []struct{ token, family string }{
	{"Edg/", "Edge"}, {"EdgA/", "Edge"}, {"EdgiOS/", "Edge"}, {"Edge/", "Edge"},
	{"OPR/", "Opera"}, {"OPT/", "Opera"}, {"Opera/", "Opera"},
	{"SamsungBrowser/", "Samsung Internet"},
	{"Vivaldi/", "Vivaldi"},
	{"YaBrowser/", "Yandex Browser"},
	{"Firefox/", "Firefox"}, {"FxiOS/", "Firefox"},
	{"CriOS/", "Chrome"},
	{"HeadlessChrome/", "Headless Chrome"},
	{"Chromium/", "Chromium"},
	{"Chrome/", "Chrome"},
	{"curl/", "curl"},
	{"Wget/", "Wget"},
}

// browserFamily is the browser family of ua, or "".
func browserFamily(ua string) string {
	for _, b := range browserTokens {
		if hasProduct(ua, b.token) {
			return b.family
		}
	}
	// Safari names itself only by "Version/… Safari/…"; so do others
	// (Android's old WebView), which then named themselves above.
	if hasProduct(ua, "Safari/") && hasProduct(ua, "Version/") {
		return "Safari"
	}
	return ""
}

// hasProduct reports whether token starts a product of ua: at its start or
// after a space, a parenthesis or a semicolon.
func hasProduct(ua, token string) bool {
	for i := 0; ; {
		j := strings.Index(ua[i:], token)
		if j < 0 {
			return false
		}
		at := i + j
		if at == 0 || strings.ContainsRune(" (;", rune(ua[at-1])) {
			return true
		}
		i = at + 1
	}
}

// systemTokens are the tokens of operating systems, in the order they are
// looked for: Android says "Linux; Android", ChromeOS "X11; CrOS", iPhones
// "like Mac OS X".
var systemTokens = []struct{ token, system string }{
	{"Windows", "Windows"},
	{"Android", "Android"},
	{"iPhone", "iOS"}, {"iPad", "iPadOS"}, {"iPod", "iOS"},
	{"CrOS", "ChromeOS"},
	{"Macintosh", "macOS"}, {"Mac OS X", "macOS"},
	{"Linux", "Linux"},
	{"FreeBSD", "FreeBSD"}, {"OpenBSD", "OpenBSD"},
}

// operatingSystem is the operating system of ua, or "".
func operatingSystem(ua string) string {
	for _, s := range systemTokens {
		if strings.Contains(ua, s.token) {
			return s.system
		}
	}
	return ""
}
