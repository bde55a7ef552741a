// Package migration reads a store's embedded schema migrations and decides
// which to apply: the part both stores share. Each store applies the steps
// in its own transactions.
package migration

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Step is one migration: a file NNNN_name.sql.
type Step struct {
	Version int
	Name    string
	SQL     string
}

// Load reads the *.sql files in dir of fsys, ordered by version.
func Load(fsys fs.FS, dir string) ([]Step, error) {
	names, err := fs.Glob(fsys, dir+"/*.sql")
	if err != nil {
		return nil, err
	}
	steps := make([]Step, 0, len(names))
	for _, name := range names {
		base := path.Base(name)
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s does not start with a version number", base)
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		steps = append(steps, Step{Version: v, Name: base, SQL: string(body)})
	}
	sort.Slice(steps, func(i, j int) bool { return steps[i].Version < steps[j].Version })
	return steps, nil
}

// Latest is the version of the last of steps (0 if none).
func Latest(steps []Step) int {
	if len(steps) == 0 {
		return 0
	}
	return steps[len(steps)-1].Version
}

// Pending returns the steps after the schema version current, and refuses a
// schema newer than the last step: an older binary must not run on it.
func Pending(steps []Step, current int) ([]Step, error) {
	latest := Latest(steps)
	if current > latest {
		return nil, fmt.Errorf("the database schema is version %d but this bulkid knows only up to %d; run a newer bulkid", current, latest)
	}
	i := sort.Search(len(steps), func(i int) bool { return steps[i].Version > current })
	return steps[i:], nil
}
