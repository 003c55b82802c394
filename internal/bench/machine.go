package bench

import (
	"runtime"
	"runtime/debug"
	"time"

	"github.com/drover-dev/drover/internal/procstat"
)

// Machine describes where the run happened.
type Machine struct {
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpuModel"`
	MemoryMB int64  `json:"memoryMB"`
	OS       string `json:"os"`
	Go       string `json:"go"`
	// GCPercent is this process's garbage collector target.
	// It is GOGC, or drover's default. It trades memory for CPU, so results
	// name it.
	GCPercent int `json:"gcPercent"`
}

// machine describes this machine and this process.
func machine() Machine {
	mem, _ := procstat.ReadMemory()
	return Machine{CPUs: runtime.NumCPU(), CPUModel: procstat.ReadCPUModel(), MemoryMB: mem.Total >> 20,
		OS: runtime.GOOS + "/" + runtime.GOARCH, Go: runtime.Version(), GCPercent: gcPercent()}
}

// gcPercent reads the garbage collector's target without changing it.
func gcPercent() int {
	p := debug.SetGCPercent(-1)
	debug.SetGCPercent(p)
	return p
}

// busyMeter measures the machine's busy CPU time over a span.
// It counts every process on the machine: drover's, the commands it ran
// and the kernel's.
type busyMeter struct {
	start procstat.CPUTimes
	ok    bool
}

func startBusy() busyMeter {
	c, err := procstat.ReadCPUTimes()
	return busyMeter{start: c, ok: err == nil}
}

// stop returns the busy CPU time since startBusy.
// It is 0 where /proc/stat cannot be read.
func (m busyMeter) stop() time.Duration {
	c, err := procstat.ReadCPUTimes()
	if err != nil || !m.ok {
		return 0
	}
	return c.BusyTime() - m.start.BusyTime()
}
