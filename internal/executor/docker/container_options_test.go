package docker

import "testing"

func TestCPULimits(t *testing.T) {
	for _, tc := range []struct {
		milli                   int64
		ncpu                    int
		cfsPeriod               bool
		period, quota, nanoCPUs int64
	}{
		{milli: 1, ncpu: 4, cfsPeriod: true, period: 1_000_000, quota: 10_000}, // raised to 0.01 core
		{milli: 100, ncpu: 4, cfsPeriod: true, period: 1_000_000, quota: 100_000},
		{milli: 999, ncpu: 4, cfsPeriod: true, period: 1_000_000, quota: 999_000},
		{milli: 1000, ncpu: 4, cfsPeriod: true, nanoCPUs: 1_000_000_000},
		{milli: 2500, ncpu: 4, cfsPeriod: true, nanoCPUs: 2_500_000_000},
		{milli: 64000, ncpu: 4, cfsPeriod: true, nanoCPUs: 4_000_000_000}, // capped at the machine's cores
		{milli: 100, ncpu: 4, nanoCPUs: 100_000_000},                      // no CFS period support
		{milli: 1, ncpu: 4, nanoCPUs: 10_000_000},
	} {
		p, q, n := cpuLimits(tc.milli, tc.ncpu, tc.cfsPeriod)
		if p != tc.period || q != tc.quota || n != tc.nanoCPUs {
			t.Errorf("cpuLimits(%d, %d, %v) = %d, %d, %d; want %d, %d, %d",
				tc.milli, tc.ncpu, tc.cfsPeriod, p, q, n, tc.period, tc.quota, tc.nanoCPUs)
		}
	}
}
