package worker

import (
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/drover-dev/drover/internal/executor"
)

// workspaces hands out the attempts' workspaces. Each is a folder named
// <attempt id>-<random> in the work dir. The name is how a restarted
// worker tells its earlier life's leftovers from what it runs.
//
// A workspace belongs to its attempt alone. It is made with mode 0700 and
// owned by the worker, and stays so while the bundle is unpacked into it.
// It is then handed over to the job's user, so no other job can enter it.
// handOver does that for a process job, and the docker executor for a
// container. When the attempt is over, a root worker takes the folder back
// with fchown before it looks at it. The job's user, or a process it left
// behind, then cannot change it.
//
// A workspace that an attempt leaves exactly as it was made is kept, up to
// one per slot. The next attempt gets it under its own name by a rename. A
// fresh folder costs a mkdir, and removing it later costs a system call
// that frees its block. On a file system that discards freed blocks the
// pair costs as much as the rest of a short command's run. A rename costs
// far less.
//
// As made means empty, with mode 0700, and with the worker's owner and
// group once taken back. Its inode flags and extended attributes must be
// those of a folder just made. A default ACL or a label is such an
// attribute. A workspace with anything in it is removed.
//
// What this gives up: a process can leave the job's process group with
// setsid and outlive the attempt. With its working directory in the
// workspace, it keeps that directory open. Once the folder is taken back
// the process cannot write there, unless it runs as the worker's user. It
// can also write there when it runs as the user of the next job to get the
// folder, as with a shared --run-as user. Such a process can already reach
// the next job's workspace by its path.
type workspaces struct {
	dir   string // absolute
	keep  int
	chown bool // the worker is root: take folders back from their jobs

	mu       sync.Mutex
	idle     []string
	uid, gid uint32 // of the folders this worker makes, once one was made
	traits   string // their inode flags and extended attributes (see dirTraits)
	known    bool
}

// owner is a uid and a gid.
type owner struct{ uid, gid uint32 }

func newWorkspaces(dir string, keep int) (*workspaces, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	return &workspaces{dir: abs, keep: max(1, keep), chown: os.Geteuid() == 0}, nil
}

// get returns an empty workspace for attemptID, mode 0700 and the
// worker's.
func (p *workspaces) get(attemptID string) (string, error) {
	p.mu.Lock()
	var old string
	if n := len(p.idle); n > 0 {
		old, p.idle = p.idle[n-1], p.idle[:n-1]
	}
	p.mu.Unlock()
	if old != "" {
		for range 3 {
			name := filepath.Join(p.dir, attemptID+"-"+strconv.FormatUint(uint64(rand.Uint32()), 10))
			err := renameNoReplace(old, name)
			if err == nil {
				return name, nil
			}
			if !errors.Is(err, fs.ErrExist) {
				break // no such rename here, or the folder is gone: make one
			}
		}
		_ = os.RemoveAll(old)
	}
	ws, err := os.MkdirTemp(p.dir, attemptID+"-")
	if err != nil {
		return "", err
	}
	if err := os.Chmod(ws, 0o700); err != nil {
		_ = os.RemoveAll(ws)
		return "", err
	}
	if !p.knownOwner() {
		if d, ok := inspectDir(ws, nil); ok {
			p.mu.Lock()
			p.uid, p.gid, p.traits, p.known = d.uid, d.gid, d.traits, true
			p.mu.Unlock()
		}
	}
	return ws, nil
}

// put takes back a workspace once its attempt is over and nothing of it
// runs: kept when it is as made and there is room, removed otherwise.
func (p *workspaces) put(ws string) error {
	if p.keepIfAsMade(ws) {
		return nil
	}
	return os.RemoveAll(ws)
}

// keepIfAsMade is the first half of put. It keeps ws for reuse when it is
// as made and there is room, and says whether it did. If not, ws is still
// the caller's to put.
func (p *workspaces) keepIfAsMade(ws string) bool {
	if !p.asMade(ws) {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle) < p.keep {
		p.idle = append(p.idle, ws)
		return true
	}
	return false
}

// close removes the workspaces kept for reuse.
func (p *workspaces) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, ws := range idle {
		_ = os.RemoveAll(ws)
	}
}

func (p *workspaces) knownOwner() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.known
}

// asMade reports whether ws is an empty folder with the mode, owner, group,
// inode flags and extended attributes of a folder the worker just made. A
// root worker first takes the folder back from its job's user.
func (p *workspaces) asMade(ws string) bool {
	p.mu.Lock()
	uid, gid, traits, known := p.uid, p.gid, p.traits, p.known
	p.mu.Unlock()
	if !known {
		return false
	}
	var to *owner
	if p.chown {
		to = &owner{uid, gid}
	}
	d, ok := inspectDir(ws, to)
	return ok && d.empty && d.mode == 0o700 && d.uid == uid && d.gid == gid && d.traits == traits
}

// handOver gives the workspace ws to the user a process job runs as.
// With bundle, everything in the folder goes to that user too, its modes
// kept. The folder itself goes last. Until then it is the worker's alone,
// so nothing can swap a path under the walk.
func (p *workspaces) handOver(ws string, u *executor.User, bundle bool) error {
	if bundle {
		root, err := os.OpenRoot(ws)
		if err != nil {
			return err
		}
		defer root.Close()
		err = fs.WalkDir(root.FS(), ".", func(path string, d fs.DirEntry, err error) error {
			if err != nil || path == "." {
				return err
			}
			return root.Lchown(path, int(u.UID), int(u.GID))
		})
		if err != nil {
			return err
		}
	}
	return os.Chown(ws, int(u.UID), int(u.GID))
}

// dirState is what inspectDir reads of a folder.
type dirState struct {
	mode     uint32 // the bits of 07777: permissions, setuid, setgid and sticky
	uid, gid uint32
	traits   string // see dirTraits
	empty    bool
}
