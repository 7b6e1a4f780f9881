//go:build !whisper

package main

// The default build: the server under test is the pure-Go binary
// (CGO_ENABLED=0), without a transcription engine; see
// e2e_faults_whisper_test.go for the other side.
const (
	e2eWhisper   = false
	e2eBuildTags = ""
)
