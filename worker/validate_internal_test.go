package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/bulkid/bulkid"
)

// pageStore is a job's input in memory: JobRecords serves it (at most
// short records a call when short > 0), failing its failAt-th call with
// fault, and FinishValidation records the errors it is given.
type pageStore struct {
	Store // nil: only the methods below are called
	recs  []bulkid.RawRecord

	short  int
	failAt int
	fault  error

	mu       sync.Mutex
	calls    int // JobRecords calls
	in       int // JobRecords calls not returned
	finished [][]bulkid.RecordError
}

func (s *pageStore) JobRecords(ctx context.Context, jobID string, from, limit int) ([]bulkid.RawRecord, error) {
	s.mu.Lock()
	s.calls++
	s.in++
	call := s.calls
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.in--
		s.mu.Unlock()
	}()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if call == s.failAt {
		return nil, s.fault
	}
	if s.short > 0 {
		limit = min(limit, s.short)
	}
	i := sort.Search(len(s.recs), func(i int) bool { return s.recs[i].Seq >= from })
	// A fresh slice each call, as a store's.
	return slices.Clone(s.recs[i:min(i+limit, len(s.recs))]), nil
}

func (s *pageStore) FinishValidation(ctx context.Context, l bulkid.Lease, errs []bulkid.RecordError) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.finished = append(s.finished, slices.Clone(errs))
	return nil
}

func (s *pageStore) counts() (calls, in, finished int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls, s.in, len(s.finished)
}

// randomRecord is a record of a job of type t, valid or not in one of the
// ways a record fails.
func randomRecord(r *rand.Rand, t bulkid.JobType, i int) []byte {
	id := fmt.Sprintf(`"%s":"r%d"`, t.IDField(), i)
	if t == bulkid.JobUsers && r.IntN(2) == 0 {
		id += fmt.Sprintf(`,"company_id":"c%d"`, r.IntN(50))
	}
	meta := func(keys int) string {
		var b strings.Builder
		b.WriteByte('{')
		for k := range keys {
			if k > 0 {
				b.WriteByte(',')
			}
			// Unsorted keys, some repeated, of each primitive type.
			key := fmt.Sprintf("k%d", r.IntN(keys+3))
			switch r.IntN(5) {
			case 0:
				fmt.Fprintf(&b, `%q:%q`, key, strings.Repeat("v", r.IntN(400)))
			case 1:
				fmt.Fprintf(&b, `%q:%d`, key, r.IntN(1e6)-5e5)
			case 2:
				fmt.Fprintf(&b, `%q:%v`, key, r.IntN(2) == 0)
			case 3:
				fmt.Fprintf(&b, `%q:null`, key)
			default:
				fmt.Fprintf(&b, `%q:%.3f`, key, r.Float64()*1000)
			}
		}
		b.WriteByte('}')
		return b.String()
	}
	switch r.IntN(14) {
	case 0:
		return []byte(`{"metadata":{"a":1}}`) // no id
	case 1:
		return fmt.Appendf(nil, `{"%s":%d}`, t.IDField(), i) // id not a string
	case 2:
		return []byte(`[1,2,3]`) // not an object
	case 3:
		return fmt.Appendf(nil, `{%s,"metadata":{"a":`, id) // malformed
	case 4:
		return fmt.Appendf(nil, `{%s,"metadata":{"a":{"b":[1,{"c":2}]}}}`, id) // nested
	case 5:
		return fmt.Appendf(nil, `{%s,"metadata":"x"}`, id) // metadata not an object
	case 6:
		return bulkid.OversizedRecord(fmt.Appendf(nil, `{%s,"metadata":{`, id), bulkid.MaxRecordBytes+int64(r.IntN(1000)))
	case 7:
		return bulkid.MalformedRow("the row has 3 fields; the header names 2", []byte("a,b,c"))
	case 8:
		return fmt.Appendf(nil, `{%s,"metadata":%s}`, id, meta(bulkid.MaxMetadataKeys+1+r.IntN(5)))
	case 9:
		return fmt.Appendf(nil, `{%s}`, id) // no metadata
	default:
		return fmt.Appendf(nil, `{%s,"metadata":%s}`, id, meta(r.IntN(20)))
	}
}

// serialValidate is validation as it was written before it was spread
// over goroutines: each record validated in turn and its verdict spooled
// at once. It returns the spool's bytes, the record errors and the items.
func serialValidate(t *testing.T, job *bulkid.Job, recs []bulkid.RawRecord) ([]byte, []bulkid.RecordError, []item) {
	t.Helper()
	sp := newSpool(t.TempDir())
	defer sp.close()
	var errs []bulkid.RecordError
	var items []item
	for _, r := range recs {
		it, rerr := validateRecord(job, r)
		if rerr != nil {
			errs = append(errs, *rerr)
		}
		if err := sp.add(it); err != nil {
			t.Fatal(err)
		}
		items = append(items, it)
	}
	if err := sp.rewind(); err != nil {
		t.Fatal(err)
	}
	return spoolBytes(t, sp), errs, items
}

