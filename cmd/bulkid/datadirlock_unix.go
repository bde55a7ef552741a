//go:build unix

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDataDir takes the lock that lets one `bulkid serve` at a time use a
// SQLite data directory, and holds it until the process exits (a crash
// included: the kernel drops it). Holding it, the server knows no other
// process runs jobs on the database, so it may give back at once the
// leases a crashed run left, instead of waiting them out.
func lockDataDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create --data-dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "serve.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another bulkid serve is using --data-dir %s: one server per SQLite data directory (several processes share a PostgreSQL database instead, see --database-url)", dir)
		}
		return nil, fmt.Errorf("lock --data-dir %s: %w", dir, err)
	}
	return f, nil
}
