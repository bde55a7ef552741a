package bench

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"
)

// The scenarios themselves run in cmd/bulkid's TestBenchCommand, against
// the real binary; these are the pure parts of the report.

func TestSelectScenarios(t *testing.T) {
	def, err := selectScenarios("", false)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(def, "many-apps") || slices.Contains(def, "throttle") || slices.Contains(def, "seq-100k") {
		t.Errorf("default on SQLite = %q, want neither the optional scenarios nor seq-100k", def)
	}
	pg, _ := selectScenarios("", true)
	if !slices.Contains(pg, "seq-100k") {
		t.Errorf("default on PostgreSQL = %q, want seq-100k", pg)
	}
	got, err := selectScenarios(" accept-json, job-new ,", false)
	if err != nil || !slices.Equal(got, []string{"accept-json", "job-new"}) {
		t.Errorf("selectScenarios(list) = %q, %v", got, err)
	}
	if _, err := selectScenarios("nope", false); err == nil {
		t.Error("an unknown scenario was accepted")
	}
}

func TestSummaryStat(t *testing.T) {
	s := newSummaryStat([]float64{3, 1, 2, 10})
	if s.Median != 2.5 || s.Min != 1 || s.Max != 10 || !slices.Equal(s.Samples, []float64{3, 1, 2, 10}) {
		t.Errorf("stat = %+v", s)
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		unit string
		want string
	}{
		{1234567, "rows/s", "1,234,567 rows/s"},
		{4.234, "ms", "4.23 ms"},
		{42.26, "ms", "42.3 ms"},
		{764.4, "ms", "764 ms"},
		{29.21, "MiB", "29.2 MiB"},
	} {
		if got := formatValue(tc.v, tc.unit); got != tc.want {
			t.Errorf("formatValue(%v, %q) = %q, want %q", tc.v, tc.unit, got, tc.want)
		}
	}
	if got := commandLine([]string{"--scenarios", "a b"}); got != "bulkid bench --scenarios 'a b'" {
		t.Errorf("commandLine = %q", got)
	}
}

func TestRepeatScenario(t *testing.T) {
	def, _ := selectScenarios("", true)
	if slices.Contains(def, "repeat") {
		t.Errorf("default = %q, want repeat only when asked for (it runs many jobs)", def)
	}
	if got, err := selectScenarios("repeat", false); err != nil || !slices.Equal(got, []string{"repeat"}) {
		t.Errorf("selectScenarios(repeat) = %q, %v", got, err)
	}
	ms := func(xs ...int) []time.Duration {
		var out []time.Duration
		for _, x := range xs {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	st := summarizeRepeat(ms(100, 90, 110, 120, 130, 140, 150, 160, 170, 200, 250, 300))
	if st.First != 100*time.Millisecond || st.Last != 300*time.Millisecond || st.Median != 145*time.Millisecond {
		t.Errorf("first, median, last = %v, %v, %v", st.First, st.Median, st.Last)
	}
	if st.Ratio != 3 {
		t.Errorf("last ÷ first = %v, want 3", st.Ratio)
	}
	// The first five: median 110; the last five: median 200.
	if want := 200.0 / 110; st.Tail != want {
		t.Errorf("tail = %v, want %v", st.Tail, want)
	}
	two := summarizeRepeat(ms(100, 150))
	if two.Ratio != 1.5 || two.Tail != 1.5 || two.Median != 125*time.Millisecond {
		t.Errorf("two jobs: %+v", two)
	}
	if s := sizesString([]storeSize{{"job_input", 1.25, 40}, {"bulkid.db", 2, -1}}); s != "job_input 1.2 MiB (40 dead tuples), bulkid.db 2.0 MiB" {
		t.Errorf("sizesString = %q", s)
	}
}

func TestPeerNDJSON(t *testing.T) {
	d := genCompanies("p-", 3, 2)
	lines := bytes.Split(bytes.TrimSuffix(peerNDJSON(d.rows), []byte("\n")), []byte("\n"))
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3", len(lines))
	}
	for i, line := range lines {
		var got, meta map[string]any
		if err := json.Unmarshal(line, &got); err != nil {
			t.Fatalf("line %d is not a JSON object: %v: %s", i, err, line)
		}
		if err := json.Unmarshal(d.rows[i].metadata, &meta); err != nil {
			t.Fatal(err)
		}
		// The same values as bulkid's metadata, flat beside the id.
		meta["company_id"] = d.rows[i].id
		if !reflect.DeepEqual(got, meta) {
			t.Errorf("line %d = %v, want %v", i, got, meta)
		}
		if len(got) != 15 {
			t.Errorf("line %d has %d keys, want company_id and 14 metadata keys", i, len(got))
		}
	}
	if got := string(peerNDJSON([]dataRow{{id: "x", metadata: []byte("{}")}})); got != "{\"company_id\":\"x\"}\n" {
		t.Errorf("empty metadata: %q", got)
	}
	if _, err := selectScenarios("peer", true); err != nil {
		t.Error(err)
	}
	if def, _ := selectScenarios("", true); slices.Contains(def, "peer") {
		t.Errorf("default = %q, want peer only when asked for (it needs a peer running)", def)
	}
}

func TestProcStat(t *testing.T) {
	// A command name with spaces and a parenthesis; utime 12, stime 3,
	// cutime 100, cstime 50 (fields 14 to 17).
	line := "2213 (postgres: a) b) S 1 2213 2213 0 -1 4194304 14795 773508 0 15 12 3 100 50 20 0 1 0 5530 222543872 7615"
	p, ok := parseProcStat(line)
	if !ok || p.comm != "postgres: a) b" || p.own != 15 || p.waitedKids != 150 {
		t.Errorf("parseProcStat = %+v, %v", p, ok)
	}
	if _, ok := parseProcStat("12 (x) S 1 2"); ok {
		t.Error("a short line parsed")
	}
	if d, ok := parseSchedstat("1674355296 29454965911 26485\n"); !ok || d != 1674355296*time.Nanosecond {
		t.Errorf("parseSchedstat = %v, %v", d, ok)
	}
	// This machine's own reading never goes backwards.
	a, _ := postgresCPU()
	b, _ := postgresCPU()
	if b < a {
		t.Errorf("postgresCPU went from %v to %v", a, b)
	}
}

func TestPGCPUVsFloor(t *testing.T) {
	r := &scenarioResult{}
	r.pgCPUVsFloor(300*time.Millisecond, 200*time.Millisecond, 10_000)
	r.finish()
	want := map[string]float64{"PostgreSQL CPU per row": 30, "PostgreSQL CPU per row, floor (the cheaper method)": 20,
		"PostgreSQL CPU per row ÷ the floor's": 1.5}
	for _, m := range r.Metrics {
		if w, ok := want[m.Name]; !ok || m.Median != w {
			t.Errorf("%s = %v, want %v", m.Name, m.Median, w)
		}
		delete(want, m.Name)
	}
	if len(want) > 0 {
		t.Errorf("missing metrics %v", want)
	}
}
