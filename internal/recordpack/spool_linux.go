//go:build linux

package recordpack

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// createSpool opens a file for a spool in dir that has no name at all
// (O_TMPFILE): however the process ends, even killed the instant after,
// nothing is left behind. Where the file system cannot do that, it falls
// back to a named file unlinked at once.
func createSpool(dir string) (f *os.File, unlinked bool, err error) {
	if dir == "" {
		dir = os.TempDir()
	}
	f, err = os.OpenFile(dir, os.O_RDWR|unix.O_TMPFILE, 0o600)
	switch {
	case err == nil:
		return f, true, nil
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT), errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.EACCES):
		return nil, false, err
	}
	return createNamedSpool(dir) // EOPNOTSUPP, EISDIR on old kernels, ...
}
