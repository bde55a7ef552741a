package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestBenchCommand runs a short "bulkid bench" on SQLite and checks that it
// works: it exits 0 and prints a result with a median for each scenario.
// It says nothing about speed; benchmarks are not tests.
func TestBenchCommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "bench", "--runs", "1", "--scenarios", "accept-json,job-new,repeat", "--repeat-jobs", "2")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BULKID_") { // SQLite whatever the environment says
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("bulkid bench: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, name := range []string{"accept-json", "job-new", "repeat"} {
		re := regexp.MustCompile(`(?m)^` + name + `: median [0-9.]+ ms, min [0-9.]+ ms, max [0-9.]+ ms \(1 run\)$`)
		if !re.MatchString(out) {
			t.Errorf("no result line with a median for %s in:\n%s\nstderr:\n%s", name, out, stderr.String())
		}
	}
	for _, want := range []string{"machine: ", "store: kind=sqlite", "| accept-json |", "| job-new |", "| repeat |", "| … last ÷ first |"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