// spoolBytes is everything sp holds, written and rewound.
func spoolBytes(t *testing.T, sp *spool) []byte {
	t.Helper()
	if sp.k.f == nil {
		return slices.Clone(sp.k.mem)
	}
	fi, err := sp.k.f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(io.NewSectionReader(sp.k.f, 0, fi.Size()))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readAll reads sp back from its start, a few records at a time.
func readAll(t *testing.T, sp *spool) []item {
	t.Helper()
	var got []item
	for from := 0; ; {
		some, err := sp.read(from, 333)
		if err != nil {
			t.Fatal(err)
		}
		if len(some) == 0 {
			return got
		}
		got = append(got, some...)
		from = some[len(some)-1].seq + 1
	}
}

func quietPool(t *testing.T, st Store) *Pool {
	t.Helper()
	p, err := New(Config{Store: st, SpoolDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestValidateAsSerial: on random inputs with invalid records mixed in,
// of both job types, every source and nested rule, read in whole pages or
// short ones, validation stores the errors, in order, and spools the bytes
// that validating one record after another does, and the spool reads back
// as those records' verdicts. Some inputs are large enough that the spool
// is a file.
func TestValidateAsSerial(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 14))
	sizes := []int{1, 2, 63, 64, 65, 999, 1000, 1001, 2500, 4321}
	inFile, mixed := false, false
	for range 6 {
		sizes = append(sizes, 1+r.IntN(3*pageSize))
	}
	for _, n := range sizes {
		typ := []bulkid.JobType{bulkid.JobCompanies, bulkid.JobUsers}[r.IntN(2)]
		job := &bulkid.Job{ID: "j", Type: typ, TotalRows: n,
			Source: []bulkid.Source{bulkid.SourceJSON, bulkid.SourceNDJSON, bulkid.SourceCSV}[r.IntN(3)],
			Nested: []bulkid.NestedRule{bulkid.NestedRefuse, bulkid.NestedFlatten}[r.IntN(2)]}
		recs := make([]bulkid.RawRecord, n)
		pos := 0
		for i := range recs {
			pos += 1 + r.IntN(500)
			recs[i] = bulkid.RawRecord{Seq: i, Pos: pos, Raw: randomRecord(r, typ, i)}
		}
		st := &pageStore{recs: recs}
		if r.IntN(3) == 0 {
			st.short = 1 + r.IntN(pageSize)
		}
		name := fmt.Sprintf("%d-%s-%s-%s-short%d", n, typ, job.Source, job.Nested, st.short)
		t.Run(name, func(t *testing.T) {
			wantSpool, wantErrs, wantItems := serialValidate(t, job, recs)
			p := quietPool(t, st)
			run := *job
			sp, err := p.validate(context.Background(), bulkid.Lease{JobID: job.ID}, &run)
			if err != nil {
				t.Fatal(err)
			}
			defer sp.close()
			if sp == nil {
				t.Fatal("no spool")
			}
			if len(st.finished) != 1 {
				t.Fatalf("FinishValidation called %d times", len(st.finished))
			}
			if !reflect.DeepEqual(st.finished[0], wantErrs) {
				t.Errorf("errors differ from serial validation: got %d, want %d", len(st.finished[0]), len(wantErrs))
				for i := range min(len(st.finished[0]), len(wantErrs)) {
					if !reflect.DeepEqual(st.finished[0][i], wantErrs[i]) {
						t.Fatalf("first difference at %d:\n%+v\nwant\n%+v", i, st.finished[0][i], wantErrs[i])
					}
				}
			}
			inFile = inFile || sp.k.f != nil
			mixed = mixed || (len(wantErrs) > 0 && len(wantErrs) < n)
			if run.Status != bulkid.StatusProcessing || run.FailedRows != len(wantErrs) {
				t.Errorf("job %s with %d failed, want processing with %d", run.Status, run.FailedRows, len(wantErrs))
			}
			if got := spoolBytes(t, sp); !slices.Equal(got, wantSpool) {
				t.Errorf("spool differs from serial validation's (%d bytes, want %d)", len(got), len(wantSpool))
			}
			if got := readAll(t, sp); !reflect.DeepEqual(got, wantItems) {
				t.Errorf("spool reads back %d items unlike the serial verdicts (%d)", len(got), len(wantItems))
			}
		})
	}
	if !inFile || !mixed {
		t.Errorf("no input was large enough for a spool file (%v) or mixed valid and invalid records (%v)", inFile, mixed)
	}
}

// TestValidateStoreErrorStops: a read that fails, at any page, stops
// validation with the store's error: no later page is read, no errors are
// stored, no spool is returned, and no goroutine is left behind (synctest
// fails on one still blocked when the test ends).
func TestValidateStoreErrorStops(t *testing.T) {
	const n = 4500 // 5 pages
	r := rand.New(rand.NewPCG(1, 2))
	recs := make([]bulkid.RawRecord, n)
	for i := range recs {
		recs[i] = bulkid.RawRecord{Seq: i, Pos: i, Raw: randomRecord(r, bulkid.JobCompanies, i)}
	}
	fault := &bulkid.Error{Code: bulkid.EUNAVAILABLE, Message: "the store is gone"}
	for failAt := 1; failAt <= 5; failAt++ {
		t.Run(fmt.Sprint(failAt), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := &pageStore{recs: recs, failAt: failAt, fault: fault}
				p := quietPool(t, st)
				job := &bulkid.Job{ID: "j", Type: bulkid.JobCompanies, TotalRows: n, Status: bulkid.StatusValidating}
				sp, err := p.validate(context.Background(), bulkid.Lease{JobID: job.ID}, job)
				if !errors.Is(err, fault) {
					t.Errorf("validate = %v, want the store's error", err)
				}
				if sp != nil {
					sp.close()
					t.Error("a spool was returned with the error")
				}
				calls, in, finished := st.counts()
				if calls != failAt || in != 0 || finished != 0 {
					t.Errorf("%d reads (%d not returned), FinishValidation %d times; want %d reads, none in flight, no FinishValidation",
						calls, in, finished, failAt)
				}
				if job.Status != bulkid.StatusValidating || job.FailedRows != 0 {
					t.Errorf("job %s with %d failed; want it left validating", job.Status, job.FailedRows)
				}
			})
		})
	}
}

