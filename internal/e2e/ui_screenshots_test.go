//go:build screenshots

package e2e

import (
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/drover-dev/drover"
)

// TestUIScreenshots saves the screenshots of docs/webui.md. It is built
// only with -tags screenshots, so ordinary runs write nothing in the tree.
func TestUIScreenshots(t *testing.T) {
	cl := newCluster(t, serverOpt{})
	cl.worker("build-1", "--cpu", "4", "--memory", "8G", "--max-parallel", "6", "--labels", "zone=a,arch=amd64")
	cl.worker("build-2", "--cpu", "2", "--memory", "4G", "--labels", "zone=b")
	tb := newTab(t, cl)
	ctx := ctxT(t, time.Minute)

	quick := []string{"make -C docs html", "go vet ./...", "./scripts/lint.sh"}
	for _, c := range quick {
		j := submitJob(t, cl, drover.JobSpec{Command: shell("echo " + c)})
		cl.waitJob(j.ID, uiWait, "final", func(j *drover.Job) bool { return j.State.Final() })
	}
	failed := submitJob(t, cl, drover.JobSpec{Name: "nightly-report", Command: shell(
		`echo "loading 14 sources"; echo "error: connection to warehouse timed out after 30s" >&2; exit 3`)})
	cancelled := submitJob(t, cl, drover.JobSpec{Name: "backfill-2023", Command: shell("sleep 300")})
	cl.waitJob(cancelled.ID, uiWait, "running", func(j *drover.Job) bool { return j.State == drover.JobRunning })
	if _, err := cl.c.Cancel(ctx, cancelled.ID); err != nil {
		t.Fatal(err)
	}
	script := writeZip(t, map[string]string{"ci/test.sh": `printf '\033[1m==> go test ./...\033[0m\n'
for p in api bundle cli coordinator executor/process sched store/sqlite worker; do
  printf '\033[32mok  \033[0m \tgithub.com/drover-dev/drover/internal/%-18s\t\033[2m0.%03ds\033[0m\n' "$p" $(( ($(printf %d "'$p") * 37) % 900 + 40 ))
done
echo "warning: GOCACHE is not writable, builds are not cached" >&2
printf '\033[33m?   \033[0m \tgithub.com/drover-dev/drover/cmd/drover\t[no test files]\n'
printf '\033[1;32mPASS\033[0m 8 packages, 412 tests\n'
`})
	f, err := os.Open(script)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	b, err := cl.c.UploadBundle(ctx, f, st.Size(), nil)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	tests := submitJob(t, cl, drover.JobSpec{Name: "unit-tests", Resources: drover.Resources{CPU: 1000, MemoryMB: 512},
		Timeout: drover.Duration(10 * time.Minute), Constraints: map[string]string{"zone": "a"},
		Bundle: b.SHA256, Command: shell("sh ci/test.sh")})
	train := submitJob(t, cl, drover.JobSpec{Name: "train-model", Resources: drover.Resources{CPU: 2000, MemoryMB: 2048},
		Constraints: map[string]string{"zone": "a"}, // so the next job cannot fit anywhere
		Command:     shell(`for e in 1 2 3; do printf 'epoch %d/20  loss=%s\n' $e "0.$((90 - e * 7))"; done; sleep 300`)})
	cl.waitJob(train.ID, uiWait, "running", func(j *drover.Job) bool { return j.State == drover.JobRunning })
	pending := submitJob(t, cl, drover.JobSpec{Name: "render-video", Resources: drover.Resources{CPU: 3000, MemoryMB: 1024},
		Command: shell("ffmpeg -i in.mov out.mp4")})
	cl.waitJob(failed.ID, uiWait, "final", func(j *drover.Job) bool { return j.State.Final() })
	cl.waitJob(tests.ID, uiWait, "final", func(j *drover.Job) bool { return j.State.Final() })
	cl.waitJob(pending.ID, uiWait, "a pending reason", func(j *drover.Job) bool { return j.PendingReason != "" })

	tb.colorScheme("light")
	tb.open("#/jobs")
	tb.until("the jobs", `(id) => !!document.querySelector('tr[data-id="' + id + '"]')`, pending.ID)
	tb.screenshot("jobs")

	tb.open("#/jobs/" + tests.ID)
	tb.waitText(".term", "PASS")
	tb.waitText("table.attempts", "running")
	tb.screenshot("job")
	tb.colorScheme("dark")
	tb.screenshot("job-dark")
	tb.colorScheme("light")

	tb.open("#/workers")
	tb.until("both workers", `() => document.querySelectorAll('.worker').length === 2`)
	tb.waitText(".worker-grid", "Running 1 job")
	tb.screenshot("workers")

	tb.open("#/submit")
	tb.fill("#f-command", "sh run.sh --report weekly")
	tb.fill("#f-name", "weekly-report")
	tb.fill("#f-cpu", "1.5")
	tb.fill("#f-memory", "512M")
	tb.fill("#f-timeout", "15m")
	tb.fill("#f-env", "REPORT_DAY=monday")
	bundle := writeZip(t, map[string]string{"run.sh": "echo report\n", "query.sql": "select 1;\n"})
	tb.do("choose the ZIP", chromedp.SetUploadFiles(chromedp.CSS("#f-files"), []string{bundle}))
	tb.waitText(".file-list", "uploaded as is")
	tb.screenshot("submit")
}
