package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/sqlite"
)

// apps runs "bulkid apps ARGS --data-dir dir" in process and returns its
// output and error.
func apps(dir string, env map[string]string, args ...string) (string, error) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), append(append([]string{"apps"}, args...), "--data-dir", dir),
		func(k string) string { return env[k] }, nil, &out, &errOut)
	return out.String(), err
}

// lastWord is the key an apps command printed last.
func lastWord(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return ""
	}
	return f[len(f)-1]
}

// TestAppsNamesAreUnambiguous (issue 10, item 16): names are unique and
// never all digits; rotate-key and revoke-key take a NAME or --id ID and
// never read one as the other, so "rotate-key 3" cannot rotate the app
// whose id is 3; each command says which app, id and name, it acted on.
func TestAppsNamesAreUnambiguous(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keys := map[string]string{}
	for _, name := range []string{"first", "second", "victim"} {
		out, err := apps(dir, nil, "create", name)
		if err != nil {
			t.Fatalf("apps create %s: %v", name, err)
		}
		keys[name] = lastWord(out)
	}
	// The app with id 3 is "victim".
	for _, tc := range []struct {
		name string
		args []string
		want string // in the error
	}{
		{"a taken name", []string{"create", "first"}, `An app named "first" already exists`},
		{"an all-digit name", []string{"create", "3"}, `"3" is all digits`},
		{"a name with a space at the end", []string{"create", "first "}, "white space"},
		{"a name with a control character", []string{"create", "a\x07b"}, "control characters"},
		{"a number that is an id", []string{"rotate-key", "3"}, `no app is named "3"; to choose the app whose id is 3, give --id 3`},
		{"revoke by a number that is an id", []string{"revoke-key", "3"}, `no app is named "3"`},
		{"a name and --id", []string{"rotate-key", "victim", "--id", "3"}, "NAME or --id ID, one of them"},
		{"neither", []string{"rotate-key"}, "NAME or --id ID, one of them"},
		{"an unknown id", []string{"rotate-key", "--id", "99"}, "no app has the id 99"},
		{"an unknown name", []string{"revoke-key", "nobody"}, `no app is named "nobody"`},
	} {
		out, err := apps(dir, nil, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: apps %q = %q, %v; want an error saying %q", tc.name, tc.args, out, err, tc.want)
		}
		if err != nil && (strings.Contains(err.Error(), "job_in_progress") || strings.Contains(err.Error(), "bulkid:")) {
			t.Errorf("%s: the error shows internals: %v", tc.name, err)
		}
	}
	// BULKID_ID in the environment never chooses an app.
	if _, err := apps(dir, map[string]string{"BULKID_ID": "3"}, "rotate-key"); err == nil {
		t.Errorf("rotate-key with only BULKID_ID=3 set succeeded")
	}

	db, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(dir, "bulkid.db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	keyOf := func(name string) {
		t.Helper()
		app, err := db.AppByKeyHash(t.Context(), bulkid.HashAPIKey(keys[name]))
		if err != nil || app.Name != name {
			t.Errorf("the key of %s: %+v, %v; want it to still be %s's", name, app, err, name)
		}
	}
	for name := range keys {
		keyOf(name) // no refused command changed a key
	}
	list, err := db.ListApps(t.Context())
	if err != nil || len(list) != 3 {
		t.Fatalf("apps after the refusals = %d, %v; want the 3 created", len(list), err)
	}

	// By id, and by name: each says which app it acted on.
	out, err := apps(dir, nil, "rotate-key", "--id", "3")
	if err != nil || !strings.Contains(out, `app "victim" (id 3)`) {
		t.Fatalf("rotate-key --id 3 = %q, %v; want it to name app \"victim\" (id 3)", out, err)
	}
	keys["victim"] = lastWord(out)
	keyOf("victim")
	out, err = apps(dir, nil, "rotate-key", "second")
	if err != nil || !strings.Contains(out, `app "second" (id 2)`) {
		t.Fatalf("rotate-key second = %q, %v; want it to name app \"second\" (id 2)", out, err)
	}
	keys["second"] = lastWord(out)
	keyOf("second")
	keyOf("first")
	out, err = apps(dir, nil, "revoke-key", "--id", "1")
	if err != nil || !strings.Contains(out, `app "first" (id 1)`) {
		t.Fatalf("revoke-key --id 1 = %q, %v; want it to name app \"first\" (id 1)", out, err)
	}
	if _, err := db.AppByKeyHash(t.Context(), bulkid.HashAPIKey(keys["first"])); bulkid.ErrorCode(err) != bulkid.ENOTFOUND {
		t.Errorf("first's key after revoke-key: %v, want it refused", err)
	}
	out, err = apps(dir, nil, "create", "fourth")
	if err != nil || !strings.Contains(out, fmt.Sprintf(`app %q (id %d)`, "fourth", 4)) {
		t.Errorf("apps create fourth = %q, %v; want it to name app \"fourth\" (id 4)", out, err)
	}
}
