package worker

import (
	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/procstat"
)

// machineStats samples the machine's CPU, memory and load for heartbeats.
// CPU use is measured between two samples, so the first sample reads none.
type machineStats struct {
	last procstat.CPUTimes
}

func newMachineStats() *machineStats {
	m := &machineStats{}
	m.last, _ = procstat.ReadCPUTimes()
	return m
}

// sample reads the machine now.
// A reading that fails is left at zero.
func (m *machineStats) sample() drover.WorkerUsage {
	var u drover.WorkerUsage
	if now, err := procstat.ReadCPUTimes(); err == nil {
		u.CPUPercent = cpuPercent(m.last, now)
		m.last = now
	}
	if mem, err := procstat.ReadMemory(); err == nil {
		u.MemoryTotalMB = mem.Total >> 20
		u.MemoryUsedMB = (mem.Total - mem.Available) >> 20
	}
	u.Load1, _ = procstat.ReadLoad1()
	return u
}

// cpuPercent is the share of CPU time not idle between two readings.
// Steal counts as not idle: the machine could not have the CPU.
// Readings that did not move forward give 0.
func cpuPercent(before, after procstat.CPUTimes) float64 {
	if after.Total() <= before.Total() || after.Waiting() < before.Waiting() {
		return 0
	}
	total := after.Total() - before.Total()
	waiting := after.Waiting() - before.Waiting()
	if waiting > total {
		return 0
	}
	return 100 * float64(total-waiting) / float64(total)
}
