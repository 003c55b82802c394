package procstat

import (
	"strings"
	"testing"
)

func TestParseStatus(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		rss, peak int64
	}{
		{
			name: "both",
			in:   "Name:\tdrover\nVmPeak:\t  900000 kB\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nThreads:\t8\n",
			rss:  10240 << 10, peak: 20480 << 10,
		},
		{name: "a kernel thread has neither", in: "Name:\tkthreadd\nThreads:\t1\n"},
		{name: "empty", in: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rss, peak := parseStatus(strings.NewReader(tt.in))
			if rss != tt.rss || peak != tt.peak {
				t.Errorf("parseStatus = %d, %d; want %d, %d", rss, peak, tt.rss, tt.peak)
			}
		})
	}
}

func TestReadProcess(t *testing.T) {
	p := ReadProcess()
	if p.CPU <= 0 || p.RSS <= 0 || p.PeakRSS < p.RSS {
		t.Errorf("ReadProcess = %+v: want CPU and RSS above zero and peak ≥ RSS", p)
	}
}
