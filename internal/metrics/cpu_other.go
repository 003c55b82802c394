//go:build !unix

package metrics

import "time"

// cpuTime is unknown here: process_cpu_seconds_total reads 0.
func cpuTime() time.Duration { return 0 }
