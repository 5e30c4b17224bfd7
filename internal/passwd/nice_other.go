//go:build !linux

package passwd

// lowerThreadPriority is a no-op where threads have no priority of their
// own that a program may lower without privileges.
func lowerThreadPriority() {}
