package handlers

import (
	"errors"
	"math"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

const (
	ctJSON = "application/json"
	ctForm = "application/x-www-form-urlencoded"
)

func TestDecodeMetric(t *testing.T) {
	tests := []struct {
		name, ct, body string
		want           metricInput
		field          string // the field the error names; "" for success
	}{
		{"json", ctJSON, `{"name":"queue depth","value":12.5,"unit":"jobs"}`, metricInput{"queue depth", 12.5, "jobs"}, ""},
		{"json charset", ctJSON + "; charset=utf-8", `{"name":"x","value":-1}`, metricInput{"x", -1, ""}, ""},
		{"form", ctForm, "name=cpu&value=0.75&unit=%25", metricInput{"cpu", 0.75, "%"}, ""},
		{"form without content type", "", "name=cpu&value=3", metricInput{"cpu", 3, ""}, ""},
		{"trimmed", ctForm, "name=+cpu+&value=+3+", metricInput{"cpu", 3, ""}, ""},
		{"missing name", ctJSON, `{"value":1}`, metricInput{}, "name"},
		{"missing value", ctJSON, `{"name":"x"}`, metricInput{}, "value"},
		{"value not a number", ctForm, "name=x&value=abc", metricInput{}, "value"},
		{"value NaN", ctForm, "name=x&value=NaN", metricInput{}, "value"},
		{"value Inf", ctForm, "name=x&value=%2BInf", metricInput{}, "value"},
		{"value string in JSON", ctJSON, `{"name":"x","value":"1"}`, metricInput{}, "value"},
		{"name too long", ctJSON, `{"name":"` + strings.Repeat("a", 65) + `","value":1}`, metricInput{}, "name"},
		{"name with markup", ctJSON, `{"name":"<b>x</b>","value":1}`, metricInput{}, "name"},
		{"name with newline", ctForm, "name=a%0Ab&value=1", metricInput{}, "name"},
		{"unit with control", ctForm, "name=a&value=1&unit=k%0Dg", metricInput{}, "unit"},
		{"unit too long", ctForm, "name=a&value=1&unit=" + strings.Repeat("u", 17), metricInput{}, "unit"},
		{"unknown field", ctJSON, `{"name":"x","vaule":1}`, metricInput{}, "vaule"},
		{"malformed JSON", ctJSON, `{"name":`, metricInput{}, "body"},
		{"two objects", ctJSON, `{"name":"x","value":1}{}`, metricInput{}, "body"},
		{"empty JSON", ctJSON, ``, metricInput{}, "body"},
		{"other media type", "text/plain", "x", metricInput{}, "Content-Type"},
		{"broken media type", "a/b; =", "x", metricInput{}, "Content-Type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeMetric(tt.ct, []byte(tt.body))
			checkDecoded(t, got, tt.want, err, tt.field)
		})
	}
}

func TestDecodeActivity(t *testing.T) {
	tests := []struct {
		name, ct, body string
		want           activityInput
		field          string
	}{
		{"json", ctJSON, `{"text":"Deployed v1.2","link":"https://example.com/r/1"}`, activityInput{"Deployed v1.2", "https://example.com/r/1"}, ""},
		{"form", ctForm, "text=Backup+done", activityInput{"Backup done", ""}, ""},
		{"markup is text", ctJSON, `{"text":"<script>alert(1)</script>"}`, activityInput{"<script>alert(1)</script>", ""}, ""},
		{"missing text", ctJSON, `{"link":"https://x.y"}`, activityInput{}, "text"},
		{"blank text", ctForm, "text=+++", activityInput{}, "text"},
		{"text too long", ctForm, "text=" + strings.Repeat("é", 501), activityInput{}, "text"},
		{"SSE-breaking text", ctJSON, `{"text":"a\n\ndata: x"}`, activityInput{}, "text"},
		{"carriage return", ctJSON, `{"text":"a\rb"}`, activityInput{}, "text"},
		{"invalid UTF-8", ctForm, "text=%FF", activityInput{}, "text"},
		{"javascript link", ctJSON, `{"text":"x","link":"javascript:alert(1)"}`, activityInput{}, "link"},
		{"relative link", ctJSON, `{"text":"x","link":"/admin"}`, activityInput{}, "link"},
		{"text not a string", ctJSON, `{"text":5}`, activityInput{}, "text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeActivity(tt.ct, []byte(tt.body))
			checkDecoded(t, got, tt.want, err, tt.field)
		})
	}
}

func checkDecoded[T comparable](t *testing.T, got, want T, err error, field string) {
	t.Helper()
	if field == "" {
		if err != nil {
			t.Fatalf("error %v, want none", err)
		}
		if got != want {
			t.Fatalf("got %+v, want %+v", got, want)
		}
		return
	}
	var fe *fieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v, want a field error about %q", err, field)
	}
	if fe.Field != field || fe.Message == "" {
		t.Fatalf("error about %q (%q), want one about %q", fe.Field, fe.Message, field)
	}
}

// FuzzDecodeMetric checks that no body panics the decoder, and that whatever
// it accepts satisfies every rule the dashboard relies on.
func FuzzDecodeMetric(f *testing.F) {
	f.Add(ctJSON, []byte(`{"name":"cpu","value":1.5,"unit":"%"}`))
	f.Add(ctForm, []byte("name=cpu&value=1e308&unit=x"))
	f.Add(ctForm, []byte("name=a%0Ab&value=1"))
	f.Add(ctJSON, []byte(`{"name":"\u0000","value":1}`))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		in, err := decodeMetric(ct, body)
		if err != nil {
			var fe *fieldError
			if !errors.As(err, &fe) || fe.Field == "" || fe.Message == "" {
				t.Fatalf("error %v is not a field error with a message", err)
			}
			return
		}
		if checkName(in.Name) != nil || math.IsNaN(in.Value) || math.IsInf(in.Value, 0) {
			t.Fatalf("accepted invalid metric %+v", in)
		}
		if !utf8.ValidString(in.Unit) || utf8.RuneCountInString(in.Unit) > maxUnitLen || strings.ContainsAny(in.Unit, "\r\n\x00") {
			t.Fatalf("accepted invalid unit %q", in.Unit)
		}
	})
}

// FuzzDecodeActivity checks that no body panics the decoder, and that
// accepted text is one line of valid UTF-8 and accepted links are http(s).
func FuzzDecodeActivity(f *testing.F) {
	f.Add(ctJSON, []byte(`{"text":"Deployed","link":"https://example.com"}`))
	f.Add(ctForm, []byte("text=a&link=javascript:alert(1)"))
	f.Add(ctJSON, []byte(`{"text":"a\r\nb"}`))
	f.Add("", []byte("text=%3Cscript%3E"))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		in, err := decodeActivity(ct, body)
		if err != nil {
			var fe *fieldError
			if !errors.As(err, &fe) || fe.Field == "" || fe.Message == "" {
				t.Fatalf("error %v is not a field error with a message", err)
			}
			return
		}
		if in.Text == "" || !utf8.ValidString(in.Text) || strings.ContainsAny(in.Text, "\r\n\x00") {
			t.Fatalf("accepted invalid text %q", in.Text)
		}
		if in.Link != "" {
			u, err := url.Parse(in.Link)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
				t.Fatalf("accepted link %q", in.Link)
			}
		}
	})
}
