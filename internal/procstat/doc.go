// Package procstat reads what the kernel says about this machine and this
// process.
//
// The machine's readings come from /proc/stat, /proc/meminfo, /proc/loadavg
// and /proc/cpuinfo. The process's come from getrusage and /proc/self/status.
// Where a file is missing, as off Linux, its reading is an error or zero.
// Each file has a parser of its own that takes the file's text, so tests
// can feed it fixed input.
//
// The package uses only the standard library. The worker, drover bench and
// the metrics registry all read through it.
package procstat
