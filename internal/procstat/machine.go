package procstat

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of /proc/stat's times.
// It is 100 on every Linux architecture Go supports.
const userHZ = 100

// CPUTimes is how long the machine's CPUs spent in each state since boot.
// The times are in clock ticks summed over all CPUs.
type CPUTimes struct {
	User, Nice, System, Idle, IOWait, IRQ, SoftIRQ, Steal uint64
}

// Busy is the time the CPUs did work for this machine.
// Idle and iowait are not work. Steal is the hypervisor's work for others.
// Guest time is left out because user and nice count it already.
func (c CPUTimes) Busy() uint64 {
	return c.User + c.Nice + c.System + c.IRQ + c.SoftIRQ
}

// Waiting is the time the CPUs were idle, with or without pending I/O.
func (c CPUTimes) Waiting() uint64 { return c.Idle + c.IOWait }

// Total is all the time the CPUs counted, each tick once.
func (c CPUTimes) Total() uint64 { return c.Busy() + c.Waiting() + c.Steal }

// BusyTime is Busy as a duration.
func (c CPUTimes) BusyTime() time.Duration {
	return time.Duration(c.Busy()) * time.Second / userHZ
}

// ReadCPUTimes reads the machine's CPU times from /proc/stat.
func ReadCPUTimes() (CPUTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return CPUTimes{}, err
	}
	return parseStat(b)
}

// parseStat reads the first line of /proc/stat, which sums all CPUs.
// Kernels older than the iowait field give four values; the rest are zero.
func parseStat(b []byte) (CPUTimes, error) {
	line, _, _ := bytes.Cut(b, []byte{'\n'})
	f := strings.Fields(string(line))
	if len(f) < 5 || f[0] != "cpu" {
		return CPUTimes{}, fmt.Errorf("parse /proc/stat: first line %q is not the cpu line", line)
	}
	var v [8]uint64
	for i, s := range f[1:min(len(f), 1+len(v))] {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return CPUTimes{}, fmt.Errorf("parse /proc/stat: %w", err)
		}
		v[i] = n
	}
	return CPUTimes{User: v[0], Nice: v[1], System: v[2], Idle: v[3], IOWait: v[4], IRQ: v[5], SoftIRQ: v[6], Steal: v[7]}, nil
}

// Memory is the machine's memory in bytes.
type Memory struct {
	Total int64
	// Available is what new work can have without swapping.
	Available int64
}

// ReadMemory reads the machine's memory from /proc/meminfo.
func ReadMemory() (Memory, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return Memory{}, err
	}
	defer f.Close()
	return parseMeminfo(f)
}

// parseMeminfo reads MemTotal and MemAvailable.
// A file without MemTotal is an error.
func parseMeminfo(r io.Reader) (Memory, error) {
	var m Memory
	err := eachKB(r, func(key string, kb int64) {
		switch key {
		case "MemTotal":
			m.Total = kb << 10
		case "MemAvailable":
			m.Available = kb << 10
		}
	})
	if err == nil && m.Total == 0 {
		err = errors.New("parse /proc/meminfo: no MemTotal")
	}
	return m, err
}

// eachKB calls fn with each "Key: N kB" line of a /proc file.
// Lines that are not numbers are skipped.
func eachKB(r io.Reader, fn func(key string, kb int64)) error {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			continue
		}
		fn(k, n)
	}
	return sc.Err()
}

// ReadLoad1 reads the machine's load average over one minute.
func ReadLoad1() (float64, error) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, err
	}
	return parseLoadavg(b)
}

// parseLoadavg reads the first field of /proc/loadavg.
func parseLoadavg(b []byte) (float64, error) {
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, errors.New("parse /proc/loadavg: empty")
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0, fmt.Errorf("parse /proc/loadavg: %w", err)
	}
	return v, nil
}

// ReadCPUModel reads the CPU's model name from /proc/cpuinfo.
// It is "" where the file or the name is missing.
func ReadCPUModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	return parseCPUInfo(f)
}

// parseCPUInfo returns the first "model name" of /proc/cpuinfo.
func parseCPUInfo(r io.Reader) string {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
