package handlers

import (
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/beacon-live/beacon/static"
)

// staticFiles serves the embedded client files, under /static/ with the
// prefix stripped. They change only with the binary, so browsers may keep
// them for an hour. Directories are not listed (404): what is there is
// the pages' business, not a visitor's.
func staticFiles() http.Handler {
	fsys := http.FileServerFS(static.FS)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The name the file server will open (it cleans the same way).
		name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
		if st, err := fs.Stat(static.FS, name); name == "" || err != nil || st.IsDir() {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fsys.ServeHTTP(w, r)
	})
}
