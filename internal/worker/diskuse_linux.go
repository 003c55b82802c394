package worker

import (
	"errors"

	"golang.org/x/sys/unix"
)

// errReached ends a walk that reached its stopAt.
var errReached = errors.New("reached")

// diskUse returns the disk space allocated to dir and everything under it.
// It sums st_blocks × 512 of every file, folder and link. A file with
// several hard links counts once.
//
// A positive stopAt stops the count once the sum reaches it, and diskUse
// returns that sum. A walk costs a system call or two per entry, and past
// a limit the exact figure is of no use.
//
// It goes through descriptors with openat and fstatat, and never follows a
// link. A job renaming things meanwhile therefore cannot send it outside
// dir. It stays on dir's file system. Entries that vanish while it walks
// are skipped. A folder it may not open counts its own blocks only.
// Folders nested deeper than maxWalkDepth end the walk with errTooDeep.
func diskUse(dir string, stopAt int64) (int64, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return 0, err
	}
	m := &diskMeter{dev: uint64(st.Dev), stopAt: stopAt}
	if m.count(&st) {
		unix.Close(fd)
		return m.total, nil
	}
	if err := m.walk(fd, 1); err != nil && err != errReached {
		return m.total, err
	}
	return m.total, nil
}

// diskMeter is the state of one diskUse walk.
type diskMeter struct {
	dev    uint64
	stopAt int64
	total  int64
	links  map[uint64]struct{} // inodes with several links, counted already
}

// count adds the file st describes and reports whether stopAt is reached.
func (m *diskMeter) count(st *unix.Stat_t) bool {
	if st.Nlink > 1 && st.Mode&unix.S_IFMT != unix.S_IFDIR {
		if m.links == nil {
			m.links = map[uint64]struct{}{}
		}
		if _, seen := m.links[st.Ino]; seen {
			return false
		}
		m.links[st.Ino] = struct{}{}
	}
	m.total += st.Blocks * 512
	return m.stopAt > 0 && m.total >= m.stopAt
}

// walk counts what the folder open at fd holds, at depth below the root,
// and closes fd.
func (m *diskMeter) walk(fd, depth int) error {
	defer unix.Close(fd)
	var buf [8 << 10]byte
	var names []string
	for {
		n, err := unix.Getdents(fd, buf[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			return nil
		}
		// ParseDirent skips . and .. (and deleted entries).
		_, _, names = unix.ParseDirent(buf[:n], -1, names[:0])
		for _, name := range names {
			if err := m.entry(fd, name, depth); err != nil {
				return err
			}
		}
	}
}

// entry counts the entry name of the folder open at fd, and what it holds
// when it is a folder.
func (m *diskMeter) entry(fd int, name string, depth int) error {
	var st unix.Stat_t
	if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || uint64(st.Dev) != m.dev {
		return nil // gone, or another file system mounted here
	}
	if m.count(&st) {
		return errReached
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return nil
	}
	if depth > maxWalkDepth {
		return errTooDeep
	}
	cfd, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	// Another folder may have been renamed to name since the fstatat: it
	// is walked if it is on the same file system.
	if err := unix.Fstat(cfd, &st); err != nil || uint64(st.Dev) != m.dev {
		unix.Close(cfd)
		return nil
	}
	return m.walk(cfd, depth+1)
}
