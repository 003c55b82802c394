// Package drover is the domain of the drover job runner.
//
// It defines jobs, attempts and workers, with their states and the moves
// between them. It holds the resource arithmetic, the checks of a job
// spec, the error codes and container image references. It also holds the
// request and response types of the HTTP API.
//
// Where to start reading:
//
//   - job.go: Job, JobSpec, the job states and the reasons a job ends
//   - attempt.go: Attempt, one try of a job on one worker
//   - worker.go: Worker, its capacity and its live usage
//   - validate.go: JobSpec.Normalize and the parsing of CPU and memory
//   - error.go: Error and the codes the API maps to HTTP statuses
//   - wire.go: the bodies of the API's requests, answers and events
//
// It uses only the standard library and imports no other package of
// drover's. Any package may therefore import it.
package drover

// Version is the build's version, set with -ldflags "-X github.com/drover-dev/drover.Version=...".
var Version = "0.1.0-dev"
