//go:build !(linux || darwin)

package main

// diskFree does not know the free space on this system.
func diskFree(path string) (free uint64, ok bool) { return 0, false }
