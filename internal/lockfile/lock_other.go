//go:build !unix

package lockfile

import "os"

// Lock cannot lock files on this system: callers rely on no other process
// using the same resource.
func Lock(*os.File) error { return nil }

func inode(*os.File) (uint64, bool) { return 0, false }
