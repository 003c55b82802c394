package coordinator

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/bundle"
)

// CheckBundleSize refuses a bundle that says it is size bytes when that is
// over the limit. A size of -1 says nothing. A caller can thus refuse a
// bundle before reading any of it.
func (c *Coordinator) CheckBundleSize(size int64) error {
	if lim := c.cfg.BundleLimits.WithDefaults(); size > lim.MaxCompressed {
		return bundleTooLarge(lim)
	}
	return nil
}

func bundleTooLarge(lim bundle.Limits) error {
	return drover.Errorf(drover.ETOOLARGE, "the bundle is over the %d MiB limit: leave build outputs and data out of it (.droverignore), or raise --bundle-max-size", lim.MaxCompressed>>20)
}

// PutBundle checks a ZIP and stores it once per SHA-256. It returns the
// bundle and whether it was new. The check covers paths, links, types,
// sizes and ratios. A hostile archive is refused with a message naming
// the entry.
//
// The ZIP is written to a temporary file as it is read, and checked there.
// It is then copied to the store a part at a time. An upload thus takes
// disk, not memory, in proportion to its size. The file is in $TMPDIR. It
// is removed at once, even before it is closed where the system allows,
// so a coordinator that stops leaves none behind.
func (c *Coordinator) PutBundle(ctx context.Context, r io.Reader) (*drover.Bundle, bool, error) {
	lim := c.cfg.BundleLimits.WithDefaults()
	f, err := os.CreateTemp("", "drover-bundle-*.zip")
	if err != nil {
		return nil, false, fmt.Errorf("bundle upload file: %w", err)
	}
	defer f.Close()
	if os.Remove(f.Name()) != nil {
		defer os.Remove(f.Name())
	}
	n, err := io.Copy(f, io.LimitReader(r, lim.MaxCompressed+1))
	if err != nil {
		return nil, false, fmt.Errorf("read bundle: %w", err)
	}
	if n > lim.MaxCompressed {
		return nil, false, bundleTooLarge(lim)
	}
	if n == 0 {
		return nil, false, drover.Errorf(drover.EINVALID, "the bundle is empty: send the bytes of a ZIP file")
	}
	info, err := bundle.Inspect(f, n, lim)
	if err != nil {
		return nil, false, err
	}
	b := &drover.Bundle{SHA256: info.SHA256, Size: info.Size, Files: info.Files, Unpacked: info.Unpacked, CreatedAt: c.now()}
	created, err := c.store.PutBundle(ctx, b, io.NewSectionReader(f, 0, n))
	if err != nil {
		return nil, false, fmt.Errorf("store bundle: %w", err)
	}
	if created {
		c.log.Info("bundle stored", "sha256", b.SHA256, "size", b.Size, "files", b.Files)
	} else if had, err := c.store.GetBundle(ctx, b.SHA256); err == nil {
		b = had // as first stored: its createdAt is that upload's
	}
	return b, created, nil
}

// Bundle returns a bundle's description and a reader of its bytes, which
// reads the store as it goes; the caller closes it.
func (c *Coordinator) Bundle(ctx context.Context, sha string) (*drover.Bundle, io.ReadCloser, error) {
	if !drover.IsSHA256(sha) {
		return nil, nil, drover.Errorf(drover.EINVALID, "%q is not a sha256 hex digest", sha)
	}
	b, err := c.store.GetBundle(ctx, sha)
	if err != nil {
		return nil, nil, err
	}
	r, err := c.store.OpenBundle(ctx, sha)
	if err != nil {
		return nil, nil, err
	}
	return b, r, nil
}
