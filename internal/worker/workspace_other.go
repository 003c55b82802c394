//go:build !linux

package worker

import "errors"

// renameNoReplace is Linux's renameat2 only: elsewhere workspaces are not
// reused.
func renameNoReplace(old, name string) error { return errors.ErrUnsupported }

// noXattrs is not checked outside Linux, so no workspace is kept there.
func noXattrs(path string) bool { return false }
