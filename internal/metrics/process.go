package metrics

import (
	"bufio"
	"context"
	"os"
	"runtime"
	rtmetrics "runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Process is what the kernel says about this process: CPU time used and
// resident memory now and at its peak.
type Process struct {
	CPU     time.Duration // user + system
	RSS     int64         // bytes resident now
	PeakRSS int64         // bytes resident at the peak (VmHWM), since start or ResetPeakRSS
}

// ReadProcess reads the figures of the calling process. CPU comes from
// getrusage (microsecond resolution); memory from /proc/self/status, so on
// systems without /proc the memory fields are 0.
func ReadProcess() Process {
	p := Process{CPU: cpuTime()}
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return p
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			p.RSS = kb << 10
		case "VmHWM":
			p.PeakRSS = kb << 10
		}
	}
	return p
}

// ResetPeakRSS starts the peak resident size (VmHWM) over from the current
// size, so a measurement reports the peak of its own window (Linux 4.0+;
// elsewhere it does nothing and the peak counts from the start).
func ResetPeakRSS() {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// RegisterProcess adds the conventional process and Go runtime metrics:
// process_cpu_seconds_total, process_resident_memory_bytes,
// process_resident_memory_peak_bytes, process_start_time_seconds,
// process_open_fds, process_max_fds, go_goroutines, go_threads,
// go_gc_cycles_total and go_memstats_heap_inuse_bytes.
func RegisterProcess(r *Registry) {
	start := float64(time.Now().UnixNano()) / 1e9
	one := func(v float64) []Sample { return []Sample{{Value: v}} }
	r.GaugeFunc("process_cpu_seconds_total", "User and system CPU time spent in seconds.", "counter", nil,
		func(context.Context) ([]Sample, error) { return one(ReadProcess().CPU.Seconds()), nil })
	r.GaugeFunc("process_resident_memory_bytes", "Resident memory size in bytes.", "gauge", nil,
		func(context.Context) ([]Sample, error) { return one(float64(ReadProcess().RSS)), nil })
	r.GaugeFunc("process_resident_memory_peak_bytes", "Peak resident memory size in bytes (VmHWM).", "gauge", nil,
		func(context.Context) ([]Sample, error) { return one(float64(ReadProcess().PeakRSS)), nil })
	r.GaugeFunc("process_start_time_seconds", "Start time of the process since the Unix epoch in seconds.", "gauge", nil,
		func(context.Context) ([]Sample, error) { return one(start), nil })
	r.GaugeFunc("process_open_fds", "Number of open file descriptors.", "gauge", nil,
		func(context.Context) ([]Sample, error) {
			des, err := os.ReadDir("/proc/self/fd")
			if err != nil {
				return nil, nil // no /proc: no sample
			}
			return one(float64(len(des) - 1)), nil // less the one reading it
		})
	r.GaugeFunc("process_max_fds", "Maximum number of open file descriptors.", "gauge", nil,
		func(context.Context) ([]Sample, error) {
			var rl syscall.Rlimit
			if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
				return nil, nil
			}
			return one(float64(rl.Cur)), nil
		})
	r.GaugeFunc("go_goroutines", "Number of goroutines that currently exist.", "gauge", nil,
		func(context.Context) ([]Sample, error) { return one(float64(runtime.NumGoroutine())), nil })
	r.GaugeFunc("go_threads", "Number of OS threads created.", "gauge", nil,
		func(context.Context) ([]Sample, error) {
			return one(float64(pprof.Lookup("threadcreate").Count())), nil
		})
	r.GaugeFunc("go_gc_cycles_total", "Garbage collection cycles completed.", "counter", nil,
		func(context.Context) ([]Sample, error) {
			m := []rtmetrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
			rtmetrics.Read(m)
			if m[0].Value.Kind() != rtmetrics.KindUint64 {
				return nil, nil
			}
			return one(float64(m[0].Value.Uint64())), nil
		})
	r.GaugeFunc("go_memstats_heap_inuse_bytes", "Bytes in in-use heap spans.", "gauge", nil,
		func(context.Context) ([]Sample, error) {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			return one(float64(m.HeapInuse)), nil
		})
}
