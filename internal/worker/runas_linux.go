package worker

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// rangeProc is a live process holding an id of a range.
type rangeProc struct {
	pid int
	uid uint32 // the first of its ids found in the range
}

// rangeProcs lists the live processes with a uid in first-last.
// Zombies are left out. Any of the real, effective, saved or file system
// uids counts. It reads them from /proc/PID/status, which shows the ids
// whatever the process made of its other /proc files.
func rangeProcs(first, last uint32) ([]rangeProc, error) {
	dir, err := os.Open("/proc")
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	var ps []rangeProc
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		if uid, ok := statusUID(pid, first, last); ok {
			ps = append(ps, rangeProc{pid: pid, uid: uid})
		}
	}
	return ps, nil
}

// statusUID reads /proc/pid/status and returns the first of the process's
// uids in first-last; ok is false when it holds none, is a zombie or is
// gone.
func statusUID(pid int, first, last uint32) (uid uint32, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, false
	}
	if st := statusField(b, "State:"); len(st) > 0 && (st[0] == 'Z' || st[0] == 'X') {
		return 0, false
	}
	for _, f := range bytes.Fields(statusField(b, "Uid:")) {
		n, err := strconv.ParseUint(string(f), 10, 32)
		if err == nil && uint32(n) >= first && uint32(n) <= last {
			return uint32(n), true
		}
	}
	return 0, false
}

// statusField returns the value of a "Name:\tvalue" line of a status file.
func statusField(b []byte, name string) []byte {
	for len(b) > 0 {
		line, rest, _ := bytes.Cut(b, []byte{'\n'})
		if v, ok := bytes.CutPrefix(line, []byte(name)); ok {
			return bytes.TrimSpace(v)
		}
		b = rest
	}
	return nil
}

// heldIDs returns the ids of first-last that live processes hold.
func heldIDs(first, last uint32) (map[uint32]bool, error) {
	ps, err := rangeProcs(first, last)
	if err != nil {
		return nil, err
	}
	held := make(map[uint32]bool, len(ps))
	for _, p := range ps {
		held[p.uid] = true
	}
	return held, nil
}

// killBound is how long killRange waits for the processes it killed to
// die before it looks again.
const killBound = 2 * time.Second

// killRange kills every process running under an id of first-last, and
// those they fork meanwhile, in a few rounds. Each is signalled through a
// pidfd opened before its ids are read a second time, so a pid reused in
// between is never hit. It returns how many it killed.
func killRange(first, last uint32) (int, error) {
	killed := 0
	for range 10 {
		ps, err := rangeProcs(first, last)
		if err != nil || len(ps) == 0 {
			return killed, err
		}
		var fds []int
		for _, p := range ps {
			pidfd, err := unix.PidfdOpen(p.pid, 0)
			if errors.Is(err, unix.ESRCH) {
				continue
			}
			if err != nil {
				pidfd = -1 // no pidfds here: signal by pid
			}
			if _, ok := statusUID(p.pid, first, last); !ok {
				closePidfd(pidfd)
				continue
			}
			if pidfd < 0 {
				if syscall.Kill(p.pid, syscall.SIGKILL) == nil {
					killed++
				}
				continue
			}
			if unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0) == nil {
				killed++
			}
			fds = append(fds, pidfd)
		}
		waitPidfds(fds, killBound)
	}
	return killed, nil
}

// waitPidfds waits until every process of fds has exited, or bound has
// passed. It then closes them. A pidfd turns readable once its process
// exits.
func waitPidfds(fds []int, bound time.Duration) {
	deadline := time.Now().Add(bound)
	for _, fd := range fds {
		for {
			left := time.Until(deadline)
			if left <= 0 {
				break
			}
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			if _, err := unix.Poll(pfd, int(left.Milliseconds())+1); err != unix.EINTR {
				break
			}
		}
		closePidfd(fd)
	}
}

func closePidfd(fd int) {
	if fd >= 0 {
		_ = unix.Close(fd)
	}
}

// lockDir holds the locks of the ranges workers of this machine use.
const lockDir = "/run/drover"

