// Package cliflag parses the flags of bulkid's commands: flags may come
// before and after positional arguments, and each flag not given is read
// from the environment variable BULKID_<FLAG>.
package cliflag

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// NewFlagSet returns a flag set that prints its usage with an example.
func NewFlagSet(name, example string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s\n\nExample:\n  %s\n\nFlags (each also read from BULKID_<FLAG>):\n", name, example)
		fs.PrintDefaults()
	}
	return fs
}

// Parse parses args with flags allowed before and after positional
// arguments, then fills each flag not given from BULKID_<NAME> (dashes as
// underscores). It returns the positional arguments.
func Parse(fs *flag.FlagSet, args []string, getenv func(string) string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		env := "BULKID_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(env); v != "" {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s=%q: %v", env, v, serr)
			}
		}
	})
	return pos, err
}
