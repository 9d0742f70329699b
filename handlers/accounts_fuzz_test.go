package handlers

import (
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/beacon-live/beacon/auth"
)

// checkFieldError fails unless err is a field error with a field and a
// message, as every refusal must be.
func checkFieldError(t *testing.T, err error) {
	t.Helper()
	var fe *fieldError
	if !errors.As(err, &fe) || fe.Field == "" || fe.Message == "" {
		t.Fatalf("error %#v is not a field error with a field and a message", err)
	}
}

// FuzzDecodeNotification: no body panics the decoder; what it accepts is a
// valid user name, one line of title and body, and a link that is local or
// http(s).
func FuzzDecodeNotification(f *testing.F) {
	f.Add(ctJSON, []byte(`{"user":"ann","title":"Deployed","body":"v2","link":"/rooms/ops"}`))
	f.Add(ctForm, []byte("user=ann&title=a&link=javascript:alert(1)"))
	f.Add(ctJSON, []byte(`{"user":"ann","title":"a","link":"//evil.example"}`))
	f.Add(ctJSON, []byte(`{"user":"a b","title":"x"}`))
	f.Add(ctForm, []byte("user=ann&title=%0A"))
	f.Add(ctJSON, []byte(`{"user":"ann","title":"Build failed","body":"3 tests:\r\nTestA\nTestB\u0007"}`))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		in, err := decodeNotification(ct, body)
		if err != nil {
			checkFieldError(t, err)
			return
		}
		if checkUserName(in.User) != nil || in.Title == "" || utf8.RuneCountInString(in.Title) > maxTitleLen {
			t.Fatalf("accepted %+v", in)
		}
		for _, s := range []string{in.Title, strings.ReplaceAll(in.Body, "\n", " "), in.Link} {
			if !utf8.ValidString(s) || strings.ContainsAny(s, "\r\n\x00") {
				t.Fatalf("accepted text %q", s)
			}
		}
		if strings.Contains(in.Body, "\r") || utf8.RuneCountInString(in.Body) > maxBodyLen {
			t.Fatalf("accepted body %q", in.Body)
		}
		if in.Link != "" {
			u, err := url.Parse(in.Link)
			local := strings.HasPrefix(in.Link, "/") && !strings.HasPrefix(in.Link, "//") && err == nil && u.Host == ""
			web := err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
			if !local && !web {
				t.Fatalf("accepted link %q", in.Link)
			}
		}
	})
}

// FuzzDecodeForms: the sign-up and token forms refuse with a field error
// or accept only valid values.
func FuzzDecodeForms(f *testing.F) {
	f.Add("name=ann&password=long+enough")
	f.Add("name=ann&password=short")
	f.Add("name=a%20b&password=long+enough")
	f.Add("name=deploy&scope=notify&scope=ingest:metrics")
	f.Add("name=x&scope=admin")
	f.Add("name=%FF&password=%FF%FF%FF%FF%FF%FF%FF%FF")
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return // echo refuses these before any decoder sees them
		}
		if in, err := decodeSignup(form); err != nil {
			checkFieldError(t, err)
		} else if checkUserName(in.Name) != nil || utf8.RuneCountInString(in.Password) < 8 || len(in.Password) > 256 || !utf8.ValidString(in.Password) {
			t.Fatalf("sign-up accepted %+v", in)
		}
		if in, err := decodeTokenForm(form); err != nil {
			checkFieldError(t, err)
		} else if in.Name == "" || len(in.Scopes) == 0 {
			t.Fatalf("token form accepted %+v", in)
		} else {
			for _, s := range in.Scopes {
				if !slices.Contains(auth.AllScopes, s) {
					t.Fatalf("token form accepted scope %q", s)
				}
			}
		}
	})
}

// FuzzSafeNext: whatever ?next= holds, a sign-in goes to a path on this
// site.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/rooms/a", "//evil.example", "https://evil.example", "/\\evil.example", "/%2F%2Fevil", "javascript:x", "/a\r\nLocation: x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		u, err := url.Parse(got)
		if err != nil || !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || u.Host != "" || u.Scheme != "" ||
			strings.ContainsAny(got, "\\\r\n") {
			t.Fatalf("safeNext(%q) = %q leaves the site", next, got)
		}
	})
}
