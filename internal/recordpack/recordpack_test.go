package recordpack_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/recordpack"
)

func TestPackUnpack(t *testing.T) {
	t.Parallel()
	var recs []bulkid.RawRecord
	for i := range 2500 {
		raw := fmt.Appendf(nil, `{"company_id":"c%d"}`, i)
		if i == 1700 {
			raw = bytes.Repeat([]byte("x"), recordpack.MaxBytes+10) // one record larger than a chunk
		}
		recs = append(recs, bulkid.RawRecord{Seq: i, Pos: 2*i + 1, Raw: raw})
	}
	chunks := recordpack.Pack(recs)
	total := 0
	for i, c := range chunks {
		if c.First != total || c.Count > recordpack.MaxRecords {
			t.Fatalf("chunk %d: first %d count %d after %d records", i, c.First, c.Count, total)
		}
		total += c.Count
	}
	if total != len(recs) {
		t.Fatalf("chunks hold %d records, want %d", total, len(recs))
	}
	// Read back from every chunk, from a Seq in the middle, with a limit.
	for _, tc := range []struct{ from, limit int }{{0, 10000}, {1234, 500}, {1700, 2}, {2499, 10}} {
		var got []bulkid.RawRecord
		for _, c := range chunks {
			if c.First+c.Count <= tc.from || len(got) >= tc.limit {
				continue
			}
			var err error
			if got, err = recordpack.Unpack(got, c.First, c.Data, tc.from, tc.limit); err != nil {
				t.Fatal(err)
			}
		}
		want := recs[tc.from:min(len(recs), tc.from+tc.limit)]
		if len(got) != len(want) {
			t.Fatalf("from %d limit %d: %d records, want %d", tc.from, tc.limit, len(got), len(want))
		}
		for i := range want {
			if got[i].Seq != want[i].Seq || got[i].Pos != want[i].Pos || !bytes.Equal(got[i].Raw, want[i].Raw) {
				t.Fatalf("from %d: record %d = %d/%d, want %d/%d", tc.from, i, got[i].Seq, got[i].Pos, want[i].Seq, want[i].Pos)
			}
		}
	}
	if _, err := recordpack.Unpack(nil, 0, []byte{0x05, 0xff}, 0, 10); err == nil {
		t.Error("a truncated chunk unpacked without an error")
	}
}
