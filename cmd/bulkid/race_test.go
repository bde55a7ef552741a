//go:build race

package main

// Under -race the server binary the black-box tests start is built with
// the race detector too, so races in the server fail the tests.
func init() { buildFlags = append(buildFlags, "-race") }
