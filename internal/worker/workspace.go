package worker

import (
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// workspaces hands out the attempts' workspaces, folders named
// <attempt id>-<random> in the work dir (the name is how a restarted worker
// tells its earlier life's leftovers from what it runs).
//
// A fresh folder costs a mkdir, and removing it later another system call
// that frees its block: on a file system that discards freed blocks (ext4
// mounted with discard) the pair costs about half a millisecond of system
// time, as much as the rest of a short command's run. So a workspace that an
// attempt leaves exactly as it was made (empty, mode 0755, the worker's
// owner and group, the inode flags and extended attributes, such as a
// default ACL or a label, of a folder just made) is kept,
// up to one per slot, and the next attempt gets it under its own name by a
// rename, which costs a few microseconds. A workspace with anything in it,
// a bundle's files or what the command wrote, is removed as before.
//
// What this gives up: a process that left the job's process group (setsid)
// and outlived the attempt, with its working directory in the workspace,
// could write into the next attempt's workspace, where with a fresh folder
// its writes would fail. Such a process runs as the worker's user and can
// already write anywhere the worker can, so it crosses no boundary the
// process executor keeps; a container's workspace is handed over to the
// container's user, which fails the owner or mode check, so it is never
// kept.
type workspaces struct {
	dir  string // absolute
	keep int

	mu       sync.Mutex
	idle     []string
	uid, gid uint32 // of the folders this worker makes, once one was made
	traits   string // their inode flags and extended attributes (see dirTraits)
	known    bool
}

func newWorkspaces(dir string, keep int) (*workspaces, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	return &workspaces{dir: abs, keep: max(1, keep)}, nil
}

// get returns an empty workspace for attemptID.
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
	if err := os.Chmod(ws, 0o755); err != nil {
		_ = os.RemoveAll(ws)
		return "", err
	}
	if !p.knownOwner() {
		if d, ok := inspectDir(ws); ok {
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

// keepIfAsMade is the first half of put: it keeps ws for reuse when it is
// as made and there is room, and says whether it did; if not, ws is still
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
// inode flags and extended attributes of a folder the worker just made.
func (p *workspaces) asMade(ws string) bool {
	p.mu.Lock()
	uid, gid, traits, known := p.uid, p.gid, p.traits, p.known
	p.mu.Unlock()
	if !known {
		return false
	}
	d, ok := inspectDir(ws)
	return ok && d.empty && d.mode == 0o755 && d.uid == uid && d.gid == gid && d.traits == traits
}

// dirState is what inspectDir reads of a folder.
type dirState struct {
	mode     uint32 // permission bits, setuid, setgid and sticky (07777)
	uid, gid uint32
	traits   string // see dirTraits
	empty    bool
}
