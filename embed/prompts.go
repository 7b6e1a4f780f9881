package embed

import (
	"embed"
	"io/fs"
)

//go:embed prompts/*/*.wav
var prompts embed.FS

// Prompts returns the built-in voice prompts, one directory per language
// (en/NAME.wav, 8 kHz mono 16-bit PCM). embed/prompts/generate.sh makes them.
func Prompts() fs.FS {
	sub, err := fs.Sub(prompts, "prompts")
	if err != nil {
		panic(err) // the path is fixed at compile time
	}
	return sub
}
