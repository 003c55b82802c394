//go:build unix

package executor

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// Reachable reports whether u may search dir and every folder on the way
// to it. It reads the mode bits only, not access control lists. The error
// names the folder that stops u. A command needs that search to start in
// dir, since a process that switches to u enters dir only after the
// switch.
func Reachable(dir string, u *User) error {
	if u.UID == 0 {
		return nil // root searches any folder
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for p := abs; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil // no owner to judge by
		}
		bit := os.FileMode(0o001)
		switch {
		case st.Uid == u.UID:
			bit = 0o100
		case st.Gid == u.GID:
			bit = 0o010
		}
		if fi.Mode().Perm()&bit == 0 {
			return fmt.Errorf("%s (mode %04o, owner %d:%d) does not let uid %d search it", p, fi.Mode().Perm(), st.Uid, st.Gid, u.UID)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}
