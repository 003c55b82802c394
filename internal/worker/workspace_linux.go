package worker

import (
	"errors"
	"os"
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

// dirTraits describes what a folder carries besides its mode and owner: its
// inode flags (chattr's: synchronous, append-only, case-folded, encrypted…)
// and its extended attributes with their values (a default ACL, an SELinux
// label), as one comparable string. ok is false when they cannot be read.
func dirTraits(path string) (traits string, ok bool) {
	var b strings.Builder
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	flags, err := unix.IoctlGetInt(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	f.Close()
	switch {
	case err == nil:
		b.WriteString("flags=" + strconv.Itoa(flags) + "\n")
	case errors.Is(err, unix.ENOTTY), errors.Is(err, unix.ENOTSUP), errors.Is(err, unix.EINVAL):
		// The file system has no such flags.
	default:
		return "", false
	}
	sz, err := unix.Listxattr(path, nil)
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
	if sz, err = unix.Listxattr(path, buf); err != nil {
		return "", false
	}
	names := strings.Split(strings.TrimRight(string(buf[:sz]), "\x00"), "\x00")
	slices.Sort(names)
	for _, name := range names {
		v := make([]byte, 4096)
		n, err := unix.Getxattr(path, name, v)
		if err != nil {
			return "", false
		}
		b.WriteString(name + "=" + strconv.Quote(string(v[:n])) + "\n")
	}
	return b.String(), true
}
