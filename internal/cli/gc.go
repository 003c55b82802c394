package cli

import "runtime/debug"

// DefaultGCPercent is the garbage collector's target that drover runs with
// when GOGC is not set. GOGC set in the environment wins.
//
// The heap may then grow to three times what is live before a collection,
// instead of Go's twice. A busy coordinator or worker allocates for every
// request and job. Collecting half as often takes a share off the CPU a
// job costs, for about a quarter more memory. docs/performance.md has the
// figures.
const DefaultGCPercent = 200

// TuneGC applies DefaultGCPercent unless getenv has GOGC (which the runtime
// has already read). It returns the percentage in force.
func TuneGC(getenv func(string) string) int {
	if getenv("GOGC") != "" {
		p := debug.SetGCPercent(-1)
		debug.SetGCPercent(p)
		return p
	}
	debug.SetGCPercent(DefaultGCPercent)
	return DefaultGCPercent
}
