//go:build !linux

package worker

import "errors"

// diskUse is Linux's only: elsewhere workspaces are not measured.
func diskUse(dir string, stopAt int64) (int64, error) { return 0, errors.ErrUnsupported }
