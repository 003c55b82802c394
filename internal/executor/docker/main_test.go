package docker

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/executor"
	"github.com/moby/moby/client"
)

// The test images are built by scripts/test-images.sh; the engine on test
// machines cannot pull. tmp0755Image is testImage with /tmp at mode 0755.
const (
	testImage    = "drover-test/busybox:latest"
	tmp0755Image = "drover-test/busybox-tmp0755:latest"
)

// dockerMissing says why the tests cannot use Docker, or is "" when they can.
var dockerMissing string

func TestMain(m *testing.M) {
	dockerMissing = setUpDocker()
	os.Exit(m.Run())
}

// setUpDocker checks the engine answers and builds the test image.
func setUpDocker() string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e, err := New(ctx, Config{})
	if err != nil {
		return err.Error()
	}
	defer e.Close()
	script, err := filepath.Abs("../../../scripts/test-images.sh")
	if err != nil {
		return err.Error()
	}
	cmd := exec.CommandContext(ctx, "bash", script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Sprintf("%s: %v\n%s", script, err, out)
	}
	for _, image := range []string{testImage, tmp0755Image} {
		if _, err := e.cli.ImageInspect(ctx, image); err != nil {
			return fmt.Sprintf("test image %s: %v", image, err)
		}
	}
	return ""
}

// needDocker skips the test when Docker or the test image is missing, and
// fails it instead in CI, where both must be there.
func needDocker(t testing.TB) {
	t.Helper()
	if dockerMissing == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("docker is required in CI: %s", dockerMissing)
	}
	t.Skipf("no usable docker engine: %s", dockerMissing)
}

// newTestExecutor returns an Executor with a worker id of its own, so
// concurrent tests (and other users of the engine) do not see each other's
// containers in Cleanup.
func newTestExecutor(t testing.TB, cfg Config) *Executor {
	t.Helper()
	needDocker(t)
	if cfg.WorkerID == "" {
		cfg.WorkerID = drover.NewID("wkr")
	}
	e, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// newTask returns a task for the test image with a fresh workspace.
func newTask(t testing.TB, command ...string) *executor.Task {
	return &executor.Task{
		AttemptID: drover.NewID("att"),
		JobID:     drover.NewID("job"),
		Spec: drover.JobSpec{
			Command:   command,
			Image:     testImage,
			Executor:  drover.ExecutorDocker,
			Resources: drover.Resources{CPU: 500, MemoryMB: 64},
		},
		Workspace: t.TempDir(),
		Grace:     10 * time.Second,
	}
}

// sink collects output per stream and signals when a stream first contains
// an awaited text.
type sink struct {
	mu     sync.Mutex
	out    map[drover.Stream]*bytes.Buffer
	wanted string
	seen   chan struct{}
}

// newSink returns a sink whose seen channel closes once stdout contains
// wanted ("" never closes it).
func newSink(wanted string) *sink {
	return &sink{
		out:    map[drover.Stream]*bytes.Buffer{drover.Stdout: {}, drover.Stderr: {}},
		wanted: wanted,
		seen:   make(chan struct{}),
	}
}

func (s *sink) Write(stream drover.Stream, p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.out[stream].Write(p)
	if s.wanted != "" && stream == drover.Stdout && strings.Contains(s.out[stream].String(), s.wanted) {
		s.wanted = ""
		close(s.seen)
	}
}

func (s *sink) String(stream drover.Stream) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out[stream].String()
}

// await waits for the sink's text, failing the test after a deadline.
func (s *sink) await(t testing.TB, done <-chan executor.Result) {
	t.Helper()
	select {
	case <-s.seen:
	case res := <-done:
		t.Fatalf("run ended before its output arrived: %+v\nstdout: %s\nstderr: %s", res, s.String(drover.Stdout), s.String(drover.Stderr))
	case <-time.After(30 * time.Second):
		t.Fatalf("no output after 30s\nstdout: %s", s.String(drover.Stdout))
	}
}

// runAsync runs t in the background; the result arrives on the channel.
func runAsync(ctx context.Context, e *Executor, task *executor.Task, out executor.Sink) <-chan executor.Result {
	done := make(chan executor.Result, 1)
	go func() { done <- e.Run(ctx, task, out) }()
	return done
}

// awaitResult waits for a run to return, failing the test after limit.
func awaitResult(t testing.TB, done <-chan executor.Result, limit time.Duration) executor.Result {
	t.Helper()
	select {
	case res := <-done:
		return res
	case <-time.After(limit):
		t.Fatalf("Run did not return within %v", limit)
		return executor.Result{}
	}
}

// assertGone checks the attempt's container no longer exists.
func assertGone(t testing.TB, e *Executor, attemptID string) {
	t.Helper()
	_, err := e.cli.ContainerInspect(context.Background(), ContainerName(attemptID), client.ContainerInspectOptions{})
	if !cerrdefs.IsNotFound(err) {
		t.Errorf("container %s still exists after Run (inspect: %v)", ContainerName(attemptID), err)
	}
}

func exitCode(r executor.Result) string {
	if r.ExitCode == nil {
		return "none"
	}
	return fmt.Sprint(*r.ExitCode)
}
