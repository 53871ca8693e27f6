//go:build !linux

package guestagent

import "os"

// MakeRaw reports f as not a terminal on platforms without termios support here.
func MakeRaw(f *os.File) (bool, error) { return false, nil }
