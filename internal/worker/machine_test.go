package worker

import (
	"testing"

	"github.com/drover-dev/drover/internal/procstat"
)

func TestCPUPercent(t *testing.T) {
	base := procstat.CPUTimes{User: 1000, System: 500, Idle: 8000, IOWait: 500}
	tests := []struct {
		name  string
		after procstat.CPUTimes
		want  float64
	}{
		{"a quarter busy", procstat.CPUTimes{User: 1200, System: 550, Idle: 8700, IOWait: 550}, 25},
		{"all idle", procstat.CPUTimes{User: 1000, System: 500, Idle: 9000, IOWait: 500}, 0},
		{"all busy", procstat.CPUTimes{User: 1100, System: 600, Idle: 8000, IOWait: 500}, 100},
		{"steal is not idle", procstat.CPUTimes{User: 1000, System: 500, Idle: 8050, IOWait: 500, Steal: 50}, 50},
		{"no time passed", base, 0},
		{"the counters went back", procstat.CPUTimes{User: 10, Idle: 10}, 0},
		{"iowait went back", procstat.CPUTimes{User: 1300, System: 500, Idle: 8000, IOWait: 400}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cpuPercent(base, tt.after); got != tt.want {
				t.Errorf("cpuPercent = %v, want %v", got, tt.want)
			}
		})
	}
}
