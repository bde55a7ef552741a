package migration_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/bulkid/bulkid/internal/migration"
)

func TestLoadAndPending(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"m/0002_b.sql":   {Data: []byte("B")},
		"m/0001_a.sql":   {Data: []byte("A")},
		"m/0010_c.sql":   {Data: []byte("C")},
		"m/readme.txt":   {Data: []byte("not a migration")},
		"other/0003.sql": {Data: []byte("elsewhere")},
	}
	steps, err := migration.Load(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 3 || steps[0].Version != 1 || steps[1].SQL != "B" || steps[2].Version != 10 {
		t.Fatalf("Load = %+v", steps)
	}
	for _, tc := range []struct{ current, first, n int }{{0, 1, 3}, {1, 2, 2}, {5, 10, 1}, {10, 0, 0}} {
		got, err := migration.Pending(steps, tc.current)
		if err != nil || len(got) != tc.n || (tc.n > 0 && got[0].Version != tc.first) {
			t.Errorf("Pending(%d) = %+v, %v; want %d steps from %d", tc.current, got, err, tc.n, tc.first)
		}
	}
	if _, err := migration.Pending(steps, 11); err == nil || !strings.Contains(err.Error(), "run a newer bulkid") {
		t.Errorf("Pending of a newer schema: %v", err)
	}
	if _, err := migration.Load(fstest.MapFS{"m/x_bad.sql": {}}, "m"); err == nil {
		t.Error("a migration without a version loaded")
	}
}
