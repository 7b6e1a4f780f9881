//go:build !whisper

package whisper

// Available reports whether this binary can transcribe.
func Available() bool { return false }

// EngineName says which engine this binary has.
func EngineName() string { return "none (built without whisper)" }

// Load is unavailable without the whisper build tag.
func Load(path string, opts Options) (Model, error) { return nil, ErrUnavailable }
