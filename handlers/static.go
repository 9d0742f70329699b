package handlers

import (
	"net/http"

	"github.com/beacon-live/beacon/static"
)

// staticFiles serves the embedded client files. They change only with the
// binary, so browsers may keep them for an hour.
func staticFiles() http.Handler {
	fs := http.FileServerFS(static.FS)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fs.ServeHTTP(w, r)
	})
}
