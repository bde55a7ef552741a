package bulkid_test

import (
	"encoding/json"
	"testing"

	"github.com/bulkid/bulkid"
)

// TestObjectMembersEscapes: a quote ends a string unless an odd number of
// backslashes stands before it, however long the run; members are read as
// encoding/json reads them.
func TestObjectMembersEscapes(t *testing.T) {
	t.Parallel()
	for _, obj := range []string{
		`{"a":"x"}`,
		`{"a\"b":"\"","c":"\\","d":"\\\"","e":"\\\\"}`,
		`{"\\\\\\\"":"\\\\\\\\\"\\","":""}`,
		`{"long":"0123456789012345678901234567890123456789\"0123456789012345678901234567890123\\"}`,
		`{ "a" : "b\\" , "c":1 }`,
	} {
		var want map[string]string
		var gotNames []string
		if err := json.Unmarshal([]byte(obj), &map[string]any{}); err != nil {
			t.Fatalf("bad case %s: %v", obj, err)
		}
		json.Unmarshal([]byte(obj), &want)
		ok := bulkid.ObjectMembers([]byte(obj), func(name, value []byte) {
			n := bulkid.MemberName(name)
			gotNames = append(gotNames, n)
			if value[0] == '"' {
				var v string
				if err := json.Unmarshal(value, &v); err != nil || v != want[n] {
					t.Errorf("%s: member %q = %s (%v), want %q", obj, n, value, err, want[n])
				}
			}
		})
		if !ok || len(gotNames) != len(want) {
			t.Errorf("%s: ObjectMembers = %v, names %q; want %d members", obj, ok, gotNames, len(want))
		}
	}
	if bulkid.ObjectMembers([]byte(`{"a\":1}`), func(name, value []byte) {}) {
		t.Error(`{"a\":1}: ObjectMembers read an unterminated name`)
	}
}
