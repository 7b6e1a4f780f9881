// Package media owns audio: RTP helpers, codecs, DTMF, WAV files, prompts and
// transcription. Call legs and RTP sessions themselves come from diago; this
// package holds what Frontdesk adds on top of them.
package media
