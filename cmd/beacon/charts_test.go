package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/beacon-live/beacon/db"
)

// TestDeleteSeries: only an admin deletes a posted metric's series, with
// the form's CSRF token; its samples leave the database, and the series
// every dashboard and its own page, live.
func TestDeleteSeries(t *testing.T) {
	in := start(t, "", "", "--dashboard", "members")
	ann := signUp(t, in.URL, "ann") // the first account: an admin
	bob := signUp(t, in.URL, "bob")
	for _, name := range []string{"disk/used", "queue depth"} {
		if status, body := apiPost(t, in.URL, "/api/metrics", testToken, map[string]any{"name": name, "value": 3, "unit": "GB"}); status != http.StatusCreated {
			t.Fatalf("posting %s: %d %s", name, status, body)
		}
	}
	const page = "/charts/disk%2Fused"
	memberPage, status := get(t, bob.C, in.URL+page)
	if status != http.StatusOK || !strings.Contains(memberPage, `data-series="disk/used"`) || strings.Contains(memberPage, `/delete"`) {
		t.Fatalf("a member's page of disk/used: %d, chart %v, delete form %v; want 200, a chart, no form", status,
			strings.Contains(memberPage, `data-series="disk/used"`), strings.Contains(memberPage, `/delete"`))
	}
	adminPage, _ := get(t, ann.C, in.URL+page)
	if !strings.Contains(adminPage, `action="/charts/disk%2Fused/delete"`) {
		t.Fatalf("the admin's page has no delete form:\n%.2000s", adminPage)
	}

	// A member's dashboard, live on the 5-minute chart.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	st, err := dialSSE(ctx, bob.C, liveURL(in.URL, "chart:5m"), "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	del := in.URL + page + "/delete"
	refusals := []struct {
		who    string
		c      *http.Client
		form   url.Values
		status int
	}{
		{"a member", bob.C, url.Values{"_csrf": {bob.CSRF}}, http.StatusForbidden},
		{"the admin without the CSRF token", ann.C, nil, http.StatusForbidden},
		{"the admin with the member's CSRF token", ann.C, url.Values{"_csrf": {bob.CSRF}}, http.StatusForbidden},
		{"a signed-out browser", newJar(t), url.Values{"_csrf": {bob.CSRF}}, http.StatusUnauthorized},
	}
	for _, r := range refusals {
		if resp, body := postForm(t, r.c, del, r.form); resp.StatusCode != r.status {
			t.Errorf("%s deleting: %d %.200s; want %d", r.who, resp.StatusCode, body, r.status)
		}
		if _, status := get(t, bob.C, in.URL+page); status != http.StatusOK {
			t.Fatalf("after %s tried, the page: %d; want the series still there", r.who, status)
		}
	}
	if resp, body := postForm(t, bob.C, del, url.Values{"_csrf": {bob.CSRF}}); !strings.Contains(body, "admin") {
		t.Errorf("a member's refusal does not say who may: %d %.200s", resp.StatusCode, body)
	}

	resp, body := postForm(t, ann.C, del, url.Values{"_csrf": {ann.CSRF}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("the admin deleting: %d %s %.200s; want 303 to /", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	for {
		b, err := st.NextEvent()
		if err != nil {
			t.Fatalf("the member's chart stream ended: %v", err)
		}
		if strings.Contains(b.Data, `data-series="queue depth"`) && !strings.Contains(b.Data, `data-series="disk/used"`) {
			break // the chart without the deleted series, pushed live
		}
	}
	if _, status := get(t, bob.C, in.URL+page); status != http.StatusNotFound {
		t.Errorf("the deleted series' page: %d, want 404", status)
	}
	if dash, _ := get(t, bob.C, in.URL+"/"); strings.Contains(dash, "disk/used") || !strings.Contains(dash, `data-series="queue depth"`) {
		t.Error("the member's dashboard still shows the deleted series, or lost the other one")
	}
	store, err := db.Open(t.Context(), in.DB, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	samples, err := store.SamplesSince(t.Context(), time.Now().Add(-time.Hour))
	store.Close()
	if err != nil || len(samples) != 1 || samples[0].Name != "queue depth" {
		t.Errorf("samples left in the database: %v, %v; want queue depth's only", samples, err)
	}
	if resp, _ := postForm(t, ann.C, in.URL+"/charts/nothing/delete", url.Values{"_csrf": {ann.CSRF}}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("deleting a metric nobody posted: %d, want 404", resp.StatusCode)
	}
}

// TestChartRoutesRefuseBadInput: a range that is not one, a name a metric
// cannot have, and chart topics a reader may not read are refused, each
// naming what is wrong.
func TestChartRoutesRefuseBadInput(t *testing.T) {
	in := start(t, "", "", "--dashboard", "members")
	signUp(t, in.URL, "ann")
	bob := signUp(t, in.URL, "bob")
	if status, body := apiPost(t, in.URL, "/api/metrics", testToken, map[string]any{"name": "queue depth", "value": 3}); status != http.StatusCreated {
		t.Fatalf("posting: %d %s", status, body)
	}
	for _, tc := range []struct {
		path   string
		status int
		says   string
	}{
		{"/?range=7d", http.StatusBadRequest, "range"},
		{"/charts/queue%20depth?range=7d", http.StatusBadRequest, "range"},
		{"/charts/queue%20depth?range=1h", http.StatusOK, "Last hour"},
		{"/?range=24h", http.StatusOK, "Last 24 hours"},
		{"/charts/a%3Cb", http.StatusBadRequest, "name"},
		{"/charts/queue", http.StatusNotFound, "no metric named queue"},
	} {
		page, status := get(t, bob.C, in.URL+tc.path)
		if status != tc.status || !strings.Contains(page, tc.says) {
			t.Errorf("GET %s: %d, %q in the page %v; want %d saying %q", tc.path, status, tc.says, strings.Contains(page, tc.says), tc.status, tc.says)
		}
	}
	if resp, _ := fetchPage(t, noRedirects(newJar(t)), in.URL+"/charts/queue%20depth"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("signed out, a metric's page: %d, want 303 to sign in", resp.StatusCode)
	}
	for _, tc := range []struct {
		topics string
		status int
	}{
		{"chart:1h", http.StatusOK},
		{"chart:24h:queue depth", http.StatusOK},
		{"server-chart:5m", http.StatusForbidden},
		{"chart:7d", http.StatusNotFound},
		{"chart:5m:a<b", http.StatusNotFound},
		{"server-chart:5m:queue depth", http.StatusNotFound},
	} {
		if resp, body := peek(t, bob.C, liveURL(in.URL, tc.topics)); resp.StatusCode != tc.status {
			t.Errorf("a member reading %s: %d %.200s; want %d", tc.topics, resp.StatusCode, body, tc.status)
		}
	}
}
