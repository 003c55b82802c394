package worker

import (
	"errors"

	"golang.org/x/sys/unix"
)

// renameNoReplace renames old to name, failing with fs.ErrExist (EEXIST)
// rather than replacing an existing name.
func renameNoReplace(old, name string) error {
	return unix.Renameat2(unix.AT_FDCWD, old, unix.AT_FDCWD, name, unix.RENAME_NOREPLACE)
}

// noXattrs reports whether path has no extended attributes (a default ACL
// is one), or the file system keeps none.
func noXattrs(path string) bool {
	n, err := unix.Listxattr(path, nil)
	if err != nil {
		return errors.Is(err, unix.ENOTSUP)
	}
	return n == 0
}
