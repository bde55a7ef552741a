package client_test

import (
	"encoding/json"
	"testing"

	"github.com/bulkid/bulkid/client"
)

// Sent gives back the record as sent from a line of the errors stream:
// raw_base64 when present (the record is not UTF-8), else record, else raw.
func TestRecordErrorSent(t *testing.T) {
	t.Parallel()
	for line, want := range map[string]string{
		`{"error_code":"invalid_id","message":"m","raw":"{\"company_id\":\"\ufffd\"}","raw_base64":"eyJjb21wYW55X2lkIjoi/yJ9"}`: "{\"company_id\":\"\xff\"}",
		`{"error_code":"invalid_id","message":"m","record":{"company_id":"\ud800"}}`:                                            `{"company_id":"\ud800"}`,
		`{"error_code":"malformed_json","message":"m","raw":"{oops"}`:                                                           `{oops`,
		`{"error_code":"malformed_json","message":"m"}`:                                                                         ``,
	} {
		var e client.RecordError
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		if got := e.Sent(); string(got) != want {
			t.Errorf("Sent() of %s = %q, want %q", line, got, want)
		}
	}
}
