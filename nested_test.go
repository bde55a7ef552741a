package bulkid_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/bulkid/bulkid"
)

var flatten = bulkid.ValidateOptions{Nested: bulkid.NestedFlatten}

// TestValidateRecordFlatten: the flatten rule, shape by shape, including
// what Segment and RudderStack send. The metadata wanted is exact: compact,
// keys sorted.
func TestValidateRecordFlatten(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, typ, metadata, want string
	}{
		{name: "object to dotted keys", metadata: `{"address":{"city":"Paris","geo":{"lat":1}}}`,
			want: `{"address.city":"Paris","address.geo.lat":1}`},
		{name: "flat metadata unchanged", metadata: `{"plan":"pro","seats":10}`, want: `{"plan":"pro","seats":10}`},
		{name: "empty object adds no key", metadata: `{"a":{},"b":1,"c":{"d":{}}}`, want: `{"b":1}`},
		{name: "only empty objects", metadata: `{"a":{}}`, want: `{}`},
		{name: "null inside stays null", metadata: `{"company":{"plan":null,"name":"Acme"}}`,
			want: `{"company.name":"Acme","company.plan":null}`},
		{name: "array of strings is its JSON text", metadata: `{"tags":["a","b"]}`, want: `{"tags":"[\"a\",\"b\"]"}`},
		{name: "empty array", metadata: `{"tags":[]}`, want: `{"tags":"[]"}`},
		{name: "array compacted, strings and numbers as sent", metadata: "{\"x\":[ 1.50 ,\t\"a b\" ,\n 1e3, true, null, \"\\u00e9\\\"\" ]}",
			want: `{"x":"[1.50,\"a b\",1e3,true,null,\"\\u00e9\\\"\"]"}`},
		{name: "array of objects is one string", metadata: `{"items":[{"sku":"A1","qty":2},{"sku":"B2","qty":1}]}`,
			want: `{"items":"[{\"sku\":\"A1\",\"qty\":2},{\"sku\":\"B2\",\"qty\":1}]"}`},
		{name: "array in an object", metadata: `{"a":{"b":[1,[2]]}}`, want: `{"a.b":"[1,[2]]"}`},
		{name: "numbers keep their text", metadata: `{"a":{"n":12345678901234567890,"f":1.10,"e":2E+2}}`,
			want: `{"a.e":2E+2,"a.f":1.10,"a.n":12345678901234567890}`},
		{name: "flattened key collides, the later wins", metadata: `{"a.b":1,"a":{"b":2}}`, want: `{"a.b":2}`},
		{name: "collision the other way", metadata: `{"a":{"b":2},"a.b":1}`, want: `{"a.b":1}`},
		{name: "duplicate object key: the last object wins whole", metadata: `{"a":{"x":1},"a":{"y":2}}`, want: `{"a.y":2}`},
		{name: "duplicate key, object then primitive", metadata: `{"a":{"x":1},"a":"flat"}`, want: `{"a":"flat"}`},
		{name: "duplicate key, primitive then object", metadata: `{"a":"flat","a":{"x":1}}`, want: `{"a.x":1}`},
		{name: "duplicates inside a nested object", metadata: `{"a":{"x":1,"x":2}}`, want: `{"a.x":2}`},
		{name: "duplicates in a wide object", metadata: `{"o":{"k0":0,"k1":1,"k2":2,"k3":{"x":3},"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,` +
			`"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"k16":16,"k3":"three","\u006b5":{"y":5}}}`,
			want: `{"o.k0":0,"o.k1":1,"o.k10":10,"o.k11":11,"o.k12":12,"o.k13":13,"o.k14":14,"o.k15":15,"o.k16":16,"o.k2":2,"o.k3":"three","o.k4":4,"o.k5.y":5,"o.k6":6,"o.k7":7,"o.k8":8,"o.k9":9}`},
		{name: "escaped keys are joined as sent", metadata: `{"caf\u00e9":{"\u0061":"x"}}`, want: `{"café.a":"x"}`},
		{name: "escaped duplicate is a duplicate", metadata: `{"a":{"x":1},"\u0061":{"y":2}}`, want: `{"a.y":2}`},
		{name: "empty inner key", metadata: `{"a":{"":1}}`, want: `{"a.":1}`},
		{name: "empty outer key with members", metadata: `{"":{"a":1}}`, want: `{".a":1}`},
		{name: "strings keep escapes' meaning", metadata: `{"a":{"q":"say \"hi\"\n"}}`, want: `{"a.q":"say \"hi\"\n"}`},
		{name: "NUL inside an array is text", metadata: `{"a":["x\u0000"]}`, want: `{"a":"[\"x\\u0000\"]"}`},
		{name: "lone surrogate inside an array is text", metadata: `{"a":["\ud800"]}`, want: `{"a":"[\"\\ud800\"]"}`},
		{name: "deep nesting", metadata: `{"a":{"b":{"c":{"d":{"e":"deep"}}}}}`, want: `{"a.b.c.d.e":"deep"}`},
		{name: "HTML characters kept", metadata: `{"a":{"b":"<&>"},"c":["<&>"]}`, want: `{"a.b":"<&>","c":"[\"<&>\"]"}`},
		// Segment's identify traits: address and company are objects of
		// its spec; arrays of strings and of objects are common.
		{name: "Segment traits", metadata: `{"name":"Peter Gibbons","email":"peter@example.com","createdAt":"2026-11-01T10:00:00.000Z",` +
			`"address":{"street":"6th St","city":"San Francisco","state":"CA","postal_code":"94103","country":"USA"},` +
			`"company":{"name":"Initech","id":"c-42","industry":"Technology","employee_count":123,"plan":"enterprise"},` +
			`"roles":["admin","billing"],"devices":[{"type":"ios","token":"t1"},{"type":"android","token":"t2"}]}`,
			want: `{"address.city":"San Francisco","address.country":"USA","address.postal_code":"94103","address.state":"CA","address.street":"6th St",` +
				`"company.employee_count":123,"company.id":"c-42","company.industry":"Technology","company.name":"Initech","company.plan":"enterprise",` +
				`"createdAt":"2026-11-01T10:00:00.000Z","devices":"[{\"type\":\"ios\",\"token\":\"t1\"},{\"type\":\"android\",\"token\":\"t2\"}]",` +
				`"email":"peter@example.com","name":"Peter Gibbons","roles":"[\"admin\",\"billing\"]"}`},
		// RudderStack's identify copies the company object into metadata.
		{name: "RudderStack metadata with company", typ: "users", metadata: `{"name":"Alex","email":"alex@example.com",` +
			`"company":{"id":"acme-1","name":"Acme","plan":"pro","employees":42}}`,
			want: `{"company.employees":42,"company.id":"acme-1","company.name":"Acme","company.plan":"pro","email":"alex@example.com","name":"Alex"}`},
		// The Singer target sends every value as a string: they stay so.
		{name: "Singer strings stay strings", typ: "users", metadata: `{"active":"True","churned":"None","tags":"['a', 'b']","n":"12"}`,
			want: `{"active":"True","churned":"None","n":"12","tags":"['a', 'b']"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			typ, raw := bulkid.JobCompanies, `{"company_id":"c","metadata":`+tc.metadata+`}`
			if tc.typ == "users" {
				typ, raw = bulkid.JobUsers, `{"user_id":"u","company":{"id":"acme-1"},"metadata":`+tc.metadata+`}`
			}
			rec, rerr := bulkid.ValidateRecordOpts(typ, []byte(raw), flatten)
			if rerr != nil {
				t.Fatalf("ValidateRecordOpts(%s, flatten) = error %s: %s", raw, rerr.Code, rerr.Message)
			}
			if string(rec.Metadata) != tc.want {
				t.Errorf("Metadata = %s\nwant       %s", rec.Metadata, tc.want)
			}
			checkCompactObject(t, rec.Metadata)
			// The flat result is a fixed point: sent again, it is the same,
			// flattened or not.
			again := `{"company_id":"c","metadata":` + string(rec.Metadata) + `}`
			for _, o := range []bulkid.ValidateOptions{{}, flatten} {
				rec2, rerr := bulkid.ValidateRecordOpts(bulkid.JobCompanies, []byte(again), o)
				if rerr != nil || string(rec2.Metadata) != tc.want {
					t.Errorf("ValidateRecordOpts(%s, %v) = %s, %v; want %s", again, o.Nested, rec2.Metadata, rerr, tc.want)
				}
			}
		})
	}
}

// TestValidateRecordFlattenRefusals: every bound and text rule applies to
// the flattened result, and the messages name the flattened key.
func TestValidateRecordFlattenRefusals(t *testing.T) {
	t.Parallel()
	wide := func(n int) string { // {"o":{"k0":0,...}}
		var b strings.Builder
		b.WriteString(`{"o":{`)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`"k` + strconv.Itoa(i) + `":0`)
		}
		b.WriteString(`}}`)
		return b.String()
	}
	long := strings.Repeat("k", 300_000)
	for _, tc := range []struct {
		name, metadata, code, msg string
	}{
		{name: "keys over the bound", metadata: wide(bulkid.MaxMetadataKeys + 1), code: bulkid.RInvalidMetadata, msg: "flattens to more than 1000 keys"},
		{name: "prefix repeated past 1 MiB", metadata: `{"` + long + `":{"a":1,"b":2,"c":3,"d":4}}`, code: bulkid.RInvalidMetadata, msg: "flattens to more than 1048576 bytes"},
		{name: "invalid UTF-8 in a nested key", metadata: "{\"a\":{\"\xff\":1}}", code: bulkid.RInvalidMetadata, msg: `"a.\xff" is not valid UTF-8`},
		{name: "invalid UTF-8 in an array", metadata: "{\"a\":[\"\xff\"]}", code: bulkid.RInvalidMetadata, msg: `metadata key "a" is not valid UTF-8`},
		{name: "lone surrogate in a nested key", metadata: `{"a":{"\ud800":1}}`, code: bulkid.RInvalidMetadata, msg: `\ud800`},
		{name: "lone surrogate in a nested value", metadata: `{"a":{"b":"\udc00"}}`, code: bulkid.RInvalidMetadata, msg: `metadata key "a.b" holds the unpaired UTF-16 surrogate escape \udc00`},
		{name: "NUL in a nested value", metadata: `{"a":{"b":"x\u0000"}}`, code: bulkid.RInvalidMetadata, msg: `"a.b" holds the character U+0000`},
		{name: "NUL in a nested key", metadata: `{"a":{"b\u0000":1}}`, code: bulkid.RInvalidMetadata, msg: "U+0000"},
		{name: "number out of range nested", metadata: `{"a":{"n":1e400}}`, code: bulkid.RInvalidMetadata, msg: `metadata key "a.n"`},
		{name: "empty top key of a primitive", metadata: `{"":1,"a":{"b":1}}`, code: bulkid.RInvalidMetadata, msg: "empty key"},
		{name: "metadata not an object", metadata: `["a"]`, code: bulkid.RInvalidMetadata, msg: "must be an object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			raw := `{"company_id":"c","metadata":` + tc.metadata + `}`
			rec, rerr := bulkid.ValidateRecordOpts(bulkid.JobCompanies, []byte(raw), flatten)
			if rerr == nil {
				t.Fatalf("ValidateRecordOpts(flatten) = %s, want error %s", preview(rec.Metadata), tc.code)
			}
			if rerr.Code != tc.code || !strings.Contains(rerr.Message, tc.msg) || rerr.ID != "c" {
				t.Errorf("error = %s %q (ID %q), want %s containing %q, ID \"c\"", rerr.Code, preview([]byte(rerr.Message)), rerr.ID, tc.code, tc.msg)
			}
		})
	}
	// Exactly MaxMetadataKeys flattened keys are fine.
	raw := `{"company_id":"c","metadata":` + wide(bulkid.MaxMetadataKeys) + `}`
	if _, rerr := bulkid.ValidateRecordOpts(bulkid.JobCompanies, []byte(raw), flatten); rerr != nil {
		t.Errorf("%d flattened keys: error %s: %s", bulkid.MaxMetadataKeys, rerr.Code, rerr.Message)
	}
}

// TestValidateRecordRefusesNestedByDefault: ValidateRecord, and the zero
// options, refuse what flatten takes, as the bulk endpoints do by default.
func TestValidateRecordRefusesNestedByDefault(t *testing.T) {
	t.Parallel()
	for _, md := range []string{`{"address":{"city":"Paris"}}`, `{"tags":["a"]}`, `{"a":{}}`, `{"a":[]}`} {
		raw := []byte(`{"company_id":"c","metadata":` + md + `}`)
		for name, validate := range map[string]func() (bulkid.Record, *bulkid.RecordError){
			"ValidateRecord": func() (bulkid.Record, *bulkid.RecordError) { return bulkid.ValidateRecord(bulkid.JobCompanies, raw) },
			"ValidateRecordOpts(zero)": func() (bulkid.Record, *bulkid.RecordError) {
				return bulkid.ValidateRecordOpts(bulkid.JobCompanies, raw, bulkid.ValidateOptions{})
			},
		} {
			if _, rerr := validate(); rerr == nil || rerr.Code != bulkid.RNestedMetadata {
				t.Errorf("%s(%s) = %v, want %s", name, raw, rerr, bulkid.RNestedMetadata)
			}
		}
		if _, rerr := bulkid.ValidateRecordOpts(bulkid.JobCompanies, raw, flatten); rerr != nil {
			t.Errorf("flatten(%s) = %s: %s, want a record", raw, rerr.Code, rerr.Message)
		}
	}
}

func TestParseNestedRule(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bulkid.NestedRule{"refuse": bulkid.NestedRefuse, "flatten": bulkid.NestedFlatten} {
		got, err := bulkid.ParseNestedRule(s)
		if err != nil || got != want || got.String() != s {
			t.Errorf("ParseNestedRule(%q) = %q, %v (String %q); want %q", s, got, err, got.String(), want)
		}
	}
	for _, s := range []string{"", "Flatten", "json", "refuse "} {
		if _, err := bulkid.ParseNestedRule(s); bulkid.ErrorCode(err) != bulkid.EINVALID {
			t.Errorf("ParseNestedRule(%q) error = %v, want %s", s, err, bulkid.EINVALID)
		}
	}
}

func preview(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

// BenchmarkValidateRecordNested: a Segment identify's traits flattened,
// beside the same record already flat (what flattening costs), and the flat
// record under flatten (what the option costs when nothing nests).
func BenchmarkValidateRecordNested(b *testing.B) {
	nested := []byte(`{"user_id":"u1","metadata":{"name":"Peter Gibbons","email":"peter@example.com",` +
		`"address":{"street":"6th St","city":"San Francisco","state":"CA","postal_code":"94103","country":"USA"},` +
		`"company":{"name":"Initech","id":"c-42","industry":"Technology","employee_count":123,"plan":"enterprise"},"roles":["admin","billing"]}}`)
	rec, rerr := bulkid.ValidateRecordOpts(bulkid.JobUsers, nested, flatten)
	if rerr != nil {
		b.Fatal(rerr.Message)
	}
	flat := []byte(`{"user_id":"u1","metadata":` + string(rec.Metadata) + `}`)
	for _, bc := range []struct {
		name string
		raw  []byte
		o    bulkid.ValidateOptions
	}{
		{"nested/flatten", nested, flatten},
		{"flat/refuse", flat, bulkid.ValidateOptions{}},
		{"flat/flatten", flat, flatten},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, rerr := bulkid.ValidateRecordOpts(bulkid.JobUsers, bc.raw, bc.o); rerr != nil {
					b.Fatal(rerr.Message)
				}
			}
		})
	}
}

// TestValidateMetadata: metadata on its own (the track endpoint's) gets
// the verdict it gets in a record.
func TestValidateMetadata(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		raw  string
		o    bulkid.ValidateOptions
		want string // the metadata, or the error code
	}{
		{`null`, flatten, ""},
		{` {"a":{"b":1},"t":["x"]} `, flatten, `{"a.b":1,"t":"[\"x\"]"}`},
		{`{"plan":"pro"}`, bulkid.ValidateOptions{}, `{"plan":"pro"}`},
		{`{"a":{"b":1}}`, bulkid.ValidateOptions{}, bulkid.RNestedMetadata},
		{`["a"]`, flatten, bulkid.RInvalidMetadata},
		{`{"a":{"\ud800":1}}`, flatten, bulkid.RInvalidMetadata},
		{`{"a":{"b":"\\ud800"}}`, flatten, `{"a.b":"\\ud800"}`},
		{`{"a":`, flatten, bulkid.RMalformedJSON},
		{strings.Repeat("[", 300) + strings.Repeat("]", 300), flatten, bulkid.RMalformedJSON},
	} {
		md, rerr := bulkid.ValidateMetadata([]byte(tc.raw), tc.o)
		got := string(md)
		if rerr != nil {
			got = rerr.Code
		}
		if got != tc.want {
			t.Errorf("ValidateMetadata(%s, %v) = %s (%v), want %s", preview([]byte(tc.raw)), tc.o.Nested, got, rerr, tc.want)
		}
		if rerr == nil && !strings.HasPrefix(tc.raw, "null") {
			rec, rerr := bulkid.ValidateRecordOpts(bulkid.JobCompanies, []byte(`{"company_id":"c","metadata":`+tc.raw+`}`), tc.o)
			if rerr != nil || string(rec.Metadata) != got {
				t.Errorf("in a record: %s, %v; want %s", rec.Metadata, rerr, got)
			}
		}
	}
	if md, rerr := bulkid.ValidateMetadata(nil, flatten); md != nil || rerr != nil {
		t.Errorf("ValidateMetadata(nil) = %s, %v; want nothing", md, rerr)
	}
}
