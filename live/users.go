package live

import (
	"slices"
	"strings"
)

// Users returns who holds live subscriptions: the distinct users named to
// Subscribe that start with one of prefixes (any, when none is given),
// sorted, at most limit of them, and how many match in all. It copies no
// more than it returns, so a caller may ask often; the hub's lock is held
// while it looks. This is the hub's view of who is connected to this
// instance, for lists of who is online.
func (h *Hub) Users(limit int, prefixes ...string) (users []string, total int) {
	h.mu.RLock()
	for u := range h.users {
		if len(prefixes) > 0 && !slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(u, p) }) {
			continue
		}
		total++
		switch {
		case limit <= 0:
		case len(users) < limit:
			users = append(users, u)
			if len(users) == limit {
				slices.Sort(users)
			}
		case u < users[limit-1]:
			// Keep the limit smallest: insert in order, drop the largest.
			i, _ := slices.BinarySearch(users, u)
			copy(users[i+1:], users[i:limit-1])
			users[i] = u
		}
	}
	h.mu.RUnlock()
	slices.Sort(users)
	return users, total
}

// UsersChanged returns a channel that receives a value after the set of
// users changes: a user's first live subscription starts, or their last
// ends. Changes while a value waits are coalesced into it, so a reader
// that is slow to come back reads Users once for many. It has one reader.
func (h *Hub) UsersChanged() <-chan struct{} { return h.usersChanged }

// usersChange signals UsersChanged without waiting. The caller holds h.mu.
func (h *Hub) usersChange() {
	select {
	case h.usersChanged <- struct{}{}:
	default: // one is waiting already; it covers this change too
	}
}
