package bundle

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// Info describes a bundle that passed every check.
type Info struct {
	SHA256   string // lowercase hex SHA-256 of the ZIP bytes: the bundle's id
	Size     int64  // bytes of the ZIP
	Files    int    // regular files; directories are not counted
	Unpacked int64  // bytes of the files once extracted, as decompressed
}

// Inspect reads the ZIP of size bytes at r and returns its Info. It checks
// every entry against lim and the path and type rules of the package. Zero
// fields of lim take their defaults. It writes nothing, but it does
// decompress every file. Checksums and real sizes are thus verified, and
// an archive it accepts will extract.
//
// Errors about the archive are *drover.Error. The size limits give
// drover.ETOOLARGE, and hostile or broken archives drover.EINVALID. The
// message names the entry and what is wrong, such as
// `entry "../../etc/passwd" escapes the workspace`.
func Inspect(r io.ReaderAt, size int64, lim Limits) (Info, error) {
	lim = lim.WithDefaults()
	if err := lim.validate(); err != nil {
		return Info{}, err
	}
	a, err := open(r, size, lim)
	if err != nil {
		return Info{}, err
	}
	if err := checkFraming(r, size); err != nil {
		return Info{}, err
	}
	unpacked, err := a.unpack(lim, func(*entry) (io.WriteCloser, error) { return discard{}, nil })
	if err != nil {
		return Info{}, err
	}
	return a.info(unpacked), nil
}

// Extract unpacks the ZIP of size bytes at r into dir, with the checks of
// [Inspect]. dir must exist and be empty. Everything is written through an
// [os.Root] on dir. The kernel, not only the checks on names, thus keeps
// writes inside it.
//
// Directories are created 0755 and files 0644, whatever the umask. Files
// the archive marks executable get 0755. Modification times are those of
// the extraction.
//
// An archive refused for its names, types or declared sizes leaves dir
// untouched. One refused while decompressing leaves what was written so
// far in dir, never outside it, and the caller removes dir. A lying
// header, a bomb and a corrupt entry are found while decompressing.
//
// Names are taken as they are. On a case-insensitive file system two names
// differing only in case would collide and fail as an internal error.
// Workers run on Linux.
func Extract(r io.ReaderAt, size int64, dir string, lim Limits) (Info, error) {
	lim = lim.WithDefaults()
	if err := lim.validate(); err != nil {
		return Info{}, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return Info{}, fmt.Errorf("open workspace: %w", err)
	}
	defer root.Close()
	if err := checkEmpty(root); err != nil {
		return Info{}, err
	}
	a, err := open(r, size, lim)
	if err != nil {
		return Info{}, err
	}
	for _, d := range a.dirs {
		if err := root.Mkdir(d, 0o755); err != nil {
			return Info{}, fmt.Errorf("create directory: %w", err)
		}
		if err := root.Chmod(d, 0o755); err != nil {
			return Info{}, fmt.Errorf("set directory mode: %w", err)
		}
	}
	unpacked, err := a.unpack(lim, func(e *entry) (io.WriteCloser, error) {
		// O_EXCL also refuses to write through anything already there,
		// a link included.
		f, err := root.OpenFile(e.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, e.perm)
		if err != nil {
			return nil, fmt.Errorf("create file: %w", err)
		}
		if err := f.Chmod(e.perm); err != nil {
			f.Close()
			return nil, fmt.Errorf("set file mode: %w", err)
		}
		return f, nil
	})
	if err != nil {
		return Info{}, err
	}
	return a.info(unpacked), nil
}

func (a *archive) info(unpacked int64) Info {
	return Info{SHA256: a.sha256, Size: a.size, Files: len(a.entries), Unpacked: unpacked}
}

func checkEmpty(root *os.Root) error {
	d, err := root.Open(".")
	if err != nil {
		return fmt.Errorf("open workspace: %w", err)
	}
	defer d.Close()
	names, err := d.Readdirnames(1)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read workspace: %w", err)
	}
	if len(names) > 0 {
		return fmt.Errorf("workspace %s is not empty", root.Name())
	}
	return nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
func (discard) Close() error                { return nil }
