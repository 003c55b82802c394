package e2e

import (
	"testing"
	"time"
)

// TestDockerDefaultPidsLimit: a docker job of a worker that was given no
// pids limit runs in a container limited to 512 processes, the default
// that keeps a fork bomb inside it.
func TestDockerDefaultPidsLimit(t *testing.T) {
	needDocker(t)
	t.Parallel()
	cl := newCluster(t, serverOpt{})
	cl.worker("wd", "--executor", "docker")
	ctx := ctxT(t, 2*time.Minute)
	// cgroup v2, else v1.
	script := `cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max`
	out, errOut, code := cl.cli(ctx, "run", "--image", testImage, "--", "sh", "-c", script)
	if code != 0 || out != "512\n" {
		t.Fatalf("pids.max in the container: %q (exit %d, stderr %q), want 512", out, code, errOut)
	}
}
