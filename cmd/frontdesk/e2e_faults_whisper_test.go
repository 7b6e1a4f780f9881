//go:build whisper

package main

// Built with -tags whisper (in the Debian sid root, `make test-whisper`):
// the server under test is built with the transcription engine too
// (buildFrontdesk), and TestKillDuringDeposits runs it with a tiny generated
// model, so that transcription runs while the server is killed.
const (
	e2eWhisper   = true
	e2eBuildTags = "whisper"
)
