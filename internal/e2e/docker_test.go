package e2e

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover"
)

const testImage = "drover-test/busybox:latest" // built by scripts/test-images.sh

// needDocker skips without a Docker engine and the test image, and fails
// instead in CI, where both must be there.
func needDocker(t *testing.T) {
	t.Helper()
	out, err := exec.Command("docker", "image", "inspect", "--format", "{{.Id}}", testImage).CombinedOutput()
	if err == nil {
		return
	}
	msg := "docker engine or test image " + testImage + " missing (run scripts/test-images.sh): " + strings.TrimSpace(string(out))
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// containers lists the ids of containers (running or not) with a label.
func containers(t *testing.T, label string) []string {
	t.Helper()
	out, err := exec.Command("docker", "ps", "-aq", "--filter", "label="+label).Output()
	if err != nil {
		t.Fatalf("docker ps: %v", err)
	}
	return strings.Fields(string(out))
}

func waitContainers(t *testing.T, label string, want int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		got := containers(t, label)
		if len(got) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("containers with %s: %d, want %d", label, len(got), want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestDockerJobIsolatedAndRemoved(t *testing.T) {
	needDocker(t)
	t.Parallel()
	cl := newCluster(t, serverOpt{})
	cl.worker("wd", "--executor", "auto")
	ctx := ctxT(t, 2*time.Minute)

	script := `echo out; echo err >&2; id -u; cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max; ` +
		`touch /x 2>/dev/null && echo rootfs-writable; touch /tmp/ok /workspace/ok && echo writable; pwd; exit 5`
	out, errOut, code := cl.cli(ctx, "run", "--image", testImage, "--cpu", "0.5", "--memory", "64M", "--", "sh", "-c", script)
	if code != 5 {
		t.Fatalf("exit %d, want 5; stdout %q stderr %q", code, out, errOut)
	}
	want := "out\n65534\n67108864\nwritable\n/workspace\n"
	if out != want || !strings.Contains(errOut, "err\n") {
		t.Fatalf("stdout %q, want %q; stderr %q", out, want, errOut)
	}
	page, err := cl.c.Jobs(ctx, drover.JobFilter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	id := page.Jobs[0].ID
	if n := len(containers(t, "drover.job="+id)); n != 0 {
		t.Fatalf("%d containers left for %s", n, id)
	}

	// The memory limit is hard: exceeding it is an OOM kill, exit 137.
	_, errOut, code = cl.cli(ctx, "run", "--image", testImage, "--memory", "16M", "--", "sh", "-c", "x=a; while true; do x=$x$x; done")
	if code != 137 || !strings.Contains(errOut, "memory") {
		t.Fatalf("oom: exit %d, stderr %q", code, errOut)
	}
	// --executor docker without an image is refused with a clear message.
	_, errOut, code = cl.cli(ctx, "run", "--executor", "docker", "--", "true")
	if code != 125 || !strings.Contains(errOut, "image") {
		t.Fatalf("docker without image: exit %d, stderr %q", code, errOut)
	}
	// A job asking for the network waits for a worker that gives it.
	out, _, _ = cl.cli(ctx, "submit", "--image", testImage, "--network", "--", "true")
	netJob := strings.TrimSpace(out)
	cl.waitJob(netJob, 20*time.Second, "pending on the network", func(j *drover.Job) bool {
		return j.State == drover.JobQueued && strings.Contains(j.PendingReason, "--allow-network")
	})
	if _, _, code := cl.cli(ctx, "cancel", netJob); code != 0 {
		t.Fatalf("cancel %s: exit %d", netJob, code)
	}
	// With an image and no command the image's own command runs (the test
	// image's is a shell, which ends at once with no input).
	_, errOut, code = cl.cli(ctx, "run", "--image", testImage)
	if code != 0 {
		t.Fatalf("the image's own command: exit %d, stderr %q", code, errOut)
	}
	page, err = cl.c.Jobs(ctx, drover.JobFilter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if j := page.Jobs[0]; len(j.Spec.Command) != 0 || j.DisplayName() != testImage || j.State != drover.JobCompleted {
		t.Errorf("job %s: command %q, name %q, state %s; want no command, the image's name, COMPLETED", j.ID, j.Spec.Command, j.DisplayName(), j.State)
	}
}

// TestDockerWorkerKilledLeavesNoContainer kills a worker with -9 while its
// container runs: its guard removes the container at once, so the job,
// requeued when the worker is found lost, does not run twice at the same
// time. The worker started again under the same name finds nothing to
// remove and runs the requeued job.
func TestDockerWorkerKilledLeavesNoContainer(t *testing.T) {
	needDocker(t)
	t.Parallel()
	cl := newCluster(t, serverOpt{})
	name := "wk-" + strings.ToLower(drover.NewID("x")[2:12])
	workDir := t.TempDir()
	w, wid := cl.worker(name, "--executor", "docker", "--work-dir", workDir)
	ctx := ctxT(t, 2*time.Minute)
	out, _, _ := cl.cli(ctx, "submit", "--image", testImage, "--", "sleep", "300")
	id := strings.TrimSpace(out)
	j := cl.waitJob(id, 30*time.Second, "RUNNING", func(j *drover.Job) bool { return j.State == drover.JobRunning && j.WorkerID == wid })
	att := j.Attempts[0].ID
	waitContainers(t, "drover.attempt="+att, 1, 10*time.Second)
	w.killProcessOnly()
	waitContainers(t, "drover.attempt="+att, 0, 20*time.Second)
	cl.worker(name, "--executor", "docker", "--work-dir", workDir)
	cl.waitJob(id, 60*time.Second, "RUNNING again", func(j *drover.Job) bool { return j.State == drover.JobRunning && len(j.Attempts) == 2 })
	if _, err := cl.c.Cancel(context.Background(), id); err != nil && !drover.IsCode(err, drover.ECONFLICT) {
		t.Fatal(err)
	}
	cl.waitJob(id, 30*time.Second, "final", func(j *drover.Job) bool { return j.State.Final() })
	waitContainers(t, "drover.job="+id, 0, 20*time.Second)
}
