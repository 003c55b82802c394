package worker

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// renameNoReplace renames old to name, failing with fs.ErrExist (EEXIST)
// rather than replacing an existing name.
func renameNoReplace(old, name string) error {
	return unix.Renameat2(unix.AT_FDCWD, old, unix.AT_FDCWD, name, unix.RENAME_NOREPLACE)
}

// inspectDir reads the folder at path through one descriptor. It reads
// its mode, owner, traits and whether it is empty. ok is false when path
// is not a folder or something cannot be read. A symbolic link to a folder
// is not one. With to, the folder is first given to that owner with
// fchown. The user it belonged to then cannot change it while it is read.
func inspectDir(path string, to *owner) (d dirState, ok bool) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return d, false
	}
	defer unix.Close(fd)
	if to != nil && unix.Fchown(fd, int(to.uid), int(to.gid)) != nil {
		return d, false
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return d, false
	}
	d.mode, d.uid, d.gid = st.Mode&0o7777, st.Uid, st.Gid
	if d.traits, ok = dirTraits(fd); !ok {
		return d, false
	}
	if d.empty, ok = emptyDir(fd); !ok {
		return d, false
	}
	return d, true
}

// emptyDir reports whether the folder open at fd has no entry but . and ..
func emptyDir(fd int) (empty, ok bool) {
	var buf [1024]byte
	for {
		n, err := unix.Getdents(fd, buf[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return false, false
		}
		if n <= 0 {
			return true, true
		}
		// ParseDirent skips . and .. (and deleted entries).
		if _, found, _ := unix.ParseDirent(buf[:n], 1, nil); found > 0 {
			return false, true
		}
	}
}

// dirTraits describes what the folder open at fd carries besides its mode
// and owner, as one comparable string. It holds the inode flags that
// chattr sets, such as append-only or case-folded. It holds the extended
// attributes with their values, such as a default ACL or an SELinux
// label. ok is false when they cannot be read.
func dirTraits(fd int) (traits string, ok bool) {
	var b strings.Builder
	flags, err := unix.IoctlGetInt(fd, unix.FS_IOC_GETFLAGS)
	switch {
	case err == nil:
		b.WriteString("flags=" + strconv.Itoa(flags) + "\n")
	case errors.Is(err, unix.ENOTTY), errors.Is(err, unix.ENOTSUP), errors.Is(err, unix.EINVAL):
		// The file system has no such flags.
	default:
		return "", false
	}
	sz, err := unix.Flistxattr(fd, nil)
	if errors.Is(err, unix.ENOTSUP) {
		return b.String(), true
	}
	if err != nil {
		return "", false
	}
	if sz == 0 {
		return b.String(), true
	}
	buf := make([]byte, sz)
	if sz, err = unix.Flistxattr(fd, buf); err != nil {
		return "", false
	}
	names := strings.Split(strings.TrimRight(string(buf[:sz]), "\x00"), "\x00")
	slices.Sort(names)
	for _, name := range names {
		v := make([]byte, 4096)
		n, err := unix.Fgetxattr(fd, name, v)
		if err != nil {
			return "", false
		}
		b.WriteString(name + "=" + strconv.Quote(string(v[:n])) + "\n")
	}
	return b.String(), true
}
