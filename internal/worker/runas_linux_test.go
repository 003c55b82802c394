package worker

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/executor/noop"
)

// testFirst-testLast is a range of ids no one uses, apart from the default
// range and the e2e tests' blocks.
const testFirst, testLast uint32 = 0x7E000000, 0x7E0000FF

// testRangeMine makes the test the only one of the machine using that range
// until it ends: test processes of other checkouts wait.
func testRangeMine(t *testing.T) {
	t.Helper()
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "drover-worker-test-uids.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Close() })
}

// startAs starts sleep as uid (and gid uid), in a process group of its own.
func startAs(t *testing.T, uid uint32) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "300")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

// What runs under an id of the range is seen, and killed; what runs under
// another id is left alone.
func TestKillRangeKillsOnlyTheRange(t *testing.T) {
	needRoot(t)
	testRangeMine(t)
	in := startAs(t, testFirst+3)
	out := startAs(t, testLast+1)
	held, err := heldIDs(testFirst, testLast)
	if err != nil {
		t.Fatal(err)
	}
	if !held[testFirst+3] || held[testLast+1] || len(held) != 1 {
		t.Fatalf("held ids %v, want only %d", held, testFirst+3)
	}
	killed, err := killRange(testFirst, testLast)
	if err != nil || killed != 1 {
		t.Fatalf("killed %d (%v), want 1", killed, err)
	}
	if err := in.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("the process of the range ended with %v, want killed", err)
	}
	if err := out.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the process outside the range is gone: %v", err)
	}
	if held, _ := heldIDs(testFirst, testLast); len(held) != 0 {
		t.Fatalf("held ids after the kill: %v", held)
	}
}

// A range overlapping one another worker of the machine holds is refused,
// naming it; once that worker is gone its range is free.
func TestLockRangeRefusesAnOverlap(t *testing.T) {
	needRoot(t)
	testRangeMine(t)
	lock, err := lockRange(testFirst, testFirst+15)
	if err != nil {
		t.Fatal(err)
	}
	_, err = lockRange(testFirst+10, testFirst+20)
	if err == nil || !strings.Contains(err.Error(), "in use by another drover worker on this machine") ||
		!strings.Contains(err.Error(), "--run-as FIRST-LAST, such as") {
		t.Fatalf("an overlapping range: %v, want a refusal that says what to do", err)
	}
	other, err := lockRange(testFirst+16, testFirst+31)
	if err != nil {
		t.Fatalf("a range beside it: %v", err)
	}
	other.Close()
	lock.Close()
	again, err := lockRange(testFirst+10, testFirst+20)
	if err != nil {
		t.Fatalf("the range of a worker that is gone: %v", err)
	}
	again.Close()
}

func TestRunAsCheck(t *testing.T) {
	needRoot(t)
	if err := (RunAs{}).Check(4); err != nil {
		t.Errorf("the default: %v", err)
	}
	for _, c := range []struct {
		r    RunAs
		want string
	}{
		{RunAs{First: 0, Last: 10}, "includes uid 0"},
		{RunAs{First: testFirst + 5, Last: testFirst}, "is empty"},
		{RunAs{First: testFirst, Last: testFirst + 2}, "holds 3 ids and the worker runs up to 4 jobs at once"},
	} {
		if err := c.r.Check(4); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.r, err, c.want)
		}
	}
	// A range holding a user of this machine: root's neighbours.
	b, _ := os.ReadFile("/etc/passwd")
	if strings.Contains(string(b), ":x:1:") {
		if err := (RunAs{First: 1, Last: 100}).Check(4); err == nil || !strings.Contains(err.Error(), "holds user") {
			t.Errorf("a range with uid 1 of /etc/passwd: %v", err)
		}
	}
}

// processExecutor stands for the process executor: only its name counts.
type processExecutor struct{ noop.Executor }

func (processExecutor) Name() string { return drover.ExecutorProcess }

// A root worker whose jobs run as other users refuses a work dir they
// could not reach, naming the folder that stops them.
func TestWorkerRefusesAWorkDirJobsCannotReach(t *testing.T) {
	needRoot(t)
	closed := filepath.Join(t.TempDir(), "closed")
	if err := os.Mkdir(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := New(Config{Server: "http://127.0.0.1:1", Executors: []Executor{processExecutor{}},
		Capacity: drover.Capacity{CPU: 1000, MemoryMB: 1024, Slots: 1}, WorkDir: filepath.Join(closed, "work"),
		RunAs: RunAs{First: testFirst + 0x100, Last: testFirst + 0x1FF}})
	if err == nil || !strings.Contains(err.Error(), "process jobs run as other users, who could not reach their workspaces in it: "+closed+" (mode 0700") {
		t.Fatalf("New: %v, want a refusal naming %s", err, closed)
	}
}
