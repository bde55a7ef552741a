package sqlite_test

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulkid/bulkid"
	_ "modernc.org/sqlite"
)

// TestPatchMatchesJSONPatch: bulkid_patch, which the store merges metadata
// with, gives byte for byte what SQLite's json_patch gives, over random
// sequences of metadata as ValidateRecord writes it: keys set, changed and
// removed, values of every primitive kind, escapes and non-ASCII text.
func TestPatchMatchesJSONPatch(t *testing.T) {
	t.Parallel()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	values := []string{`1`, `-2.50`, `12345678901234567890123`, `1e300`, `true`, `false`, `null`, `""`,
		`"plain"`, `"tab\there"`, `"quote \" and \\ back"`, `"é ü 日本"`, `"\u0001\u001f"`, `"<&>"`}
	key := func() string {
		return []string{"a", "b", "plan", "seats", "é", "k\"q", "long_" + strings.Repeat("x", 40), "z"}[rng.IntN(8)] + fmt.Sprint(rng.IntN(6))
	}
	for run := range 300 {
		target := "{}"
		for step := range 1 + rng.IntN(6) {
			var b strings.Builder
			b.WriteString(`{"company_id":"c","metadata":{`)
			for i := range rng.IntN(8) {
				if i > 0 {
					b.WriteByte(',')
				}
				k := key()
				fmt.Fprintf(&b, `%q:%s`, k, values[rng.IntN(len(values))])
			}
			b.WriteString(`}}`)
			rec, rerr := bulkid.ValidateRecord(bulkid.JobCompanies, []byte(b.String()))
			if rerr != nil {
				t.Fatalf("record %s: %v", b.String(), rerr)
			}
			patch := string(rec.Metadata)
			if patch == "" {
				patch = "{}"
			}
			var want, got string
			if err := db.QueryRow(`SELECT json_patch(?1, ?2), bulkid_patch(?1, ?2)`, target, patch).Scan(&want, &got); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("run %d step %d: patch %s onto %s:\n bulkid_patch %s\n json_patch   %s", run, step, patch, target, got, want)
			}
			target = got
		}
	}
	// NULL as the target is an empty profile.
	var got string
	if err := db.QueryRow(`SELECT bulkid_patch(NULL, '{"a":1,"b":null}')`).Scan(&got); err != nil || got != `{"a":1}` {
		t.Errorf("bulkid_patch(NULL, …) = %s, %v", got, err)
	}
}

// BenchmarkPatchManyKeys: 40 patches of 1,000 new keys each onto one
// growing object, as 40 records adding keys to one profile. json_patch
// takes time in the product of the sizes, bulkid_patch in their sum.
func BenchmarkPatchManyKeys(b *testing.B) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(b.TempDir(), "p.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	patches := make([]string, 40)
	for r := range patches {
		var sb strings.Builder
		sb.WriteByte('{')
		for i := range 1000 {
			if i > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, `"k%d_%d":%d`, r, i, i)
		}
		sb.WriteByte('}')
		patches[r] = sb.String()
	}
	for _, fn := range []string{"bulkid_patch", "json_patch"} {
		b.Run(fn, func(b *testing.B) {
			for b.Loop() {
				target := "{}"
				for _, p := range patches {
					if err := db.QueryRow(`SELECT `+fn+`(?, ?)`, target, p).Scan(&target); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
