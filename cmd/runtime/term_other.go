//go:build !linux

package main

import "os"

// isTerminal cannot tell a terminal on this system; logs stay plain.
func isTerminal(*os.File) bool { return false }
