// Package views holds Beacon's templ components and their view models. Every
// component is a pure function of its input: no I/O, no clock, no globals.
// Pages are full documents (Layout); fragments are what the live connections
// carry, always out-of-band (an element with hx-swap-oob, or an hx-partial
// with its own target), so the element holding the connection is never
// swapped. ids.go spells every DOM id, topic and event name that the server,
// the fragments and static/beacon.js must agree on.
package views
