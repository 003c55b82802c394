package worker

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// identity keeps the worker's secret in its work dir.
// A worker started again on that work dir then proves to the coordinator
// that it is the worker still listed under its name. It may have been
// killed, have crashed or the machine rebooted. The coordinator lets it in
// at once instead of refusing the name until the earlier registration is
// found DOWN.
//
// The secret is the worker's alone. It is a file of mode 0600 in a folder
// of mode 0700, beside the attempts' workspaces and never inside one. One
// worker holds a work dir at a time through its lock, so the file has one
// writer.
type identity struct {
	dir string // <work dir>/identity
}

// identityDir is the folder of the work dir that holds the secret.
const identityDir = "identity"

func newIdentity(workDir string) *identity {
	return &identity{dir: filepath.Join(workDir, identityDir)}
}

func (id *identity) path() string { return filepath.Join(id.dir, "secret") }

// load returns the secret an earlier life of this worker kept, or "" when
// there is none.
func (id *identity) load() (string, error) {
	b, err := os.ReadFile(id.path())
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the worker's secret: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// save keeps secret for the next life of this worker. It writes a new file
// and renames it over the old one, so a crash leaves one or the other.
func (id *identity) save(secret string) error {
	if err := os.MkdirAll(id.dir, 0o700); err != nil {
		return fmt.Errorf("keep the worker's secret: %w", err)
	}
	// A folder made by an earlier version, or by hand, is closed too.
	if err := os.Chmod(id.dir, 0o700); err != nil {
		return fmt.Errorf("keep the worker's secret: %w", err)
	}
	tmp, err := os.CreateTemp(id.dir, "secret-*")
	if err != nil {
		return fmt.Errorf("keep the worker's secret: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, there is nothing to remove
	// CreateTemp makes the file 0600.
	if _, err := tmp.WriteString(secret + "\n"); err != nil {
		tmp.Close()
		return fmt.Errorf("keep the worker's secret: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("keep the worker's secret: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("keep the worker's secret: %w", err)
	}
	if err := os.Rename(tmp.Name(), id.path()); err != nil {
		return fmt.Errorf("keep the worker's secret: %w", err)
	}
	return nil
}

// forget removes the secret of a worker that deregistered: the coordinator
// no longer knows it.
func (id *identity) forget() error {
	if err := os.Remove(id.path()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove the worker's secret: %w", err)
	}
	return nil
}
