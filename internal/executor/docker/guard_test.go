package docker

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/executor"
	"github.com/moby/moby/client"
)

// Once its lifeline ends, the guard removes the containers of its worker
// process, and only those.
func TestGuardRemovesTheWorkersContainers(t *testing.T) {
	t.Parallel()
	mine := newTestExecutor(t, Config{Instance: "wi-mine-" + t.Name()})
	other := newTestExecutor(t, Config{Instance: "wi-other-" + t.Name()})
	type run struct {
		attempt string
		done    <-chan executor.Result
		cancel  context.CancelFunc
	}
	start := func(e *Executor) run {
		task := newTask(t, "sh", "-c", "echo up; exec sleep 300")
		out := newSink("up")
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		done := runAsync(ctx, e, task, out)
		out.await(t, done)
		return run{task.AttemptID, done, cancel}
	}
	mines := start(mine)
	others := start(other)

	lifeline, end := io.Pipe()
	end.Close() // the worker is gone
	n, err := Guard(context.Background(), slog.New(slog.DiscardHandler), mine.cfg.Instance, lifeline)
	if err != nil || n != 1 {
		t.Fatalf("guard removed %d containers (%v), want 1", n, err)
	}
	awaitResult(t, mines.done, time.Minute) // its run ends with its container
	assertGone(t, mine, mines.attempt)
	if _, err := other.cli.ContainerInspect(context.Background(), ContainerName(others.attempt), client.ContainerInspectOptions{}); err != nil {
		t.Errorf("another worker's container %s was removed: %v", ContainerName(others.attempt), err)
	}
	// The other worker stops its own run, which removes its container.
	others.cancel()
	awaitResult(t, others.done, time.Minute)
	assertGone(t, other, others.attempt)
}
