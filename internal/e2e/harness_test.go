// Package e2e runs the real drover binary: coordinators, workers and CLI
// commands as separate processes talking real HTTP over loopback, with real
// SQLite stores in temporary folders.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/client"
)

var bin string // the drover binary under test

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "drover-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Tests run the binary as other users too.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "drover")
	build := []string{"build", "-o", bin}
	counts, keep := coverDirs(dir)
	if counts != "" {
		build = append(build, "-cover", "-covermode="+testing.CoverMode())
	}
	cmd := exec.Command("go", append(build, "github.com/drover-dev/drover/cmd/drover")...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build drover: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	if counts != "" {
		if err := moveFiles(counts, keep); err != nil {
			fmt.Fprintf(os.Stderr, "keep the coverage counts of drover: %v\n", err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// coverDirs returns where the binary's processes write their coverage
// counts, and where the tests keep them. Both are "" unless the tests run
// with -cover and a -test.gocoverdir. The binary is then built with
// coverage, and every process started gets GOCOVERDIR. Its folder is open
// to all: some processes run as other users. Only a process that exits
// writes counts, not one killed with SIGKILL.
func coverDirs(tmp string) (counts, keep string) {
	f := flag.Lookup("test.gocoverdir")
	if testing.CoverMode() == "" || f == nil || f.Value.String() == "" {
		return "", ""
	}
	counts = filepath.Join(tmp, "cover")
	if err := os.Mkdir(counts, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.Chmod(counts, 0o1777); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("GOCOVERDIR", counts)
	return counts, f.Value.String()
}

// moveFiles moves the files of folder from into folder to.
func moveFiles(from, to string) error {
	entries, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.Rename(filepath.Join(from, e.Name()), filepath.Join(to, e.Name())); err != nil {
			b, rerr := os.ReadFile(filepath.Join(from, e.Name()))
			if rerr != nil {
				return rerr
			}
			if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// proc is a drover process whose stderr lines can be waited for.
type proc struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd

	mu    sync.Mutex
	lines []string
	grow  chan struct{} // closed and replaced on each new line
	done  chan struct{}
}

func start(t testing.TB, name string, env []string, args ...string) *proc {
	t.Helper()
	return startOut(t, name, env, io.Discard, args...)
}

// startOut is start with the process's stdout written to stdout.
func startOut(t testing.TB, name string, env []string, stdout io.Writer, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, grow: make(chan struct{}), done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(cleanEnv(), env...)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout = stdout
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			close(p.grow)
			p.grow = make(chan struct{})
			p.mu.Unlock()
		}
		_ = p.cmd.Wait()
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			p.mu.Lock()
			t.Logf("--- %s stderr ---\n%s", name, strings.Join(p.lines, "\n"))
			p.mu.Unlock()
		}
	})
	return p
}

// cleanEnv is the test's environment without DROVER_* settings that could
// leak in from the developer's shell.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DROVER_") && !strings.HasPrefix(kv, "MAX_PARALLEL_JOBS=") {
			env = append(env, kv)
		}
	}
	return env
}

// waitLine waits for a stderr line matching re and returns its submatches.
func (p *proc) waitLine(re string, d time.Duration) []string {
	p.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.After(d)
	seen := 0
	for {
		p.mu.Lock()
		lines, grow := p.lines, p.grow
		p.mu.Unlock()
		for ; seen < len(lines); seen++ {
			if m := rx.FindStringSubmatch(lines[seen]); m != nil {
				return m
			}
		}
		select {
		case <-grow:
		case <-p.done:
			p.mu.Lock()
			n := len(p.lines)
			p.mu.Unlock()
			if n == seen {
				p.t.Fatalf("%s exited before printing %q", p.name, re)
			}
		case <-deadline:
			p.t.Fatalf("%s did not print %q within %s", p.name, re, d)
		}
	}
}

// stopWait bounds how long stop lets a process end on its own.
const stopWait = 20 * time.Second

