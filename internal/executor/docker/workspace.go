package docker

import (
	"io/fs"
	"os"
	"path/filepath"
)

// prepareWorkspace makes the attempt's workspace writable by the container's
// non-root user before it is bind-mounted at /workspace.
//
// When the worker is root and the engine maps uids one to one, the tree is
// chowned to the container user: the job owns its files, and the worker, as
// root, can still remove them afterwards. Otherwise (a non-root worker in
// the docker group, a rootless or userns-remapped engine) chown is not
// possible or would name the wrong host user, so the tree is opened to
// everyone with chmod (directories a+rwx, files a+rw). The limit of that mode:
// files the job creates belong to the container's host uid, and a non-root
// worker may be unable to delete them from directories the job created with
// restrictive modes.
func (e *Executor) prepareWorkspace(dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.chown {
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
}
