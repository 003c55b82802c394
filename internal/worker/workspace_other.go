//go:build !linux

package worker

import "errors"

// renameNoReplace is Linux's renameat2 only: elsewhere workspaces are not
// reused.
func renameNoReplace(old, name string) error { return errors.ErrUnsupported }

// dirTraits is not read outside Linux, so no workspace is kept there.
func dirTraits(path string) (string, bool) { return "", false }
