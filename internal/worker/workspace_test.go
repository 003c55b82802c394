//go:build linux

package worker

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/drover-dev/drover/internal/executor"

	"golang.org/x/sys/unix"
)

func TestWorkspaceReusedOnlyAsMade(t *testing.T) {
	dir := t.TempDir()
	p, err := newWorkspaces(dir, 4)
	if err != nil {
		t.Fatal(err)
	}
	get := func(id string) (string, os.FileInfo) {
		t.Helper()
		ws, err := p.get(id)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Dir(ws) != dir || !strings.HasPrefix(filepath.Base(ws), id+"-") {
			t.Fatalf("workspace %s: want %s/%s-*", ws, dir, id)
		}
		fi, err := os.Lstat(ws)
		if err != nil {
			t.Fatal(err)
		}
		if !fi.IsDir() || fi.Mode().Perm() != 0o700 {
			t.Fatalf("workspace %s: mode %v, want a 0700 folder", ws, fi.Mode())
		}
		if des, _ := os.ReadDir(ws); len(des) != 0 {
			t.Fatalf("workspace %s is not empty: %v", ws, des)
		}
		return ws, fi
	}
	put := func(ws string) {
		t.Helper()
		if err := p.put(ws); err != nil {
			t.Fatal(err)
		}
	}

	// Left as made: the next attempt gets the same folder under its name.
	ws1, fi1 := get("att_1")
	put(ws1)
	if len(p.idle) != 1 {
		t.Fatalf("an untouched workspace was not kept: %v", p.idle)
	}
	ws2, fi2 := get("att_2")
	if !os.SameFile(fi1, fi2) {
		t.Fatalf("an untouched workspace was not reused: %s then %s", ws1, ws2)
	}
	if _, err := os.Lstat(ws1); !os.IsNotExist(err) {
		t.Fatalf("the old name %s is still there: %v", ws1, err)
	}

	// Anything changed: removed, and the next attempt gets a new folder.
	changes := map[string]func(ws string) error{
		"a file":       func(ws string) error { return os.WriteFile(filepath.Join(ws, "out"), nil, 0o644) },
		"a hidden dir": func(ws string) error { return os.Mkdir(filepath.Join(ws, ".cache"), 0o755) },
		"its mode":     func(ws string) error { return os.Chmod(ws, 0o777) },
		"sticky bit":   func(ws string) error { return os.Chmod(ws, 0o700|os.ModeSticky) },
		"an xattr":     func(ws string) error { return unix.Setxattr(ws, "user.drover-test", []byte("x"), 0) },
		"a link to an empty folder in its place": func(ws string) error {
			if err := os.Rename(ws, ws+".real"); err != nil {
				return err
			}
			return os.Symlink(ws+".real", ws)
		},
		"an inode flag": func(ws string) error { // chattr +A
			f, err := os.Open(ws)
			if err != nil {
				return err
			}
			defer f.Close()
			flags, err := unix.IoctlGetInt(int(f.Fd()), unix.FS_IOC_GETFLAGS)
			if err != nil {
				return err
			}
			return unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, flags|0x80) // FS_NOATIME_FL
		},
	}
	for what, change := range changes {
		ws, _ := get("att_changed")
		if err := change(ws); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		put(ws)
		if _, err := os.Lstat(ws); !os.IsNotExist(err) {
			t.Fatalf("%s: workspace %s was kept (%v)", what, ws, err)
		}
		if len(p.idle) != 0 {
			t.Fatalf("%s: a changed workspace is kept for reuse: %v", what, p.idle)
		}
	}

	// Removed in the meantime: a fresh folder, no error.
	ws3, _ := get("att_3")
	put(ws3)
	if err := os.Remove(ws3); err != nil {
		t.Fatal(err)
	}
	get("att_4")
}

