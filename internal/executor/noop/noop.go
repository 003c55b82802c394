// Package noop is an executor that completes every attempt at once with
// exit code 0 and no output. drover bench uses it to measure drover
// itself. Workers offer it only when asked with --executor noop.
package noop

import (
	"context"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/executor"
)

// Executor is the noop executor.
type Executor struct{}

// Name returns "noop".
func (Executor) Name() string { return drover.ExecutorNoop }

// Run reports start and exit 0 at once.
func (Executor) Run(_ context.Context, t *executor.Task, _ executor.Sink) executor.Result {
	if t.OnStart != nil {
		t.OnStart(0)
	}
	return executor.Exit(0)
}
