package widget

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

var testSecret = bytes.Repeat([]byte("k"), MinSecret)

func TestSignParse(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := Claims{ID: 7, Widget: Room, Room: "lobby", Post: true, Origins: []string{"HTTP://Example.com:8080/"}, Expires: now.Add(time.Hour).Unix()}
	tok, err := Sign(testSecret, c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(testSecret, tok, now)
	if err != nil {
		t.Fatal(err)
	}
	want := c
	want.Origins = []string{"http://example.com:8080"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parsed %+v, want %+v", got, want)
	}
	if c.Origins[0] != "HTTP://Example.com:8080/" {
		t.Errorf("Sign changed the caller's origins: %q", c.Origins)
	}
	if err := got.Allows(Room, "lobby"); err != nil {
		t.Errorf("Allows(room, lobby) = %v", err)
	}
	for _, w := range [][2]string{{Room, "other"}, {Metrics, ""}, {Activity, "lobby"}} {
		if err := got.Allows(w[0], w[1]); !errors.Is(err, ErrScope) {
			t.Errorf("Allows(%s, %s) = %v, want ErrScope", w[0], w[1], err)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	good, err := Sign(testSecret, Claims{ID: 1, Widget: Metrics, Expires: now.Unix() + 60})
	if err != nil {
		t.Fatal(err)
	}
	expired, _ := Sign(testSecret, Claims{ID: 1, Widget: Metrics, Expires: now.Unix()})
	other, _ := Sign(bytes.Repeat([]byte("x"), MinSecret), Claims{ID: 1, Widget: Metrics, Expires: now.Unix() + 60})
	// Signed as Beacon signed every token before tokens had ids.
	legacy := signed(`{"w":"metrics","e":` + fmt.Sprint(now.Unix()+60) + `}`)
	negative := signed(`{"i":-1,"w":"metrics","e":` + fmt.Sprint(now.Unix()+60) + `}`)
	payload, sig, _ := strings.Cut(good, ".")
	flipped := []byte(sig)
	flipped[0] = other1(flipped[0])
	for _, tc := range []struct {
		name, token string
		want        error
	}{
		{"empty", "", ErrMissing},
		{"no dot", payload, ErrMalformed},
		{"bad base64 signature", payload + ".***", ErrMalformed},
		{"other secret", other, ErrSignature},
		{"changed signature", payload + "." + string(flipped), ErrSignature},
		{"changed payload", string(other1(payload[0])) + payload[1:] + "." + sig, ErrSignature},
		{"expired", expired, ErrExpired},
		{"huge", strings.Repeat("a", maxToken+1), ErrMalformed},
		{"no id", legacy, ErrNoID},
		{"negative id", negative, ErrMalformed},
	} {
		if _, err := Parse(testSecret, tc.token, now); !errors.Is(err, tc.want) {
			t.Errorf("%s: Parse = %v, want %v", tc.name, err, tc.want)
		}
	}
	if tok, err := Sign(testSecret, Claims{Widget: Metrics, Expires: now.Unix() + 60}); err == nil {
		t.Errorf("Sign made a token without an id, which nothing could revoke: %q", tok)
	}
}

// signed returns a token of the JSON claims js with the right signature.
func signed(js string) string {
	payload := b64(js)
	return payload + "." + b64(string(mac(testSecret, payload)))
}

func TestValidate(t *testing.T) {
	exp := int64(1)
	for _, tc := range []struct {
		c  Claims
		ok bool
	}{
		{Claims{Widget: Chart, Expires: exp}, true},
		{Claims{Widget: Room, Room: "a-b_c", Expires: exp}, true},
		{Claims{Widget: Room, Expires: exp}, false},
		{Claims{Widget: Room, Room: "no spaces", Expires: exp}, false},
		{Claims{Widget: Metrics, Room: "x", Expires: exp}, false},
		{Claims{Widget: Metrics, Post: true, Expires: exp}, false},
		{Claims{Widget: "map", Expires: exp}, false},
		{Claims{Widget: Chart}, false},
		{Claims{Widget: Chart, Expires: exp, Origins: []string{"https://ok.example"}}, true},
		{Claims{Widget: Chart, Expires: exp, Origins: []string{"*"}}, false},
		{Claims{Widget: Chart, Expires: exp, Origins: []string{"https://a.example; script-src *"}}, false},
		{Claims{Widget: Chart, Expires: exp, Origins: []string{"https://a.example 'unsafe-inline'"}}, false},
		{Claims{Widget: Chart, Expires: exp, Origins: []string{"https://*.example"}}, false},
		{Claims{Widget: Chart, Expires: exp, Origins: []string{"javascript:alert(1)"}}, false},
		{Claims{Widget: Chart, Expires: exp, Origins: []string{"https://a.example/path"}}, false},
		{Claims{ID: 3, Widget: Chart, Expires: exp}, true},
		{Claims{ID: -3, Widget: Chart, Expires: exp}, false},
	} {
		if err := tc.c.Validate(); (err == nil) != tc.ok {
			t.Errorf("Validate(%+v) = %v, want ok %v", tc.c, err, tc.ok)
		}
	}
}

// FuzzParse feeds Parse arbitrary tokens, and tokens signed with the right
// secret around arbitrary claims: it must never panic, accept only what it
// signed and only with an id (a token without one could never be revoked),
// and return claims that Validate accepts and that sign back to a token
// with the same claims.
func FuzzParse(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	seed, _ := Sign(testSecret, Claims{ID: 42, Widget: Room, Room: "lobby", Post: true, Origins: []string{"http://127.0.0.1:1"}, Expires: now.Unix() + 60})
	f.Add(seed, false)
	f.Add("", false)
	f.Add(".", true)
	f.Add(`{"w":"room","r":"x y","e":9999999999}`, true)
	f.Add(`{"w":"chart","o":["https://a; b"],"e":9999999999}`, true)
	f.Add(`{"w":"chart","e":9999999999}`, true)                         // no id: made before ids
	f.Add(`{"i":0,"w":"chart","e":9999999999}`, true)                   // id 0 spelled out
	f.Add(`{"i":-1,"w":"chart","e":9999999999}`, true)                  // negative
	f.Add(`{"i":1.5,"w":"chart","e":9999999999}`, true)                 // not a whole number
	f.Add(`{"i":"1","w":"chart","e":9999999999}`, true)                 // a string
	f.Add(`{"i":9223372036854775808,"w":"chart","e":9999999999}`, true) // past int64
	f.Add(`{"i":1,"I":2,"w":"chart","e":9999999999}`, true)             // a second spelling
	f.Fuzz(func(t *testing.T, s string, signIt bool) {
		token := s
		if signIt {
			// The payload is s as JSON: the signature is right, so only
			// the decoder and Validate stand between s and acceptance.
			token = signed(s)
		}
		c, err := Parse(testSecret, token, now)
		if err != nil {
			return
		}
		if !signIt && token != seed {
			// Accepting a token it did not sign means forging HMAC-SHA256.
			t.Fatalf("accepted a token signed by nobody: %q", token)
		}
		if c.ID <= 0 {
			t.Fatalf("accepted a token without an id: %+v", c)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted claims that Validate refuses: %+v: %v", c, err)
		}
		again, err := Sign(testSecret, c)
		if err != nil {
			t.Fatalf("cannot sign accepted claims %+v: %v", c, err)
		}
		c2, err := Parse(testSecret, again, now)
		if err != nil || !reflect.DeepEqual(c, c2) {
			t.Fatalf("claims %+v signed again parse as %+v, %v", c, c2, err)
		}
	})
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// other1 returns a base64url letter other than c.
func other1(c byte) byte {
	if c == 'A' {
		return 'B'
	}
	return 'A'
}
