package metrics

import (
	"bytes"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// This file is the Prometheus side written here rather than imported:
// counters, a gauge, histograms, their label sets, and the text format
// (version 0.0.4) they are served in, as Prometheus's Go client
// (client_golang) writes them. The client linked the protobuf runtime,
// procfs and expvar into the binary, and its init registered the Go and
// process collectors and protobuf descriptors in every process, with
// --metrics-addr set or not: 3.4 MB of binary, and 2 MiB of an idle
// server's resident memory, mostly the pages of code that init ran
// (issue 14). TestSameTextAsClientGolang checks that the text is the
// client's, byte for byte.

// counter is a monotonic count. Every count bulkid keeps is a whole
// number, so it is kept as one.
type counter struct{ n atomic.Uint64 }

func (c *counter) add(n int) {
	if n > 0 {
		c.n.Add(uint64(n))
	}
}

// gauge is a value that goes up and down.
type gauge struct{ n atomic.Int64 }

// histogram counts observations in buckets of fixed upper bounds, and
// their sum. A mutex, not atomics, so that a scrape reads the buckets,
// count and sum of the same observations (they are per request and per
// batch, never hot enough for it to matter).
type histogram struct {
	upper  []float64 // the buckets' upper bounds, ascending; +Inf is implied
	mu     sync.Mutex
	counts []uint64 // per bucket, not cumulative; the last is +Inf's
	sum    float64
}

func newHistogram(upper []float64) *histogram {
	return &histogram{upper: upper, counts: make([]uint64, len(upper)+1)}
}

func (h *histogram) observe(v float64) {
	i := sort.SearchFloat64s(h.upper, v) // the first bound ≥ v: le is inclusive
	h.mu.Lock()
	h.counts[i]++
	h.sum += v
	h.mu.Unlock()
}

// vec is a metric with labels: one series of T per set of label values,
// made on first use. Its label names are in the order the text format
// writes them (sorted, as client_golang sorts them), and values are given
// in that order.
type vec[T any] struct {
	names     []string
	newSeries func() *T
	mu        sync.RWMutex
	series    map[string]*labeled[T]
}

type labeled[T any] struct {
	values []string
	m      *T
}

func newVec[T any](newSeries func() *T, names ...string) *vec[T] {
	if !slices.IsSorted(names) {
		panic("metrics: label names must be sorted: " + strings.Join(names, ", "))
	}
	return &vec[T]{names: names, newSeries: newSeries, series: map[string]*labeled[T]{}}
}

// with returns the series of the label values, making it if new.
func (v *vec[T]) with(values ...string) *T {
	if len(values) != len(v.names) {
		panic("metrics: " + strconv.Itoa(len(values)) + " label values for " + strings.Join(v.names, ", "))
	}
	key := strings.Join(values, "\xff")
	v.mu.RLock()
	s, ok := v.series[key]
	v.mu.RUnlock()
	if ok {
		return s.m
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if s, ok := v.series[key]; ok {
		return s.m
	}
	s = &labeled[T]{values: slices.Clone(values), m: v.newSeries()}
	v.series[key] = s
	return s.m
}

// each calls f for every series, in the order of their label values.
func (v *vec[T]) each(f func(values []string, m *T)) {
	v.mu.RLock()
	all := make([]*labeled[T], 0, len(v.series))
	for _, s := range v.series {
		all = append(all, s)
	}
	v.mu.RUnlock()
	slices.SortFunc(all, func(a, b *labeled[T]) int { return slices.Compare(a.values, b.values) })
	for _, s := range all {
		f(s.values, s.m)
	}
}

// family is one metric family: what "# HELP" and "# TYPE" say, and what
// writes its samples. A family with no samples is left out, as the
// client leaves out a vector no series of which was made yet.
type family struct {
	name, help, typ string
	write           func(w *textWriter)
}

// textWriter writes samples in the text format.
type textWriter struct {
	b    bytes.Buffer
	name string // the family's
}

// writeFamilies writes the families, sorted by name.
func writeFamilies(fams []family) []byte {
	slices.SortFunc(fams, func(a, b family) int { return strings.Compare(a.name, b.name) })
	var w textWriter
	var samples textWriter
	for _, f := range fams {
		samples.b.Reset()
		samples.name = f.name
		f.write(&samples)
		if samples.b.Len() == 0 {
			continue
		}
		w.b.WriteString("# HELP ")
		w.b.WriteString(f.name)
		w.b.WriteByte(' ')
		writeEscaped(&w.b, f.help, false)
		w.b.WriteString("\n# TYPE ")
		w.b.WriteString(f.name)
		w.b.WriteByte(' ')
		w.b.WriteString(f.typ)
		w.b.WriteByte('\n')
		w.b.Write(samples.b.Bytes())
	}
	return w.b.Bytes()
}

// sample writes one line: the family's name with suffix, the labels
// (names with values, then extra, such as le, if not empty), and value.
func (w *textWriter) sample(suffix string, names, values []string, extraName, extraValue, value string) {
	w.b.WriteString(w.name)
	w.b.WriteString(suffix)
	if len(names) > 0 || extraName != "" {
		w.b.WriteByte('{')
		for i, n := range names {
			if i > 0 {
				w.b.WriteByte(',')
			}
			w.label(n, values[i])
		}
		if extraName != "" {
			if len(names) > 0 {
				w.b.WriteByte(',')
			}
			w.label(extraName, extraValue)
		}
		w.b.WriteByte('}')
	}
	w.b.WriteByte(' ')
	w.b.WriteString(value)
	w.b.WriteByte('\n')
}

func (w *textWriter) label(name, value string) {
	w.b.WriteString(name)
	w.b.WriteString(`="`)
	writeEscaped(&w.b, value, true)
	w.b.WriteByte('"')
}

// writeHistogram writes a histogram's cumulative buckets, sum and count.
func (w *textWriter) writeHistogram(names, values []string, h *histogram) {
	h.mu.Lock()
	counts := slices.Clone(h.counts)
	sum := h.sum
	h.mu.Unlock()
	var cum uint64
	for i, c := range counts {
		cum += c
		le := "+Inf"
		if i < len(h.upper) {
			le = formatFloat(h.upper[i])
		}
		w.sample("_bucket", names, values, "le", le, formatUint(cum))
	}
	w.sample("_sum", names, values, "", "", formatFloat(sum))
	w.sample("_count", names, values, "", "", formatUint(cum))
}

// writeEscaped writes s with backslash and line feed escaped, and double
// quotes too in a label value, as the text format wants.
func writeEscaped(b *bytes.Buffer, s string, quote bool) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '"' && quote:
			b.WriteString(`\"`)
		default:
			b.WriteByte(c)
		}
	}
}

// formatFloat writes a value as client_golang does: the shortest form
// that reads back as the same float64.
func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case math.IsNaN(f):
		return "NaN"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func formatUint(n uint64) string { return strconv.FormatUint(n, 10) }
