package metrics

import (
	"bytes"
	"errors"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"
)

// The go_* and process_* families: those client_golang's default Go and
// process collectors expose (v1.25, on Linux), with their names, help and
// types, read when scraped.

// goFamilies reads the Go runtime's figures.
func goFamilies() []family {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var gc debug.GCStats
	gc.PauseQuantiles = make([]time.Duration, 5)
	debug.ReadGCStats(&gc)
	rm := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/gomemlimit:bytes"}, {Name: "/sched/gomaxprocs:threads"}}
	metrics.Read(rm)
	threads, _ := runtime.ThreadCreateProfile(nil)

	fams := []family{
		{"go_gc_duration_seconds", "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.", "summary",
			func(w *textWriter) {
				for i, q := range []string{"0", "0.25", "0.5", "0.75", "1"} {
					w.sample("", nil, nil, "quantile", q, formatFloat(gc.PauseQuantiles[i].Seconds()))
				}
				w.sample("_sum", nil, nil, "", "", formatFloat(gc.PauseTotal.Seconds()))
				w.sample("_count", nil, nil, "", "", formatUint(uint64(gc.NumGC)))
			}},
		gaugeOf("go_gc_gogc_percent", "Heap size target percentage configured by the user, otherwise 100. This value is set by the GOGC environment variable, and the runtime/debug.SetGCPercent function. Sourced from /gc/gogc:percent.",
			float64(sampleUint(rm[0]))),
		gaugeOf("go_gc_gomemlimit_bytes", "Go runtime memory limit configured by the user, otherwise math.MaxInt64. This value is set by the GOMEMLIMIT environment variable, and the runtime/debug.SetMemoryLimit function. Sourced from /gc/gomemlimit:bytes.",
			float64(sampleUint(rm[1]))),
		gaugeOf("go_goroutines", "Number of goroutines that currently exist.", float64(runtime.NumGoroutine())),
		{"go_info", "Information about the Go environment.", "gauge", func(w *textWriter) {
			w.sample("", []string{"version"}, []string{runtime.Version()}, "", "", "1")
		}},
		gaugeOf("go_sched_gomaxprocs_threads", "The current runtime.GOMAXPROCS setting, or the number of operating system threads that can execute user-level Go code simultaneously. Sourced from /sched/gomaxprocs:threads.",
			float64(sampleUint(rm[2]))),
		gaugeOf("go_threads", "Number of OS threads created.", float64(threads)),
	}
	for _, m := range []struct {
		name, help string
		v          uint64
		counter    bool
	}{
		{"alloc_bytes", "Number of bytes allocated in heap and currently in use. Equals to /memory/classes/heap/objects:bytes.", ms.Alloc, false},
		{"alloc_bytes_total", "Total number of bytes allocated in heap until now, even if released already. Equals to /gc/heap/allocs:bytes.", ms.TotalAlloc, true},
		{"buck_hash_sys_bytes", "Number of bytes used by the profiling bucket hash table. Equals to /memory/classes/profiling/buckets:bytes.", ms.BuckHashSys, false},
		{"frees_total", "Total number of heap objects frees. Equals to /gc/heap/frees:objects + /gc/heap/tiny/allocs:objects.", ms.Frees, true},
		{"gc_sys_bytes", "Number of bytes used for garbage collection system metadata. Equals to /memory/classes/metadata/other:bytes.", ms.GCSys, false},
		{"heap_alloc_bytes", "Number of heap bytes allocated and currently in use, same as go_memstats_alloc_bytes. Equals to /memory/classes/heap/objects:bytes.", ms.HeapAlloc, false},
		{"heap_idle_bytes", "Number of heap bytes waiting to be used. Equals to /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.", ms.HeapIdle, false},
		{"heap_inuse_bytes", "Number of heap bytes that are in use. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes", ms.HeapInuse, false},
		{"heap_objects", "Number of currently allocated objects. Equals to /gc/heap/objects:objects.", ms.HeapObjects, false},
		{"heap_released_bytes", "Number of heap bytes released to OS. Equals to /memory/classes/heap/released:bytes.", ms.HeapReleased, false},
		{"heap_sys_bytes", "Number of heap bytes obtained from system. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes + /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.", ms.HeapSys, false},
		{"mallocs_total", "Total number of heap objects allocated, both live and gc-ed. Semantically a counter version for go_memstats_heap_objects gauge. Equals to /gc/heap/allocs:objects + /gc/heap/tiny/allocs:objects.", ms.Mallocs, true},
		{"mcache_inuse_bytes", "Number of bytes in use by mcache structures. Equals to /memory/classes/metadata/mcache/inuse:bytes.", ms.MCacheInuse, false},
		{"mcache_sys_bytes", "Number of bytes used for mcache structures obtained from system. Equals to /memory/classes/metadata/mcache/inuse:bytes + /memory/classes/metadata/mcache/free:bytes.", ms.MCacheSys, false},
		{"mspan_inuse_bytes", "Number of bytes in use by mspan structures. Equals to /memory/classes/metadata/mspan/inuse:bytes.", ms.MSpanInuse, false},
		{"mspan_sys_bytes", "Number of bytes used for mspan structures obtained from system. Equals to /memory/classes/metadata/mspan/inuse:bytes + /memory/classes/metadata/mspan/free:bytes.", ms.MSpanSys, false},
		{"next_gc_bytes", "Number of heap bytes when next garbage collection will take place. Equals to /gc/heap/goal:bytes.", ms.NextGC, false},
		{"other_sys_bytes", "Number of bytes used for other system allocations. Equals to /memory/classes/other:bytes.", ms.OtherSys, false},
		{"stack_inuse_bytes", "Number of bytes obtained from system for stack allocator in non-CGO environments. Equals to /memory/classes/heap/stacks:bytes.", ms.StackInuse, false},
		{"stack_sys_bytes", "Number of bytes obtained from system for stack allocator. Equals to /memory/classes/heap/stacks:bytes + /memory/classes/os-stacks:bytes.", ms.StackSys, false},
		{"sys_bytes", "Number of bytes obtained from system. Equals to /memory/classes/total:byte.", ms.Sys, false},
	} {
		f := gaugeOf("go_memstats_"+m.name, m.help, float64(m.v))
		if m.counter {
			f.typ = "counter"
		}
		fams = append(fams, f)
	}
	fams = append(fams, gaugeOf("go_memstats_last_gc_time_seconds", "Number of seconds since 1970 of last garbage collection.", float64(ms.LastGC)/1e9))
	return fams
}

