//go:build !unix

package queue

import "os"

// lockFile cannot lock files on this system: the queue relies on no other
// process using the same directory and client ID.
func lockFile(*os.File) error { return nil }
