package procstat

import (
	"io"
	"os"
	"time"
)

// Process is what the kernel says about this process.
type Process struct {
	// CPU is the user and system CPU time used so far.
	CPU time.Duration
	// RSS is the bytes resident now.
	RSS int64
	// PeakRSS is the most bytes resident at once (VmHWM).
	// It counts from the start, or from the last ResetPeakRSS.
	PeakRSS int64
}

// ReadProcess reads the figures of the calling process.
// CPU comes from getrusage. Memory comes from /proc/self/status, so it is
// zero on systems without /proc.
func ReadProcess() Process {
	p := Process{CPU: cpuTime()}
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return p
	}
	defer f.Close()
	p.RSS, p.PeakRSS = parseStatus(f)
	return p
}

// parseStatus reads VmRSS and VmHWM of a /proc/PID/status file in bytes.
func parseStatus(r io.Reader) (rss, peak int64) {
	_ = eachKB(r, func(key string, kb int64) {
		switch key {
		case "VmRSS":
			rss = kb << 10
		case "VmHWM":
			peak = kb << 10
		}
	})
	return rss, peak
}

// ResetPeakRSS starts the peak resident size over from the current size.
// A measurement then reports the peak of its own window.
// It needs Linux 4.0 or later. Elsewhere it does nothing and the peak
// counts from the start.
func ResetPeakRSS() {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}
