package input_test

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/input"
)

// FuzzInput reads any bytes as each format `bulkid push` takes: no panic,
// the reader ends, and every record a CSV or JSON reader yields without an
// error is one valid JSON value, ready to send.
func FuzzInput(f *testing.F) {
	for _, s := range []string{
		"company_id,name,seats\nc1,Acme,3\nc2,\"Globex, Inc\",true\n",
		"\xef\xbb\xbfuser_id,company_id,email\r\nu1,c1,a@b.c\r\n",
		"company_id,a,a\nc1,1\n",
		"company_id\n\"unterminated\n",
		`[{"company_id":"a"},{"company_id":"b","metadata":{"n":1}}]`,
		`{"companies":[{"company_id":"a"}]}`,
		"{\"company_id\":\"a\"}\n\n{\"company_id\":\n",
		"\x1f\x8b\x08\x00\x00\x00\x00\x00",
	} {
		for format := range byte(3) {
			f.Add(format, []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, format byte, data []byte) {
		fm := []input.Format{input.CSV, input.JSON, input.NDJSON}[int(format)%3]
		r, err := input.Open("-", input.Options{Kind: bulkid.JobCompanies, Format: fm, Stdin: bytes.NewReader(data)})
		if err != nil {
			return
		}
		defer r.Close()
		for n := 0; n <= len(data)+1; n++ {
			rec, err := r.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				return
			}
			if fm != input.NDJSON && rec.Err == "" && !json.Valid(rec.Raw) {
				t.Fatalf("%s record %d is not JSON: %q", fm, n, rec.Raw)
			}
		}
		t.Fatalf("%s reader of %d bytes yielded more than %d records", fm, len(data), len(data)+1)
	})
}
