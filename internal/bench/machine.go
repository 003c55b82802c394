package bench

import (
	"bytes"
	"os"
	"strconv"
	"time"
)

// userHZ is the unit of /proc/stat's times: USER_HZ, 100 on every Linux
// architecture Go supports.
const userHZ = 100

// machineBusy is how long the machine's CPUs have been busy (everything but
// idle and iowait) since boot, from /proc/stat; ok is false where it cannot
// be read. Differences of two readings give the CPU time every process on
// the machine used in between: drover's, the commands' it ran, the
// kernel's.
func machineBusy() (d time.Duration, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := bytes.Cut(b, []byte{'\n'})
	f := bytes.Fields(line)
	if len(f) < 6 || string(f[0]) != "cpu" {
		return 0, false
	}
	var busy int64
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return 0, false
		}
		switch i {
		case 3, 4: // idle, iowait
		case 7: // steal: the hypervisor's, not this machine's work
		case 8, 9: // guest, guest_nice: already counted in user and nice
		default:
			busy += n
		}
	}
	return time.Duration(busy) * time.Second / userHZ, true
}

// busyMeter measures machine CPU time over a span.
type busyMeter struct {
	start time.Duration
	ok    bool
}

func startBusy() busyMeter {
	d, ok := machineBusy()
	return busyMeter{start: d, ok: ok}
}

// stop returns the machine CPU time used since startBusy, or 0 if unknown.
func (m busyMeter) stop() time.Duration {
	d, ok := machineBusy()
	if !ok || !m.ok {
		return 0
	}
	return d - m.start
}
