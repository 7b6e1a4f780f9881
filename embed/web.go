package embed

import (
	"embed"
	"io/fs"
)

//go:embed web
var web embed.FS

// Web returns the web UI's assets: templates/ (html/template pages, each
// rendered inside templates/layout.html) and static/ (our own scripts and
// styles, served under /static/; nothing comes from a CDN).
func Web() fs.FS {
	sub, err := fs.Sub(web, "web")
	if err != nil {
		panic(err) // the path is fixed at compile time
	}
	return sub
}
