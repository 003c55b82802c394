//go:build !linux

package process

import (
	"context"
	"log/slog"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/executor"
)

// Executor is the process executor. It needs Linux, and elsewhere every
// run fails with executor_error. The rest of drover still builds and runs
// there for development.
type Executor struct{}

// New returns a process executor.
func New(logger *slog.Logger) *Executor { return &Executor{} }

// Name returns "process".
func (e *Executor) Name() string { return drover.ExecutorProcess }

// Run fails: the process executor needs Linux.
func (e *Executor) Run(ctx context.Context, t *executor.Task, out executor.Sink) executor.Result {
	return executor.Failed("the process executor runs on Linux only")
}

// SetWorkDir does nothing off Linux.
func (e *Executor) SetWorkDir(string) {}