// sampleUint is a runtime/metrics sample's value, 0 if this Go has none.
func sampleUint(s metrics.Sample) uint64 {
	if s.Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s.Value.Uint64()
}

// gaugeOf is a family of one gauge sample without labels.
func gaugeOf(name, help string, v float64) family {
	return family{name, help, "gauge", func(w *textWriter) { w.sample("", nil, nil, "", "", formatFloat(v)) }}
}

// counterOf is a family of one counter sample without labels.
func counterOf(name, help string, v float64) family {
	f := gaugeOf(name, help, v)
	f.typ = "counter"
	return f
}

// userHZ is the unit of the CPU times and start time in /proc/PID/stat,
// USER_HZ, 100 on every Linux Go runs on (procfs assumes it too).
const userHZ = 100

// processFamilies reads the process's figures from /proc/self (Linux;
// elsewhere none, as client_golang has none without procfs). The error
// is the first read that failed; the families of the reads that worked
// are returned anyway.
func processFamilies() ([]family, error) {
	if runtime.GOOS != "linux" {
		return nil, nil
	}
	var fams []family
	var errs []error
	if st, err := readStat(); err == nil {
		fams = append(fams,
			counterOf("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", st.cpu),
			gaugeOf("process_virtual_memory_bytes", "Virtual memory size in bytes.", st.vsize),
			gaugeOf("process_resident_memory_bytes", "Resident memory size in bytes.", st.rss),
			gaugeOf("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", st.start))
	} else {
		errs = append(errs, err)
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		// The directory's own descriptor, open while it is read, is
		// counted, as procfs counts it.
		fams = append(fams, gaugeOf("process_open_fds", "Number of open file descriptors.", float64(len(fds))))
	} else {
		errs = append(errs, err)
	}
	if files, space, err := readLimits(); err == nil {
		fams = append(fams,
			gaugeOf("process_max_fds", "Maximum number of open file descriptors.", files),
			gaugeOf("process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes.", space))
	} else {
		errs = append(errs, err)
	}
	if in, out, err := readNetstat(); err == nil {
		fams = append(fams,
			counterOf("process_network_receive_bytes_total", "Number of bytes received by the process over the network.", in),
			counterOf("process_network_transmit_bytes_total", "Number of bytes sent by the process over the network.", out))
	} else {
		errs = append(errs, err)
	}
	return fams, errors.Join(errs...)
}

