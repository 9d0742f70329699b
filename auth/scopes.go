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
)

// AllScopes lists every scope, in the order forms show them.
var AllScopes = []string{ScopeMetrics, ScopeActivity, ScopeNotify}

// NeedsAdmin reports whether only an admin's token may carry scope (and
// only an admin make one with it). Every scope today does: ingest writes
// the dashboard and the feed everyone shares (and takes metric slots from
// everyone), notify reaches other people.
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
