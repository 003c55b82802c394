package docker

import (
	"context"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// startStray starts a running container labelled as a drover attempt, as a
// worker killed with -9 would leave behind, and removes it when the test ends.
func startStray(t *testing.T, e *Executor, attempt, worker string) string {
	t.Helper()
	ctx := context.Background()
	created, err := e.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: ContainerName(attempt),
		Config: &container.Config{
			Image:  testImage,
			Cmd:    []string{"sleep", "300"},
			Labels: map[string]string{LabelAttempt: attempt, LabelWorker: worker},
		},
		HostConfig: &container.HostConfig{NetworkMode: "none"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.remove(context.Background(), created.ID) })
	if _, err := e.cli.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	return created.ID
}

func exists(t *testing.T, e *Executor, id string) bool {
	t.Helper()
	_, err := e.cli.ContainerInspect(context.Background(), id, client.ContainerInspectOptions{})
	if err != nil && !cerrdefs.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

func TestCleanup(t *testing.T) {
	t.Parallel()
	e := newTestExecutor(t, Config{})
	worker := e.cfg.WorkerID
	stray := startStray(t, e, "att_stray"+worker, worker)
	owned := startStray(t, e, "att_owned"+worker, worker)
	other := startStray(t, e, "att_other"+worker, worker+"-other")

	var asked []string
	removed, err := e.Cleanup(context.Background(), func(attempt string) bool {
		asked = append(asked, attempt)
		return attempt == "att_owned"+worker
	})
	if err != nil {
		t.Fatal(err)
	}
	if removed != 1 {
		t.Errorf("removed %d, want 1", removed)
	}
	if len(asked) != 2 {
		t.Errorf("keep asked about %v, want the two attempts of worker %s only", asked, worker)
	}
	if exists(t, e, stray) {
		t.Error("the stray container is still there")
	}
	if !exists(t, e, owned) {
		t.Error("the container keep accepted was removed")
	}
	if !exists(t, e, other) {
		t.Error("another worker's container was removed")
	}
}