// lockRange takes first-last for this process on this machine, or says
// which worker holds a range that overlaps it. Each range in use is a
// file uids-FIRST-LAST in lockDir. Its worker holds a flock on it for as
// long as it lives. A file nobody locks is what a dead worker left. The
// check and the taking are one step under lockDir's own lock.
func lockRange(first, last uint32) (*os.File, error) {
	if err := os.MkdirAll(lockDir, 0o700); err != nil {
		return nil, fmt.Errorf("lock the uid range: %w", err)
	}
	guard, err := os.OpenFile(filepath.Join(lockDir, "ranges.lock"), os.O_CREATE|os.O_RDWR|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock the uid range: %w", err)
	}
	defer guard.Close()
	if err := flock(guard, syscall.LOCK_EX); err != nil {
		return nil, fmt.Errorf("lock the uid range: %w", err)
	}
	des, err := os.ReadDir(lockDir)
	if err != nil {
		return nil, fmt.Errorf("lock the uid range: %w", err)
	}
	for _, de := range des {
		a, b, ok := parseRangeName(de.Name())
		if !ok || b < first || a > last {
			continue
		}
		path := filepath.Join(lockDir, de.Name())
		f, err := os.OpenFile(path, os.O_RDWR|syscall.O_CLOEXEC, 0)
		if err != nil {
			continue // removed since
		}
		if err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			pid, _ := os.ReadFile(path)
			f.Close()
			holder := "another drover worker on this machine"
			if p := strings.TrimSpace(string(pid)); p != "" {
				holder += " (pid " + p + ")"
			}
			hint := ""
			if next := uint64(b) + uint64(last-first) + 1; next < 1<<31 {
				hint = fmt.Sprintf(", such as %d-%d", uint64(b)+1, next)
			}
			return nil, fmt.Errorf("uids %d-%d are in use by %s, which runs its jobs under uids %d-%d: give each worker on a machine a range of its own (--run-as FIRST-LAST%s)",
				first, last, holder, a, b, hint)
		}
		f.Close()
		_ = os.Remove(path) // left by a worker that is gone
	}
	own, err := os.OpenFile(filepath.Join(lockDir, rangeName(first, last)), os.O_CREATE|os.O_RDWR|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock the uid range: %w", err)
	}
	if err := flock(own, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		own.Close()
		return nil, fmt.Errorf("lock the uid range: %w", err)
	}
	if err := own.Truncate(0); err == nil {
		_, _ = own.WriteString(strconv.Itoa(os.Getpid()) + "\n")
	}
	return own, nil
}

func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			return err
		}
	}
}

func rangeName(first, last uint32) string {
	return fmt.Sprintf("uids-%d-%d", first, last)
}

func parseRangeName(name string) (first, last uint32, ok bool) {
	r, ok := strings.CutPrefix(name, "uids-")
	if !ok {
		return 0, 0, false
	}
	a, b, ok := strings.Cut(r, "-")
	if !ok {
		return 0, 0, false
	}
	x, err1 := strconv.ParseUint(a, 10, 32)
	y, err2 := strconv.ParseUint(b, 10, 32)
	return uint32(x), uint32(y), err1 == nil && err2 == nil
}

// checkMapped makes sure the uids and gids exist in the worker's user
// namespace (inside a container with a partial map they may not).
func checkMapped(uidFirst, uidLast, gidFirst, gidLast uint32) error {
	for _, m := range []struct {
		file        string
		first, last uint32
		what        string
	}{{"/proc/self/uid_map", uidFirst, uidLast, "uid"}, {"/proc/self/gid_map", gidFirst, gidLast, "gid"}} {
		b, err := os.ReadFile(m.file)
		if err != nil {
			continue // no user namespaces here: every id exists
		}
		if !mapCovers(b, m.first, m.last) {
			ids := fmt.Sprint(m.first)
			if m.last != m.first {
				ids = fmt.Sprintf("%d-%d", m.first, m.last)
			}
			return fmt.Errorf("%s %s is not mapped in the worker's user namespace (%s: %s): give ids inside it", m.what, ids, m.file, strings.Join(strings.Fields(string(b)), " "))
		}
	}
	return nil
}

// mapCovers reports whether one line "inside outside count" of a
// uid_map or gid_map holds first-last.
func mapCovers(b []byte, first, last uint32) bool {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			continue
		}
		in, err1 := strconv.ParseUint(f[0], 10, 64)
		n, err2 := strconv.ParseUint(f[2], 10, 64)
		if err1 == nil && err2 == nil && uint64(first) >= in && uint64(last) < in+n {
			return true
		}
	}
	return false
}

// checkUnused makes sure no user of /etc/passwd and no group of /etc/group
// has an id in first-last. Jobs would run as that user. The worker also
// kills at start what runs under the range's ids. Users known only to a
// directory service such as LDAP are not seen.
func checkUnused(first, last uint32) error {
	for _, db := range []struct{ file, what string }{{"/etc/passwd", "user"}, {"/etc/group", "group"}} {
		b, err := os.ReadFile(db.file)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Split(line, ":")
			if len(f) < 3 {
				continue
			}
			id, err := strconv.ParseUint(f[2], 10, 32)
			if err == nil && uint32(id) >= first && uint32(id) <= last {
				return fmt.Errorf("the range %d-%d holds %s %s (id %d, %s): jobs would run as it, and the worker kills what runs under the range's ids at start; give a range of ids no user or group has", first, last, db.what, f[0], id, db.file)
			}
		}
	}
	return nil
}
