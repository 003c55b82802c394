package docker

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/drover-dev/drover/internal/executor"
	"github.com/moby/moby/client"
)

// Once its lifeline ends, the guard removes the containers of its worker
// process, and only those.
func TestGuardRemovesTheWorkersContainers(t *testing.T) {
	t.Parallel()
	mine := newTestExecutor(t, Config{Instance: "wi-mine-" + t.Name()})
	other := newTestExecutor(t, Config{Instance: "wi-other-" + t.Name()})
	start := func(e *Executor) (string, <-chan executor.Result) {
		task := newTask(t, "sh", "-c", "echo up; sleep 300")
		out := newSink("up")
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		done := runAsync(ctx, e, task, out)
		out.await(t, done)
		return ContainerName(task.AttemptID), done
	}
	minesName, minesDone := start(mine)
	othersName, _ := start(other)

	lifeline, end := io.Pipe()
	end.Close() // the worker is gone
	n, err := Guard(context.Background(), slog.New(slog.DiscardHandler), mine.cfg.Instance, lifeline)
	if err != nil || n != 1 {
		t.Fatalf("guard removed %d containers (%v), want 1", n, err)
	}
	<-minesDone // its run ends with its container
	if _, err := mine.cli.ContainerInspect(context.Background(), minesName, client.ContainerInspectOptions{}); err == nil {
		t.Errorf("the worker's container %s is still there", minesName)
	}
	if _, err := other.cli.ContainerInspect(context.Background(), othersName, client.ContainerInspectOptions{}); err != nil {
		t.Errorf("another worker's container %s was removed: %v", othersName, err)
	}
}
