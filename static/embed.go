// Package static holds the files the browser loads as they are: Beacon's own
// script and stylesheet, and the vendored htmx 4 build with its extensions
// (copied from the npm package pinned in package.json by `./task vendor`).
package static

import "embed"

// FS holds beacon.js, beacon-paint.js, rooms.js, beacon.css, embed.css and vendor/, at those paths.
// Serve it under /static/, where views.Layout links them.
//
//go:embed beacon.js beacon-paint.js rooms.js beacon.css embed.css vendor
var FS embed.FS
