package e2e

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover"
)

// limitMessage is what a job past a worker's --workspace-limit 4M says.
const limitMessage = "wrote more than 4 MiB to its workspace (the worker's --workspace-limit)"

// A job that writes past its worker's --workspace-limit is killed and
// fails with workspace_limit, saying so; drover run exits 153. One that
// stays within it completes, its bundle's files not counted. One file
// alone cannot pass the limit: it is the job's file size limit.
func TestWorkspaceLimitProcess(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{})
	cl.worker("w1", "--workspace-limit", "4M")
	testWorkspaceLimit(t, cl, nil)

	// The bundle's 3 MiB do not count: the job adds 2 MiB of its own.
	dir := t.TempDir()
	data := make([]byte, 3<<20)
	_, _ = rand.Read(data)
	if err := os.WriteFile(filepath.Join(dir, "data"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t, 2*time.Minute)
	if out, errOut, code := cl.cli(ctx, "run", "--bundle", dir, "--", "sh", "-c", "head -c 2097152 /dev/zero > more; cat data | wc -c"); code != 0 || strings.TrimSpace(out) != "3145728" {
		t.Fatalf("a job adding 2 MiB to a 3 MiB bundle under a 4M limit: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestWorkspaceLimitDocker(t *testing.T) {
	needDocker(t)
	t.Parallel()
	cl := newCluster(t, serverOpt{})
	cl.worker("wd", "--executor", "docker", "--workspace-limit", "4M")
	testWorkspaceLimit(t, cl, []string{"--image", testImage})
}

func testWorkspaceLimit(t *testing.T, cl *cluster, flags []string) {
	t.Helper()
	ctx := ctxT(t, 3*time.Minute)
	run := func(script string) (string, string, int) {
		args := append(append([]string{"run"}, flags...), "--", "sh", "-c", script)
		return cl.cli(ctx, args...)
	}
	lastJob := func() *drover.Job {
		page, err := cl.c.Jobs(ctx, drover.JobFilter{Limit: 1})
		if err != nil || len(page.Jobs) == 0 {
			t.Fatalf("jobs: %v", err)
		}
		j, err := cl.c.Job(ctx, page.Jobs[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}

	if out, errOut, code := run("head -c 1048576 /dev/zero > f; echo within"); code != 0 || out != "within\n" {
		t.Fatalf("a job writing 1 MiB under a 4M limit: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// Many small files, then the job goes on: the worker's measure stops it.
	_, errOut, code := run(`for i in $(seq 1 40); do head -c 262144 /dev/zero > f$i; done; echo wrote; sleep 600`)
	if code != 153 || !strings.Contains(errOut, limitMessage) {
		t.Fatalf("a job writing 10 MiB in files of 256 KiB: exit %d, stderr %q; want 153 and %q", code, errOut, limitMessage)
	}
	if j := lastJob(); j.State != drover.JobFailed || j.Reason != drover.ReasonWorkspaceLimit || j.Message != limitMessage {
		t.Errorf("job: %s %s %q; want FAILED workspace_limit %q", j.State, j.Reason, j.Message, limitMessage)
	}

	// One big file: its size limit stops it at 4 MiB (SIGXFSZ), and the
	// workspace holds the limit, so the reason is the same. The command
	// ends with 153, or 137 when a measure came before its shell's exit.
	_, errOut, code = run("head -c 8388608 /dev/zero > big")
	if code != 153 || !strings.Contains(errOut, limitMessage) {
		t.Fatalf("a job writing one 8 MiB file: exit %d, stderr %q; want 153 and %q", code, errOut, limitMessage)
	}
	if j := lastJob(); j.Reason != drover.ReasonWorkspaceLimit || j.ExitCode == nil || *j.ExitCode != 153 && *j.ExitCode != 137 {
		t.Errorf("job: %s exit %v; want workspace_limit, exit 153 (killed by SIGXFSZ) or 137", j.Reason, exitText(j.ExitCode))
	}
}

func exitText(code *int) string {
	if code == nil {
		return "none"
	}
	return strconv.Itoa(*code)
}