// TestValidateInputEndsEarly: input that ends before the job's total is
// an error, as it was, and nothing is stored.
func TestValidateInputEndsEarly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		recs := make([]bulkid.RawRecord, 1500)
		for i := range recs {
			recs[i] = bulkid.RawRecord{Seq: i, Pos: i, Raw: fmt.Appendf(nil, `{"company_id":"c%d"}`, i)}
		}
		st := &pageStore{recs: recs}
		p := quietPool(t, st)
		job := &bulkid.Job{ID: "j", Type: bulkid.JobCompanies, TotalRows: 2000}
		sp, err := p.validate(context.Background(), bulkid.Lease{JobID: job.ID}, job)
		if err == nil || !strings.Contains(err.Error(), "input ends at record 1500 of 2000") || sp != nil {
			t.Errorf("validate = %v, %v; want the input's end at 1500 of 2000", sp, err)
		}
		if calls, in, finished := st.counts(); calls != 3 || in != 0 || finished != 0 {
			t.Errorf("%d reads (%d not returned), FinishValidation %d times; want 3, 0, 0", calls, in, finished)
		}
	})
}

// TestReadPagesStops: once its context is done, the reader stops after
// at most the page it holds, and closes its channel.
func TestReadPagesStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		recs := make([]bulkid.RawRecord, 10*pageSize)
		for i := range recs {
			recs[i] = bulkid.RawRecord{Seq: i, Raw: []byte(`{}`)}
		}
		st := &pageStore{recs: recs}
		ctx, cancel := context.WithCancel(context.Background())
		pages := readPages(ctx, st, &bulkid.Job{ID: "j", TotalRows: len(recs)})
		if pg := <-pages; pg.err != nil || len(pg.recs) != pageSize || pg.recs[0].Seq != 0 {
			t.Fatalf("first page: %d records from %v, %v", len(pg.recs), pg.recs[0].Seq, pg.err)
		}
		synctest.Wait() // the reader holds the second page, waiting to send it
		cancel()
		got := 0
		for pg := range pages {
			got++
			if pg.err != nil || pg.recs[0].Seq != pageSize {
				t.Errorf("after the cancel: page from %d, %v; want at most the second page", pg.recs[0].Seq, pg.err)
			}
		}
		if calls, in, _ := st.counts(); got > 1 || calls != 2 || in != 0 {
			t.Errorf("%d pages received after the cancel, %d reads (%d not returned); want at most 1, 2 reads, 0", got, calls, in)
		}
	})
}

// BenchmarkValidate10k validates 10,000 companies of about 380 bytes, as
// bulkid bench's job-new sends, from input in memory: the phase's own CPU,
// without a store's reads. Compare -cpu 1,2.
func BenchmarkValidate10k(b *testing.B) {
	recs := make([]bulkid.RawRecord, 10000)
	for i := range recs {
		recs[i] = bulkid.RawRecord{Seq: i, Pos: i, Raw: fmt.Appendf(nil, `{"company_id":"bench-%05d","metadata":{"name":"Acme Robotics %05d Inc.","website":"https://www.acme-robotics-%05d.example.com","plan":"pro","industry":"Financial Services","country":"United Kingdom","seats":%d,"mrr":1234.5,"arr":14814,"health_score":0.5,"is_paying":true,"on_trial":false,"churned_at":null,"created_at":"2017-06-03","last_seen_at":"2025-01-01T00:00:00.000Z"}}`, i, i, i, i)}
	}
	st := &pageStore{recs: recs}
	p, err := New(Config{Store: st, SpoolDir: b.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		job := &bulkid.Job{ID: "j", Type: bulkid.JobCompanies, Source: bulkid.SourceJSON, TotalRows: len(recs)}
		sp, err := p.validate(context.Background(), bulkid.Lease{JobID: job.ID}, job)
		if err != nil || job.FailedRows != 0 {
			b.Fatal(err, job.FailedRows)
		}
		sp.close()
		st.finished = st.finished[:0]
	}
}
