// Package process is drover's process executor.
//
// It runs a job's command as a plain child process of the worker, in its
// own process group. The attempt's workspace is the working directory.
// The command's stdout and stderr stream as they are written. On cancel or
// timeout the whole group gets SIGTERM, then SIGKILL after the task's
// grace period.
//
// It isolates little. The command runs as the task's user when the task
// names one. A root worker gives each job a uid of its own. Otherwise the
// command runs as the worker's user. Either way it sees the worker's file
// system, network and processes, and has no CPU or memory limit. Its one
// limit is the file size limit the worker asks for, RLIMIT_FSIZE. Peak
// memory and CPU time come from the leader's rusage. They are measured but
// not enforced, so oom_killed is never reported. Use the docker executor
// when jobs must be contained.
//
// It needs Linux for process groups with Pdeathsig, waitid and /proc. On
// other systems every run fails with executor_error.
package process
