package e2e

import (
	"archive/zip"
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drover-dev/drover"
)

// needRoot skips a test of a root worker when not root, and fails it in
// CI, which runs as root.
func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("this test switches users, which needs root: CI runs as root")
		}
		t.Skip("this test switches users, which needs root")
	}
}

// waitFile waits until path exists and returns what it holds.
func waitFile(t testing.TB, path string, d time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if b, err := os.ReadFile(path); err == nil {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within %s", path, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// zipWithModes makes a ZIP of files, each with its mode.
func zipWithModes(t testing.TB, files map[string]os.FileMode, body string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, mode := range files {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// probeScript tries, from a process job, what another job or the worker
// holds; each line says yes (it could) or no. Its arguments: the worker's
// pid, its work dir, the path of this job's bundle in the cache, and the
// file where the other job wrote its pid, workspace and uid.
const probeScript = `wpid=$1 wd=$2 cached=$3
set -- $(cat "$4")
opid=$1 ows=$2 ouid=$3
try() { if "$@" >/dev/null 2>&1; then echo yes; else echo no; fi; }
echo "worker-environ=$(try cat /proc/$wpid/environ)"
echo "work-dir-list=$(try ls "$wd")"
echo "lock-read=$(try cat "$wd/.lock")"
echo "secret-read=$(try cat "$wd/identity/secret")"
echo "cache-list=$(try ls "$wd/bundles")"
echo "cache-read=$(try cat "$cached")"
echo "other-list=$(try ls "$ows")"
echo "other-read=$(try cat "$ows/mine")"
echo "other-environ=$(try cat /proc/$opid/environ)"
echo "other-signal=$(try kill -0 $opid)"
echo "uid=$(id -u) other=$ouid groups=$(id -G) user=$USER"
echo "workspace=$(stat -c '%u:%g %a' .)"
touch made
echo "made=$(stat -c '%u:%g' made)"
echo "bundle=$(stat -c '%u:%g %a' probe.sh) $(stat -c '%u:%g %a' data.txt)"
`

// A root worker's process jobs run under uids of their own: a job cannot
// read the worker's environment, its work dir or bundle cache, nor another
// running job's workspace or environment, nor signal it; its workspace and
// files are its own, mode 0700.
func TestProcessJobsAreKeptApart(t *testing.T) {
	t.Parallel()
	needRoot(t)
	cl := newCluster(t, serverOpt{})
	wd := workDir(t)
	// As an older worker left them, open to all: the worker closes them.
	if err := os.Mkdir(filepath.Join(wd, "bundles"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(wd, ".lock"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	w, _ := cl.worker("apart", "--max-parallel", "2", "--work-dir", wd)
	ctx := ctxT(t, time.Minute)
	x := shared(t)

	// The other job: a secret in its workspace, then it waits.
	other := submitJob(t, cl, drover.JobSpec{Command: shell(fmt.Sprintf(
		`echo secret > mine; echo "$$ $PWD $(id -u)" > %[1]s/other.tmp; mv %[1]s/other.tmp %[1]s/other; while [ ! -e %[1]s/done ]; do sleep 0.05; done`, x))})
	waitFile(t, filepath.Join(x, "other"), 20*time.Second)
	t.Cleanup(func() { _ = writeFile(filepath.Join(x, "done")) })

	zb := zipWithModes(t, map[string]os.FileMode{"probe.sh": 0o755, "data.txt": 0o644}, probeScript)
	b, err := cl.c.UploadBundle(ctx, bytes.NewReader(zb), int64(len(zb)), nil)
	if err != nil {
		t.Fatal(err)
	}
	cached := filepath.Join(wd, "bundles", b.SHA256+".zip")
	probe := submitJob(t, cl, drover.JobSpec{Bundle: b.SHA256, Command: drover.Command{"sh", "probe.sh",
		strconv.Itoa(w.cmd.Process.Pid), wd, cached, filepath.Join(x, "other")}})
	j := cl.waitJob(probe.ID, 30*time.Second, "final", func(j *drover.Job) bool { return j.State.Final() })
	out, errOut, _ := cl.cli(ctx, "logs", probe.ID)
	if j.State != drover.JobCompleted {
		t.Fatalf("probe job %s: %s %q\nstdout %s\nstderr %s", j.ID, j.State, j.Message, out, errOut)
	}
	got := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			got[k] = v
		}
	}
	for _, k := range []string{"worker-environ", "work-dir-list", "lock-read", "secret-read", "cache-list", "cache-read",
		"other-list", "other-read", "other-environ", "other-signal"} {
		if got[k] != "no" {
			t.Errorf("%s: %q, want no", k, got[k])
		}
	}
	for _, path := range []string{cached, filepath.Join(wd, "identity", "secret")} {
		if _, err := os.Stat(path); err != nil {
			t.Errorf("%s is not where the probe looked: %v", path, err)
		}
	}
	var uid, ouid int
	var groups, user string
	if _, err := fmt.Sscanf(got["uid"], "%d other=%d groups=%s user=%s", &uid, &ouid, &groups, &user); err != nil {
		t.Fatalf("uid line %q: %v", got["uid"], err)
	}
	if uid == 0 || uid == ouid || groups != strconv.Itoa(uid) || user != "drover-job" {
		t.Errorf("the probe ran as uid %d, groups %s, USER %s; the other job as %d: want two ids of their own, no other group", uid, groups, user, ouid)
	}
	own := fmt.Sprintf("%d:%d", uid, uid)
	for k, want := range map[string]string{"workspace": own + " 700", "made": own, "bundle": own + " 755 " + own + " 644"} {
		if got[k] != want {
			t.Errorf("%s: %q, want %q", k, got[k], want)
		}
	}
	if err := writeFile(filepath.Join(x, "done")); err != nil {
		t.Fatal(err)
	}
	cl.waitJob(other.ID, 20*time.Second, "COMPLETED", func(j *drover.Job) bool { return j.State == drover.JobCompleted })

	// The work dir, its lock and the cache, as the host sees them.
	for path, want := range map[string]os.FileMode{wd: 0o711, filepath.Join(wd, ".lock"): 0o600, filepath.Join(wd, "bundles"): 0o700} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); fi.Mode().Perm() != want || st.Uid != 0 {
			t.Errorf("%s: mode %04o owner %d, want %04o root's", path, fi.Mode().Perm(), st.Uid, want)
		}
	}
}

// --run-as USER runs every process job as that user, its primary group
// and no other.
func TestRunAsAUser(t *testing.T) {
	t.Parallel()
	needRoot(t)
	cl := newCluster(t, serverOpt{})
	cl.worker("nobody", "--run-as", "nobody")
	ctx := ctxT(t, time.Minute)
	out, errOut, code := cl.cli(ctx, "run", "--", "sh", "-c", `echo "$(id -u) $(id -G) $USER $LOGNAME"; stat -c '%u %a' .`)
	if code != 0 || out != "65534 65534 nobody nobody\n65534 700\n" {
		t.Fatalf("run as nobody: code %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// A --run-as the worker cannot use stops it at start with exit code 2 and
// a message naming the flag and what to give instead.
func TestRunAsRefused(t *testing.T) {
	t.Parallel()
	needRoot(t)
	cl := newCluster(t, serverOpt{})
	worker := func(uid int, args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"worker", "--server", cl.url, "--executor", "process", "--work-dir", workDir(t)}, args...)...)
		cmd.Env = cleanEnv()
		if uid != 0 {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
			dir := workDir(t)
			if err := os.Chown(dir, uid, uid); err != nil {
				t.Fatal(err)
			}
			cmd.Args = append(cmd.Args, "--work-dir", dir)
		}
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--run-as", "drover-no-such-user"}, `--run-as (DROVER_RUN_AS) "drover-no-such-user": no user drover-no-such-user on this machine: use auto, a user name, a numeric uid[:gid], or a range of uids FIRST-LAST`},
		{[]string{"--run-as", "2000000009-2000000001"}, `--run-as (DROVER_RUN_AS) "2000000009-2000000001": the range 2000000009-2000000001 is empty`},
		{[]string{"--run-as", "2000000000-2000000002", "--max-parallel", "4"}, "holds 3 ids and the worker runs up to 4 jobs at once: it must hold at least as many ids as --max-parallel"},
		{[]string{"--run-as", "0-100"}, "the range includes uid 0 (root)"},
		{[]string{"--run-as", "65534:x"}, `"x" is not a numeric gid`},
	} {
		out, code := worker(0, c.args...)
		if code != 2 || !strings.Contains(out, c.want) {
			t.Errorf("worker %v: exit %d, output %q; want 2 and %q", c.args, code, out, c.want)
		}
	}

	// A worker that is not root cannot switch users: an explicit value is
	// refused; auto runs jobs as the worker and warns.
	out, code := worker(65534, "--run-as", "1000")
	if code != 2 || !strings.Contains(out, `--run-as (DROVER_RUN_AS) "1000": switching users needs root, and this worker runs as uid 65534`) {
		t.Errorf("a worker that is not root with --run-as 1000: exit %d, output %q", code, out)
	}
	dir := workDir(t)
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "worker", "--server", cl.url, "--executor", "process", "--work-dir", dir, "--name", "nobody")
	cmd.Env = cleanEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() }()
	hang := time.AfterFunc(20*time.Second, func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	defer hang.Stop()
	var seen []string
	warned := false
	for sc := bufio.NewScanner(stderr); sc.Scan() && !warned; {
		seen = append(seen, sc.Text())
		warned = strings.Contains(sc.Text(), "process jobs run as this worker's user, which is not root: they can read and do everything the worker can, its join token and secret included")
		if strings.Contains(sc.Text(), "msg=registered") {
			break // the warning comes before
		}
	}
	if !warned {
		t.Errorf("a worker that is not root did not warn that its jobs run as itself:\n%s", strings.Join(seen, "\n"))
	}
}

// TestRestartedWorkerKillsWhatRunsUnderItsUIDs kills a worker with -9
// while its job has a background process that cleared its environment
// (so nothing names its attempt); the worker started again with the same
// range kills it by its uid.
func TestRestartedWorkerKillsWhatRunsUnderItsUIDs(t *testing.T) {
	t.Parallel()
	needRoot(t)
	cl := newCluster(t, serverOpt{})
	wd, ids := workDir(t), uidRange(t)
	w, wid := cl.worker("wu", "--work-dir", wd, "--run-as", ids)
	ctx := ctxT(t, time.Minute)
	pidFile := filepath.Join(shared(t), "pid")
	out, _, _ := cl.cli(ctx, "submit", "--", "sh", "-c", fmt.Sprintf("env -i setsid sleep 300 & echo $! > %s; wait", pidFile))
	id := strings.TrimSpace(out)
	cl.waitJob(id, 10*time.Second, "RUNNING", func(j *drover.Job) bool { return j.State == drover.JobRunning && j.WorkerID == wid })
	pids := readPids(t, pidFile, 1, 10*time.Second)
	w.killProcessOnly()
	if !alive(pids[0]) {
		t.Fatalf("the background process died with its worker; nothing to clean up")
	}
	w2, _ := cl.worker("wu", "--work-dir", wd, "--run-as", ids)
	w2.waitLine(`msg="killed processes left under the uids of process jobs by an earlier life of this worker" count=1 uids=`+regexp.QuoteMeta(ids), 10*time.Second)
	waitGone(t, pids, 10*time.Second)

	// A second worker of the machine cannot take that range meanwhile.
	cmd := exec.Command(bin, "worker", "--server", cl.url, "--name", "wu2", "--executor", "process", "--work-dir", workDir(t), "--run-as", ids)
	cmd.Env = cleanEnv()
	b, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(b), "are in use by another drover worker on this machine (pid") {
		t.Fatalf("a second worker with the same range: %v\n%s", err, b)
	}
	if _, err := cl.c.Cancel(ctx, id); err != nil && !drover.IsCode(err, drover.ECONFLICT) {
		t.Fatal(err)
	}
}
