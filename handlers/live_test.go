package handlers

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// anyTopic allows every topic, so the tests below see only parseTopics's
// own bounds.
func anyTopic(string) error { return nil }

// TestParseTopicsBounds: a list is refused by its length and its number of
// entries before it is split, duplicates are dropped, and a refused list
// costs no work in proportion to its size.
func TestParseTopicsBounds(t *testing.T) {
	distinct := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf("room:r%d", i)
		}
		return strings.Join(parts, ",")
	}
	tests := []struct {
		name, list string
		want       []string
		refused    string // a word the refusal must contain
	}{
		{"one", "metrics", []string{"metrics"}, ""},
		{"duplicates dropped, order kept", "metrics, chart,metrics,chart", []string{"metrics", "chart"}, ""},
		{"sixteen", distinct(16), strings.Split(distinct(16), ","), ""},
		{"seventeen", distinct(17), nil, "16"},
		{"seventeen entries, one topic", strings.Repeat("metrics,", 16) + "metrics", nil, "16"},
		{"empty", "", nil, "at least one"},
		{"empty entry", "metrics,,chart", nil, "empty"},
		{"huge list of distinct topics", distinct(60_000), nil, "bytes"},
		{"huge list of one topic", strings.Repeat("metrics,", 100_000) + "metrics", nil, "bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseTopics(tt.list, anyTopic)
			if tt.refused == "" {
				if err != nil || strings.Join(got, ",") != strings.Join(tt.want, ",") {
					t.Fatalf("got %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			var fe *fieldError
			if !errors.As(err, &fe) || fe.Field != "topics" || !strings.Contains(fe.Message, tt.refused) {
				t.Fatalf("got %q, %v; want a refusal of topics saying %q", got, err, tt.refused)
			}
		})
	}

	// A refused 1 MB list is refused before it is split: the split alone
	// allocated ~1.6 MB (a string header per entry) before the fix.
	huge := distinct(100_000)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const calls = 10
	for range calls {
		if _, err := parseTopics(huge, anyTopic); err == nil {
			t.Fatal("a 1 MB list was accepted")
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / calls; per > 16<<10 {
		t.Fatalf("refusing a %d-byte list allocated %d bytes per call; want it refused before it is split", len(huge), per)
	}
}

// FuzzParseTopics checks the topic-list parser of /live: no input panics
// it; an accepted list has 1 to maxTopics distinct, trimmed, non-empty
// topics without commas, each of which the rule allowed; a refusal is a
// field error about topics, or the rule's own error.
func FuzzParseTopics(f *testing.F) {
	for _, s := range []string{"metrics", "metrics,chart,activity,rooms", " metrics , chart ", "metrics,,chart", ",",
		"room:lobby,presence:lobby,typing:lobby", "user:1", "metrics,metrics", strings.Repeat("a,", 16) + "a",
		strings.Repeat("x", maxTopicList+1), "\x00,\xff"} {
		f.Add(s)
	}
	errRule := errors.New("not allowed")
	rule := func(topic string) error {
		if strings.HasPrefix(topic, "no") {
			return errRule
		}
		return nil
	}
	f.Fuzz(func(t *testing.T, s string) {
		topics, err := parseTopics(s, rule)
		if err != nil {
			var fe *fieldError
			if !errors.Is(err, errRule) && (!errors.As(err, &fe) || fe.Field != "topics" || fe.Message == "") {
				t.Fatalf("error %#v is neither the rule's nor a field error about topics", err)
			}
			if topics != nil {
				t.Fatalf("refused list came with %q", topics)
			}
			return
		}
		if len(topics) < 1 || len(topics) > maxTopics || len(s) > maxTopicList {
			t.Fatalf("accepted %d topics from a %d-byte list", len(topics), len(s))
		}
		seen := map[string]bool{}
		for _, tp := range topics {
			if tp == "" || strings.TrimSpace(tp) != tp || strings.Contains(tp, ",") || seen[tp] || rule(tp) != nil || !strings.Contains(s, tp) {
				t.Fatalf("accepted topic %q of %q (all: %q)", tp, s, topics)
			}
			seen[tp] = true
		}
	})
}
