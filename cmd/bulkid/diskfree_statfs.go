//go:build linux || darwin

package main

import "syscall"

// diskFree returns the bytes free to us on the file system holding path.
func diskFree(path string) (free uint64, ok bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, false
	}
	return uint64(st.Bavail) * uint64(st.Bsize), true
}
