package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestStartServeStop(t *testing.T) {
	in := start(t, "", "")
	resp, err := http.Get(in.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"ok"`) {
		t.Fatalf("healthz: %d %s", resp.StatusCode, body)
	}
	in.Stop(t)
}

func TestHelpListsEverySetting(t *testing.T) {
	var out strings.Builder
	if err := run(t.Context(), []string{"--help"}, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, s := range settings(&config{}) {
		if !strings.Contains(out.String(), "-"+s.flag) || !strings.Contains(out.String(), s.env) {
			t.Errorf("--help does not list -%s / %s:\n%s", s.flag, s.env, out.String())
		}
	}
}

func TestConfigFromEnvironmentAndFlags(t *testing.T) {
	env := map[string]string{"BEACON_ADDR": "127.0.0.1:9999", "BEACON_DB": "env.db", "BEACON_TICK": "2s"}
	c, err := newConfig([]string{"--db", "flag.db"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:9999" || c.DB != "flag.db" || c.Tick.String() != "2s" {
		t.Fatalf("config = %+v: want addr from env, db from flag (flags win), tick from env", c)
	}
	if _, err := newConfig(nil, func(k string) string {
		if k == "BEACON_QUEUE" {
			return "many"
		}
		return ""
	}, io.Discard); err == nil || !strings.Contains(err.Error(), "BEACON_QUEUE") {
		t.Fatalf("bad BEACON_QUEUE gave %v, want an error naming it", err)
	}
}
