package bench

import (
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
