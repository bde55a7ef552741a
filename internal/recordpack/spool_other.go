//go:build !linux

package recordpack

import "os"

// createSpool opens a named file for a spool in dir, unlinked at once
// where the system allows it.
func createSpool(dir string) (*os.File, bool, error) { return createNamedSpool(dir) }
