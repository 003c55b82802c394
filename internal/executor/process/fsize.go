//go:build linux

package process

import "golang.org/x/sys/unix"

// limitFileSize sets the file size limit (RLIMIT_FSIZE, soft and hard) of
// the started process pid to n bytes. Go starts a child with no hook
// between fork and exec, so this is set just after the exec: for that
// moment, and in any child it forked then, the command runs without it.
// The worker's measure of the workspace still bounds what that writes.
func limitFileSize(pid int, n int64) error {
	lim := unix.Rlimit{Cur: uint64(n), Max: uint64(n)}
	return unix.Prlimit(pid, unix.RLIMIT_FSIZE, &lim, nil)
}
