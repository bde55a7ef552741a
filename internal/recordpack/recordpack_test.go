package recordpack_test

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/recordpack"
)

func TestWriterAndUnpack(t *testing.T) {
	t.Parallel()
	var recs []bulkid.RawRecord
	for i := range 2500 {
		raw := fmt.Appendf(nil, `{"company_id":"c%d"}`, i)
		if i == 1700 {
			raw = bytes.Repeat([]byte("x"), recordpack.MaxBytes+10) // one record larger than a chunk
		}
		recs = append(recs, bulkid.RawRecord{Seq: i, Pos: 2*i + 1, Raw: raw})
	}
	spool := t.TempDir()
	file, err := recordpack.NewFileWriter(spool)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := file.Add(r.Pos, r.Raw); err != nil {
			t.Fatal(err)
		}
	}
	// The spool file has no name while it is in use, so a process killed
	// mid-upload leaves none behind (where an open file can be unlinked).
	if left, _ := os.ReadDir(spool); runtime.GOOS != "windows" && len(left) > 0 {
		t.Errorf("the spool file is in the directory while in use: %v", left)
	}
	for name, w := range map[string]*recordpack.Writer{"memory": recordpack.FromRecords(recs), "file": file} {
		if w.Len() != len(recs) {
			t.Fatalf("%s: Len = %d, want %d", name, w.Len(), len(recs))
		}
		var chunks []recordpack.Chunk
		err := w.Chunks(func(first, count int, data []byte) error {
			chunks = append(chunks, recordpack.Chunk{First: first, Count: count, Data: bytes.Clone(data)})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		total := 0
		for i, c := range chunks {
			if c.First != total || c.Count > recordpack.MaxRecords {
				t.Fatalf("%s: chunk %d: first %d count %d after %d records", name, i, c.First, c.Count, total)
			}
			total += c.Count
		}
		if total != len(recs) {
			t.Fatalf("%s: chunks hold %d records, want %d", name, total, len(recs))
		}
		// Read back from a Seq in the middle, with a limit, as JobRecords does.
		for _, tc := range []struct{ from, limit int }{{0, 10000}, {1234, 500}, {1700, 2}, {2499, 10}} {
			var got []bulkid.RawRecord
			for _, c := range chunks {
				if c.First+c.Count <= tc.from || len(got) >= tc.limit {
					continue
				}
				if got, err = recordpack.Unpack(got, c.First, c.Data, tc.from, tc.limit); err != nil {
					t.Fatal(err)
				}
			}
			want := recs[tc.from:min(len(recs), tc.from+tc.limit)]
			if len(got) != len(want) {
				t.Fatalf("%s: from %d limit %d: %d records, want %d", name, tc.from, tc.limit, len(got), len(want))
			}
			for i := range want {
				if got[i].Seq != want[i].Seq || got[i].Pos != want[i].Pos || !bytes.Equal(got[i].Raw, want[i].Raw) {
					t.Fatalf("%s: from %d: record %d = %d/%d, want %d/%d", name, tc.from, i, got[i].Seq, got[i].Pos, want[i].Seq, want[i].Pos)
				}
			}
		}
		if err := w.Close(); err != nil {
			t.Errorf("%s: Close: %v", name, err)
		}
	}
	if left, _ := os.ReadDir(spool); len(left) > 0 {
		t.Errorf("Close left the spool file: %v", left)
	}
	if _, err := recordpack.Unpack(nil, 0, []byte{0x05, 0xff}, 0, 10); err == nil {
		t.Error("a truncated chunk unpacked without an error")
	}
}
