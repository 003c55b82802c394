package docker

import (
	"io/fs"
	"os"
	"path/filepath"
)

// prepareWorkspace hands the attempt's workspace to the container's
// non-root user before it is bind-mounted at /workspace.
//
// When the worker is root and the engine maps uids one to one, the tree is
// chowned to the container user and the folder itself is mode 0700: the job
// owns its files, no other user of the host can read them, and the worker,
// as root, can still remove them afterwards. The folder is chowned last, so
// a host process of the container's uid cannot swap a path under the walk.
// Otherwise (a non-root worker in the docker group, a rootless or
// userns-remapped engine) chown is not possible or would name the wrong
// host user, so the tree is opened to everyone with chmod (directories
// a+rwx, files a+rw); the worker's work dir, which other users cannot
// list, and the folder's unguessable name are then what keep them out. The limit of that mode: files the job
// creates belong to the container's host uid, and a non-root worker may be
// unable to delete them from directories the job created with restrictive
// modes.
func (e *Executor) prepareWorkspace(dir string) error {
	if e.chown {
		if err := os.Chmod(dir, 0o700); err != nil {
			return err
		}
	}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.chown {
			if path == dir {
				return nil // last, below
			}
			return os.Lchown(path, e.uid, e.gid)
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil // chmod would follow the link out of the workspace
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := info.Mode().Perm() | 0o666
		if d.IsDir() {
			mode |= 0o111
		}
		return os.Chmod(path, mode)
	})
	if err != nil || !e.chown {
		return err
	}
	return os.Lchown(dir, e.uid, e.gid)
}
