package auth

import (
	"fmt"
	"slices"
	"strings"
)

// Scopes an API token may carry.
const (
	ScopeMetrics  = "ingest:metrics"  // POST /api/metrics
	ScopeActivity = "ingest:activity" // POST /api/activity
	ScopeNotify   = "notify"          // POST /api/notifications
	// ScopeChat posts in rooms as the token's owner: POST
	// /api/rooms/:room/messages, and the room's JSON socket.
	ScopeChat = "chat"
	// ScopeRead follows live topics as the token's owner: GET /live (what
	// beacon tail uses).
	ScopeRead = "read"
)

// AllScopes lists every scope, in the order forms show them.
var AllScopes = []string{ScopeMetrics, ScopeActivity, ScopeNotify, ScopeChat, ScopeRead}

// NeedsAdmin reports whether only an admin's token may carry scope (and
// only an admin make one with it). Ingest writes the dashboard and the
// feed everyone shares (and takes metric slots from everyone), notify
// reaches other people. Chat and read do only what their owner does in a
// browser (post as itself, read what it may read), so any member makes
// them for itself.
func NeedsAdmin(scope string) bool {
	switch scope {
	case ScopeMetrics, ScopeActivity, ScopeNotify:
		return true
	}
	return false
}

// TokenPrefix starts every API token.
const TokenPrefix = "bcn_"

// ParseScopes reads scopes separated by commas or spaces, drops repeats
// and refuses unknown ones and an empty list.
func ParseScopes(s string) ([]string, error) {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		if !slices.Contains(AllScopes, f) {
			return nil, fmt.Errorf("unknown scope %q (scopes are %s)", f, strings.Join(AllScopes, ", "))
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("name at least one scope (%s)", strings.Join(AllScopes, ", "))
	}
	return out, nil
}
