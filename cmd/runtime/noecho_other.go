//go:build !linux

package main

import "os"

// noEcho cannot turn off terminal echo on this system; the password is read
// as typed.
func noEcho(*os.File) (restore func(), ok bool) { return nil, false }