func TestWorkspacesKeptUpToBoundAndClosed(t *testing.T) {
	dir := t.TempDir()
	p, err := newWorkspaces(dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	var wss []string
	for _, id := range []string{"att_a", "att_b", "att_c"} {
		ws, err := p.get(id)
		if err != nil {
			t.Fatal(err)
		}
		wss = append(wss, ws)
	}
	for _, ws := range wss {
		if err := p.put(ws); err != nil {
			t.Fatal(err)
		}
	}
	if des, _ := os.ReadDir(dir); len(des) != 2 {
		t.Fatalf("%d workspaces kept, want 2 (the bound)", len(des))
	}
	p.close()
	if des, _ := os.ReadDir(dir); len(des) != 0 {
		t.Fatalf("close left %d workspaces", len(des))
	}
}

// BenchmarkWorkspaceReuse is a short attempt's workspace: taken from the
// pool (a rename), checked as made and given back.
func BenchmarkWorkspaceReuse(b *testing.B) {
	p, err := newWorkspaces(b.TempDir(), 1)
	if err != nil {
		b.Fatal(err)
	}
	defer p.close()
	for i := 0; b.Loop(); i++ {
		ws, err := p.get("att_" + strconv.Itoa(i))
		if err != nil {
			b.Fatal(err)
		}
		if !p.keepIfAsMade(ws) {
			b.Fatal("an untouched workspace was not kept")
		}
	}
}

// searchable returns a folder for the test whose parents every user may
// search, as a worker's work dir must be for jobs that run as other users.
func searchable(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// asUser runs sh -c script as uid:gid and returns its combined output and
// whether it exited 0.
func asUser(t *testing.T, uid uint32, script string) (string, bool) {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

// A workspace is handed over to its job's user, bundle and all, and taken
// back when the job is over: the user it belonged to, or a process of its
// left behind, can no longer write to the folder kept for the next job.
func TestWorkspaceHandedOverAndTakenBack(t *testing.T) {
	needRoot(t)
	const uid uint32 = 0x7E002000 // no one's id
	dir := searchable(t)
	p, err := newWorkspaces(dir, 4)
	if err != nil {
		t.Fatal(err)
	}
	u := &executor.User{UID: uid, GID: uid, Name: "drover-job"}
	owned := func(path string, uid uint32, perm os.FileMode) {
		t.Helper()
		fi, err := os.Lstat(path)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != uid || st.Gid != uid || fi.Mode().Perm() != perm {
			t.Errorf("%s: owner %d:%d mode %04o, want %d:%d %04o", path, st.Uid, st.Gid, fi.Mode().Perm(), uid, uid, perm)
		}
	}

	// A bundle's files: the user's, their modes kept; the folder 0700.
	ws, err := p.get("att_bundle")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(ws, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, mode := range map[string]os.FileMode{"bin/run": 0o755, "data": 0o644} {
		if err := os.WriteFile(filepath.Join(ws, name), []byte("#!/bin/sh\necho ran\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.handOver(ws, u, true); err != nil {
		t.Fatal(err)
	}
	owned(ws, uid, 0o700)
	owned(filepath.Join(ws, "bin"), uid, 0o755)
	owned(filepath.Join(ws, "bin/run"), uid, 0o755)
	owned(filepath.Join(ws, "data"), uid, 0o644)
	if out, ok := asUser(t, uid, "cd "+ws+" && ./bin/run && echo new > out && cat data >/dev/null"); !ok || out != "ran\n" {
		t.Errorf("the job's user cannot work in its workspace: %q", out)
	}
	if err := p.put(ws); err != nil {
		t.Fatal(err)
	}

	// An empty workspace, left as made: taken back and kept.
	ws, err = p.get("att_empty")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.handOver(ws, u, false); err != nil {
		t.Fatal(err)
	}
	owned(ws, uid, 0o700)
	if !p.keepIfAsMade(ws) {
		t.Fatal("an untouched workspace was not kept")
	}
	owned(ws, 0, 0o700)
	if out, ok := asUser(t, uid, "touch "+ws+"/late"); ok {
		t.Fatalf("the job's user wrote into its workspace once taken back: %s", out)
	}

	// One its user opened to everyone before the end is not kept.
	ws, err = p.get("att_opened")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.handOver(ws, u, false); err != nil {
		t.Fatal(err)
	}
	if out, ok := asUser(t, uid, "chmod 777 "+ws); !ok {
		t.Fatalf("chmod as the job's user: %s", out)
	}
	if p.keepIfAsMade(ws) {
		t.Fatal("a workspace its job opened to everyone was kept")
	}
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("this test switches users: CI runs as root")
		}
		t.Skip("this test switches users, which needs root")
	}
}
