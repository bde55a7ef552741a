package worker

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/bulkid/bulkid"
)

func TestSpoolRoundTrip(t *testing.T) {
	items := []item{
		{seq: 0, rawLen: 3, valid: true, rec: bulkid.Record{Seq: 0, Pos: 7, ID: "c0", CompanyID: "", Metadata: nil, Raw: []byte(`{0}`)}},
		{seq: 1, rawLen: 5},
		{seq: 2, rawLen: 4, valid: true, rec: bulkid.Record{Seq: 2, Pos: 9, ID: "u2", CompanyID: "c9", Metadata: json.RawMessage(`{}`), Raw: []byte(`{22}`)}},
		{seq: 3, rawLen: 0},
		{seq: 4, rawLen: 10, valid: true, rec: bulkid.Record{Seq: 4, Pos: 1 << 30, ID: "", CompanyID: "", Metadata: json.RawMessage(`{"a":1}`), Raw: []byte(`0123456789`)}},
		{seq: 5, rawLen: 2, valid: true, rec: bulkid.Record{Seq: 5, Pos: 5, ID: "x", Metadata: json.RawMessage{}, Raw: []byte(`{}`)}},
	}
	bad := newSpool(t.TempDir())
	if err := bad.add(item{seq: 0, rawLen: 3, valid: true, rec: bulkid.Record{Raw: []byte("ab")}}); err == nil {
		t.Error("an item whose raw is not rawLen bytes was written")
	}
	bad.close()
	for _, big := range []bool{false, true} {
		if big { // over memSpool: in a file
			raw := make([]byte, memSpool+100)
			items = append(items, item{seq: 6, rawLen: len(raw), valid: true, rec: bulkid.Record{Seq: 6, ID: "big", Raw: raw}}, item{seq: 7, rawLen: 1})
		}
		roundTrip(t, items, big)
	}
}

func roundTrip(t *testing.T, items []item, inFile bool) {
	sp := newSpool("") // os.TempDir()
	defer sp.close()
	for _, it := range items {
		if err := sp.add(it); err != nil {
			t.Fatal(err)
		}
	}
	if err := sp.rewind(); err != nil {
		t.Fatal(err)
	}
	if (sp.k.f != nil) != inFile {
		t.Errorf("spool in a file = %v, want %v", sp.k.f != nil, inFile)
	}
	var got []item
	for from := 0; ; {
		some, err := sp.read(from, 4)
		if err != nil {
			t.Fatal(err)
		}
		if len(some) == 0 {
			break
		}
		got = append(got, some...)
		from = some[len(some)-1].seq + 1
	}
	if !reflect.DeepEqual(got, items) {
		t.Fatalf("read back\n%+v\nwant\n%+v", got, items)
	}
	if got[0].rec.Metadata != nil || got[2].rec.Metadata == nil || got[5].rec.Metadata == nil || len(got[5].rec.Metadata) != 0 {
		t.Errorf("nil and empty metadata are not told apart: %q %q %q", got[0].rec.Metadata, got[2].rec.Metadata, got[5].rec.Metadata)
	}
	if _, err := sp.read(2, 1); err == nil {
		t.Errorf("reading back before what was read worked")
	}
}

func TestSpoolReadFromCursor(t *testing.T) {
	sp := newSpool(t.TempDir())
	defer sp.close()
	for i := range 10 {
		if err := sp.add(item{seq: i, rawLen: 1, valid: i%2 == 0, rec: bulkid.Record{Seq: i, ID: "x", Raw: []byte("x")}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := sp.rewind(); err != nil {
		t.Fatal(err)
	}
	got, err := sp.read(6, 3)
	if err != nil || len(got) != 3 || got[0].seq != 6 || got[2].seq != 8 || !got[0].valid || got[1].valid {
		t.Fatalf("read(6, 3) = %+v, %v; want records 6 to 8", got, err)
	}
	if got, err := sp.read(9, 3); err != nil || len(got) != 1 || got[0].seq != 9 {
		t.Fatalf("read(9, 3) = %+v, %v; want record 9", got, err)
	}
	if got, err := sp.read(10, 3); err != nil || len(got) != 0 {
		t.Fatalf("read past the end = %+v, %v; want nothing", got, err)
	}
}

// BenchmarkSpool writes and reads back the verdicts on 1,000 records of
// about 380 bytes, as validation and processing do for each batch.
func BenchmarkSpool(b *testing.B) {
	items := make([]item, 1000)
	for i := range items {
		raw := fmt.Appendf(nil, `{"company_id":"bench-%05d","metadata":{"name":"Acme Robotics %05d Inc.","plan":"pro","seats":%d,"website":"https://www.acme-robotics-%05d.example.com","industry":"Financial Services","country":"United Kingdom","mrr":1234.5,"arr":14814,"health_score":0.5,"is_paying":true,"on_trial":false,"churned_at":null,"created_at":"2017-06-03","last_seen_at":"2025-01-01T00:00:00.000Z"}}`, i, i, i, i)
		items[i] = item{seq: i, rawLen: len(raw), valid: true, rec: bulkid.Record{Seq: i, Pos: i, ID: fmt.Sprintf("bench-%05d", i), Metadata: raw[40 : len(raw)-1], Raw: raw}}
	}
	dir := b.TempDir()
	b.ReportAllocs()
	for b.Loop() {
		sp := newSpool(dir)
		for _, it := range items {
			if err := sp.add(it); err != nil {
				b.Fatal(err)
			}
		}
		if err := sp.rewind(); err != nil {
			b.Fatal(err)
		}
		if got, err := sp.read(0, len(items)); err != nil || len(got) != len(items) {
			b.Fatal(len(got), err)
		}
		sp.close()
	}
}
