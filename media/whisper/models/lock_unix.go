//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package models

import (
	"errors"
	"os"
	"syscall"
)

// lockFile takes an exclusive lock on path (the models directory) without
// waiting, so that two pulls never write the same partial file. The lock
// goes with the process: nothing is left behind by a crash.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrBusy
		}
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
