package worker

import (
	"bufio"
	"os"
	"strconv"
	"strings"

	"github.com/drover-dev/drover"
)

// machineStats samples the host's CPU, memory and load from /proc (Linux).
// CPU% is measured between two samples, so the first is 0.
type machineStats struct {
	lastIdle, lastTotal uint64
}

func newMachineStats() *machineStats {
	m := &machineStats{}
	m.lastIdle, m.lastTotal = readCPU()
	return m
}

func (m *machineStats) sample() drover.WorkerUsage {
	var u drover.WorkerUsage
	idle, total := readCPU()
	if dt := total - m.lastTotal; total > m.lastTotal && dt > 0 {
		u.CPUPercent = 100 * float64(dt-(idle-m.lastIdle)) / float64(dt)
	}
	m.lastIdle, m.lastTotal = idle, total
	memTotal, memAvail := readMem()
	u.MemoryTotalMB = memTotal >> 10
	u.MemoryUsedMB = (memTotal - memAvail) >> 10
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			u.Load1, _ = strconv.ParseFloat(f[0], 64)
		}
	}
	return u
}

func readCPU() (idle, total uint64) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, 0
	}
	fields := strings.Fields(sc.Text())
	for i, s := range fields[1:] {
		v, _ := strconv.ParseUint(s, 10, 64)
		total += v
		if i == 3 || i == 4 { // idle, iowait
			idle += v
		}
	}
	return idle, total
}

// readMem returns MemTotal and MemAvailable in KiB.
func readMem() (total, avail int64) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "MemTotal":
			total = n
		case "MemAvailable":
			avail = n
		}
	}
	return total, avail
}

// MemoryMB returns the machine's total memory in MiB (0 if unknown).
func MemoryMB() int64 {
	t, _ := readMem()
	return t >> 10
}
