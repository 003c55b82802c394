// Package worker is the drover worker agent: it registers its capacity,
// heartbeats with live metrics, long-polls for assignments, runs each attempt
// with an Executor, streams output in order without loss and reports results.
package worker

import (
	"context"

	"github.com/drover-dev/drover/internal/executor"
)

// Executor runs one attempt. Implementations: internal/executor/process,
// internal/executor/docker, and the noop executor of drover bench.
type Executor interface {
	// Name is the executor's name as advertised ("process", "docker", "noop").
	Name() string
	// Run runs the task, streaming output into out, and returns once the
	// command and everything it started are gone. See executor.Result.
	Run(ctx context.Context, t *executor.Task, out executor.Sink) executor.Result
}
