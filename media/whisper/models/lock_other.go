//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package models

// lockFile is a no-op where flock is not available.
func lockFile(string) (func(), error) { return func() {}, nil }