// stop ends the process as an operator would, so it ends on its own terms
// and writes its coverage counts. It sends SIGTERM, and again while the
// process runs: a worker or drover dev drains on the first and stops at
// once on the next, and a signal that comes before they listen for the
// next is lost. Then SIGKILL to the process group ends what is left of it,
// and past stopWait the process itself.
func (p *proc) stop() {
	deadline := time.After(stopWait)
	for again := time.Duration(0); ; again = 200 * time.Millisecond {
		select {
		case <-p.done:
			p.kill()
			return
		case <-deadline:
			p.t.Logf("%s did not stop within %s of SIGTERM: killed", p.name, stopWait)
			p.kill()
			return
		case <-time.After(again):
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
}

// kill sends SIGKILL to the process group and waits for the exit.
func (p *proc) kill() {
	if p.cmd.Process != nil {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
	<-p.done
}

// killProcessOnly sends SIGKILL to the drover process alone (its jobs'
// process groups are their own).
func (p *proc) killProcessOnly() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func (p *proc) signal(sig syscall.Signal) { _ = p.cmd.Process.Signal(sig) }

// wait waits for the process to exit.
func (p *proc) wait(d time.Duration) {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		p.t.Fatalf("%s did not exit within %s", p.name, d)
	}
}

// exitCode waits for the process to exit and returns its exit code (-1
// when a signal ended it).
func (p *proc) exitCode(d time.Duration) int {
	p.t.Helper()
	p.wait(d)
	return p.cmd.ProcessState.ExitCode()
}

// cluster is one coordinator and its workers.
type cluster struct {
	t      testing.TB
	url    string
	data   string
	listen string
	server *proc
	env    []string // client env: DROVER_SERVER, DROVER_TOKEN
	join   []string // workers' env: DROVER_JOIN_TOKEN when the server has one
	c      *client.Client
}

type serverOpt struct {
	args []string
	// token is the API token; with one the server has a join token too,
	// which the cluster's workers get in their environment.
	token string
	// fastReap: workers are DOWN after 1.5 s of silence instead of 5 s, for
	// tests that kill a worker. Others keep the margin, so a CPU-starved
	// test machine does not lose a worker that is only slow.
	fastReap bool
}

func freePort(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// newCluster starts a coordinator with fast heartbeats on a free port.
func newCluster(t testing.TB, o serverOpt) *cluster {
	t.Helper()
	cl := &cluster{t: t, data: t.TempDir(), listen: freePort(t)}
	cl.startServer(o)
	return cl
}

func (cl *cluster) startServer(o serverOpt) {
	timeout := "5s"
	if o.fastReap {
		timeout = "1500ms"
	}
	args := append([]string{"server", "--listen", cl.listen, "--data", cl.data,
		"--heartbeat-interval", "200ms", "--heartbeat-timeout", timeout, "--ack-timeout", "5s"}, o.args...)
	var env []string
	if o.token != "" {
		env = append(env, "DROVER_API_TOKEN="+o.token, "DROVER_JOIN_TOKEN=join-"+o.token)
		cl.join = []string{"DROVER_JOIN_TOKEN=join-" + o.token}
	}
	cl.server = start(cl.t, "server", env, args...)
	m := cl.server.waitLine(`msg=listening url=(\S+)`, 20*time.Second)
	cl.url = m[1]
	cl.env = []string{"DROVER_SERVER=" + cl.url}
	if o.token != "" {
		cl.env = append(cl.env, "DROVER_TOKEN="+o.token)
	}
	cl.c = client.New(cl.url, client.WithToken(o.token))
}

// worker starts a worker and waits until it registered; it returns the
// process and the worker id. Its process jobs run under a uid range of its
// own (uidRange).
func (cl *cluster) worker(name string, args ...string) (*proc, string) {
	cl.t.Helper()
	a := append([]string{"worker", "--server", cl.url, "--name", name, "--executor", "process", "--grace", "1s",
		"--work-dir", workDir(cl.t), "--run-as", uidRange(cl.t)}, args...)
	p := start(cl.t, "worker "+name, cl.join, a...)
	m := p.waitLine(`msg=registered worker=(\S+)`, 20*time.Second)
	return p, m[1]
}

// cli runs a CLI command and returns stdout, stderr and the exit code.
func (cl *cluster) cli(ctx context.Context, args ...string) (string, string, int) {
	cl.t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(cleanEnv(), cl.env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			cl.t.Fatalf("drover %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return out.String(), errb.String(), code
}

// waitJob waits until the job satisfies ok, polling the API with a deadline.
func (cl *cluster) waitJob(id string, d time.Duration, what string, ok func(*drover.Job) bool) *drover.Job {
	cl.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var last *drover.Job
	for {
		j, err := cl.c.Job(ctx, id)
		if err == nil {
			last = j
			if ok(j) {
				return j
			}
		}
		select {
		case <-ctx.Done():
			cl.t.Fatalf("job %s: %s not reached within %s; last: %+v (err %v)", id, what, d, last, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitGone waits until no process in pids exists.
func waitGone(t testing.TB, pids []int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d still alive after %s", pid, d)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// readPids reads whitespace-separated pids from a file, waiting until it
// has n of them.
func readPids(t testing.TB, path string, n int, d time.Duration) []int {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		b, _ := os.ReadFile(path)
		var pids []int
		for _, f := range strings.Fields(string(b)) {
			var p int
			if _, err := fmt.Sscan(f, &p); err == nil {
				pids = append(pids, p)
			}
		}
		if len(pids) >= n {
			return pids
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has %d pids, want %d", path, len(pids), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func writeFile(path string) error { return os.WriteFile(path, nil, 0o644) }

// exec0 reports whether a command exits 0.
func exec0(name string, args ...string) bool { return exec.Command(name, args...).Run() == nil }

// workDir returns an empty folder for a worker's work dir: the folders
// above it let others search them, as they must for process jobs that run
// as users of their own (t.TempDir's parent is closed to them).
func workDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(filepath.Dir(dir), 0o711); err != nil {
		t.Fatal(err)
	}
	return dir
}

// shared returns a folder where the test and its jobs, whatever user they
// run as, exchange files.
func shared(t testing.TB) string {
	t.Helper()
	dir := workDir(t)
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}

// uids is the block of ids this test process gives its workers' jobs,
// 1024 per worker. Test processes running at once on a machine (several
// checkouts) each lock a block of their own, so their workers never share
// an id; they stay clear of the default range and of the ids unit tests
// use.
var uids struct {
	once sync.Once
	base uint32
	next atomic.Uint32
	err  error
	lock *os.File
}

const (
	uidBlocks     = 120
	uidBlockFirst = 0x78000000
	uidBlockSize  = 0x40000
	uidsPerWorker = 1024
)

// uidRange returns a --run-as range of its own for a worker.
func uidRange(t testing.TB) string {
	t.Helper()
	uids.once.Do(func() {
		for k := range uidBlocks {
			f, err := os.OpenFile(filepath.Join(os.TempDir(), fmt.Sprintf("drover-e2e-uids-%d.lock", k)), os.O_CREATE|os.O_RDWR, 0o600)
			if err != nil {
				uids.err = err
				return
			}
			if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
				uids.base, uids.lock = uidBlockFirst+uint32(k)*uidBlockSize, f
				return
			}
			f.Close()
		}
		uids.err = errors.New("every block of test uids is locked by another test process")
	})
	if uids.err != nil {
		t.Fatal(uids.err)
	}
	n := uids.next.Add(1) - 1
	if n >= uidBlockSize/uidsPerWorker {
		t.Fatal("this test process started more workers than its block of uids holds")
	}
	first := uids.base + n*uidsPerWorker
	return fmt.Sprintf("%d-%d", first, first+uidsPerWorker-1)
}
