//go:build !linux

package worker

import "errors"

// renameNoReplace is Linux's renameat2 only: elsewhere workspaces are not
// reused.
func renameNoReplace(old, name string) error { return errors.ErrUnsupported }

// inspectDir is Linux's only, so no workspace is kept elsewhere.
func inspectDir(path string, to *owner) (dirState, bool) { return dirState{}, false }
