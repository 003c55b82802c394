//go:build !linux

package worker

import (
	"errors"
	"os"
)

// Off Linux the process executor runs nothing, so no range is ever used.
var errNoRange = errors.New("running jobs under uids of a range needs Linux")

func lockRange(first, last uint32) (*os.File, error)                { return nil, errNoRange }
func killRange(first, last uint32) (int, error)                     { return 0, errNoRange }
func heldIDs(first, last uint32) (map[uint32]bool, error)           { return nil, errNoRange }
func checkMapped(uidFirst, uidLast, gidFirst, gidLast uint32) error { return nil }
func checkUnused(first, last uint32) error                          { return nil }
