package cliflag

import (
	"errors"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	fs := NewFlagSet("bulkid x [flags] A B", "bulkid x a b", io.Discard)
	n := fs.Int("max-uploads", 4, "")
	name := fs.String("name", "", "")
	env := map[string]string{"BULKID_MAX_UPLOADS": "9", "BULKID_NAME": "from-env"}
	pos, err := Parse(fs, []string{"a", "--name", "given", "b"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pos, []string{"a", "b"}) {
		t.Errorf("positional = %q, want [a b]", pos)
	}
	if *name != "given" {
		t.Errorf("--name = %q, want the flag given over BULKID_NAME", *name)
	}
	if *n != 9 {
		t.Errorf("--max-uploads = %d, want 9 from BULKID_MAX_UPLOADS", *n)
	}
}

func TestParseBadEnv(t *testing.T) {
	fs := NewFlagSet("bulkid x", "bulkid x", io.Discard)
	fs.Int("workers", 1, "")
	_, err := Parse(fs, nil, func(k string) string {
		if k == "BULKID_WORKERS" {
			return "many"
		}
		return ""
	})
	if err == nil || !strings.Contains(err.Error(), `BULKID_WORKERS="many"`) {
		t.Fatalf("err = %v, want one naming BULKID_WORKERS and its value", err)
	}
}

func TestUsage(t *testing.T) {
	var out strings.Builder
	fs := NewFlagSet("bulkid x [flags]", "bulkid x --n 2", &out)
	fs.Int("n", 1, "how many")
	_, err := Parse(fs, []string{"--help"}, func(string) string { return "" })
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	want := "Usage: bulkid x [flags]\n\nExample:\n  bulkid x --n 2\n\nFlags (each also read from BULKID_<FLAG>):\n"
	if !strings.HasPrefix(out.String(), want) || !strings.Contains(out.String(), "how many") {
		t.Errorf("usage = %q, want it to start %q and list the flags", out.String(), want)
	}
}
