//go:build !unix

package procstat

import "time"

// cpuTime is unknown here, so it is zero.
func cpuTime() time.Duration { return 0 }
