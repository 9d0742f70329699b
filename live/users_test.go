package live

import (
	"slices"
	"testing"
)

// Users lists who holds subscriptions, by prefix, sorted and bounded, and
// UsersChanged says when that set changes: a person's first subscription
// and their last one, not the ones between, and never an anonymous one.
func TestHubUsers(t *testing.T) {
	h := newTestHub(t, HubConfig{})
	changed := func() bool {
		select {
		case <-h.UsersChanged():
			return true
		default:
			return false
		}
	}
	check := func(when string, prefixes []string, limit int, want []string, wantTotal int) {
		t.Helper()
		got, total := h.Users(limit, prefixes...)
		if !slices.Equal(got, want) || total != wantTotal {
			t.Errorf("%s: Users(%d, %q) = %q, %d; want %q, %d", when, limit, prefixes, got, total, want, wantTotal)
		}
	}
	if changed() {
		t.Error("a new hub says its users changed")
	}
	ann1 := h.Subscribe([]string{"s:x"}, "user:1")
	if !changed() {
		t.Error("ann's first subscription did not change the users")
	}
	ann2 := h.Subscribe([]string{"s:y"}, "user:1")
	anon := h.Subscribe([]string{"s:x"}, "")
	if changed() {
		t.Error("ann's second subscription, or an anonymous one, changed the users")
	}
	sam := h.Subscribe([]string{"s:x"}, "guest:sam")
	visitor := h.Subscribe([]string{"s:x"}, "0123456789abcdef01234567")
	bob := h.Subscribe([]string{"s:x"}, "user:2")
	if !changed() || changed() {
		t.Error("three new users did not change the users once (the changes coalesce while nobody reads)")
	}
	check("four users", []string{"user:", "guest:"}, 10, []string{"guest:sam", "user:1", "user:2"}, 3)
	check("bounded", []string{"user:", "guest:"}, 2, []string{"guest:sam", "user:1"}, 3)
	check("every user", nil, 10, []string{"0123456789abcdef01234567", "guest:sam", "user:1", "user:2"}, 4)

	h.Unsubscribe(ann1)
	if changed() {
		t.Error("ann's first subscription ended while she has another: the users changed")
	}
	h.Unsubscribe(ann2)
	h.Unsubscribe(anon)
	if !changed() {
		t.Error("ann's last subscription ended: the users did not change")
	}
	check("ann left", []string{"user:"}, 10, []string{"user:2"}, 1)
	h.Unsubscribe(sam)
	h.Unsubscribe(visitor)
	h.Unsubscribe(bob)
	check("everyone left", nil, 10, nil, 0)
}
