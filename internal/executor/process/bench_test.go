//go:build linux

package process

import (
	"context"
	"os/exec"
	"syscall"
	"testing"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/executor"
)

// discard is a sink that keeps nothing.
type discard struct{}

func (discard) Write(drover.Stream, []byte) {}

// BenchmarkRunTrueParallel runs /bin/true through the executor, 64 at once (as 4
// workers × 16 slots do); BenchmarkSpawnTrueParallel is the same spawn done
// directly, as drover bench's floor does. Their ratio is the executor's own
// share of a short job's cost.
func BenchmarkRunTrueParallel(b *testing.B) {
	e := New(nil)
	dir := b.TempDir()
	b.SetParallelism(32) // × GOMAXPROCS (2) = 64 in flight
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			t := &executor.Task{AttemptID: "attempt-1", JobID: "job-1", Spec: drover.JobSpec{Command: drover.Command{"/bin/true"}}, Workspace: dir}
			if res := e.Run(context.Background(), t, discard{}); res.ExitCode == nil || *res.ExitCode != 0 {
				b.Fatalf("result %+v", res)
			}
		}
	})
}

func BenchmarkSpawnTrueParallel(b *testing.B) {
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			cmd := exec.Command("/bin/true")
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := cmd.Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
