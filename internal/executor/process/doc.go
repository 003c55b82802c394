// Package process is drover's process executor: it runs a job's command as
// a plain child process of the worker, in its own process group, with the
// attempt's workspace as working directory, and streams its stdout and
// stderr as they are written. On cancel or timeout the whole group gets
// SIGTERM, then SIGKILL after the task's grace period.
//
// It isolates little. The command runs as the task's user when it names
// one (the worker gives each job of a root worker a uid of its own), else
// as the worker's user. Either way it sees the worker's file system,
// network and processes, and has no CPU or memory limit. Its one limit is
// the file size limit the worker asks for (RLIMIT_FSIZE). Peak memory and
// CPU time are measured (from the leader's rusage) but not enforced, so
// oom_killed is never reported. Use the docker executor when jobs must be
// contained.
//
// It needs Linux (process groups with Pdeathsig, waitid, /proc); on other
// systems every run fails with executor_error.
package process
