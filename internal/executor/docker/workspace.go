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
// chowned to the container user. The folder itself gets mode 0700. The job
// owns its files, and no other user of the host can read them. The worker,
// as root, can still remove them afterwards. The folder is chowned last,
// so a host process of the container's uid cannot swap a path under the
// walk.
//
// Otherwise chown is not possible, or would name the wrong host user. That
// is so for a non-root worker in the docker group, and for a rootless or
// userns-remapped engine. The tree is then opened to everyone with chmod:
// directories get a+rwx and files a+rw. The worker's work dir, which
// other users cannot list, and the folder's unguessable name then keep
// them out.
//
// That mode has a limit. The files the job creates belong to the
// container's host uid. A non-root worker may be unable to delete them
// from directories the job created with restrictive modes.
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
