package metrics

import (
	"context"
	"os"
	"runtime"
	rtmetrics "runtime/metrics"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/drover-dev/drover/internal/procstat"
)

// RegisterProcess adds the conventional process and Go runtime metrics.
// They are process_cpu_seconds_total, process_resident_memory_bytes,
// process_resident_memory_peak_bytes, process_start_time_seconds,
// process_open_fds, process_max_fds, go_goroutines, go_threads,
// go_gc_cycles_total and go_memstats_heap_inuse_bytes.
// The process's own figures come from procstat.
func RegisterProcess(r *Registry) {
	start := float64(time.Now().UnixNano()) / 1e9
	one := func(v float64) []Sample { return []Sample{{Value: v}} }
	r.GaugeFunc("process_cpu_seconds_total", "User and system CPU time spent in seconds.", "counter", nil,
		func(context.Context) ([]Sample, error) { return one(procstat.ReadProcess().CPU.Seconds()), nil })
	r.GaugeFunc("process_resident_memory_bytes", "Resident memory size in bytes.", "gauge", nil,
		func(context.Context) ([]Sample, error) { return one(float64(procstat.ReadProcess().RSS)), nil })
	r.GaugeFunc("process_resident_memory_peak_bytes", "Peak resident memory size in bytes (VmHWM).", "gauge", nil,
		func(context.Context) ([]Sample, error) { return one(float64(procstat.ReadProcess().PeakRSS)), nil })
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