type procStat struct{ cpu, vsize, rss, start float64 }

// readStat reads /proc/self/stat, and the boot time from /proc/stat for
// the start time.
func readStat() (procStat, error) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return procStat{}, err
	}
	// The command, in parentheses, may hold spaces and parentheses: the
	// fields are those after the last ")", from the third (state) on.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errors.New("/proc/self/stat: no command")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 22 {
		return procStat{}, errors.New("/proc/self/stat: too few fields")
	}
	num := func(s string) float64 { n, _ := strconv.ParseUint(s, 10, 64); return float64(n) }
	boot, err := bootTime()
	if err != nil {
		return procStat{}, err
	}
	// utime, stime, starttime, vsize and rss are fields 14, 15, 22, 23
	// and 24 of proc(5), f[11], f[12], f[19], f[20] and f[21] here.
	return procStat{
		cpu:   (num(f[11]) + num(f[12])) / userHZ,
		start: boot + num(f[19])/userHZ,
		vsize: num(f[20]),
		rss:   num(f[21]) * float64(os.Getpagesize()),
	}, nil
}

// bootTime is btime of /proc/stat: when the machine booted, in seconds
// since the epoch.
func bootTime() (float64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return float64(n), err
		}
	}
	return 0, errors.New("/proc/stat: no btime")
}

// readLimits reads the soft limits on open files and on the address
// space from /proc/self/limits; "unlimited" is the largest uint64.
func readLimits() (files, space float64, err error) {
	b, err := os.ReadFile("/proc/self/limits")
	if err != nil {
		return 0, 0, err
	}
	var found int
	for line := range strings.Lines(string(b)) {
		var dst *float64
		var rest string
		if v, ok := strings.CutPrefix(line, "Max open files"); ok {
			dst, rest = &files, v
		} else if v, ok := strings.CutPrefix(line, "Max address space"); ok {
			dst, rest = &space, v
		} else {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0, 0, errors.New("/proc/self/limits: " + strings.TrimSpace(line))
		}
		if f[0] == "unlimited" {
			*dst = math.MaxUint64
		} else if n, err := strconv.ParseUint(f[0], 10, 64); err == nil {
			*dst = float64(n)
		} else {
			return 0, 0, err
		}
		found++
	}
	if found != 2 {
		return 0, 0, errors.New("/proc/self/limits: no open files or address space limit")
	}
	return files, space, nil
}

// readNetstat reads the IpExt InOctets and OutOctets of
// /proc/self/net/netstat (the network namespace's, as procfs reads them):
// a line of names, then a line of values.
func readNetstat() (in, out float64, err error) {
	b, err := os.ReadFile("/proc/self/net/netstat")
	if err != nil {
		return 0, 0, err
	}
	var names []string
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "IpExt:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, name := range names {
			if i == 0 || i >= len(f) {
				continue
			}
			n, _ := strconv.ParseFloat(f[i], 64)
			switch name {
			case "InOctets":
				in = n
			case "OutOctets":
				out = n
			}
		}
		return in, out, nil
	}
	return 0, 0, nil // no IpExt: client_golang writes zeros too
}
