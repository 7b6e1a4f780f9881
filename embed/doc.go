// Package embed holds the assets compiled into the binary: web pages, scripts
// and styles, and voice prompts, so Frontdesk runs offline from one file.
package embed
