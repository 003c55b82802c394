package coordinator

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/bundle"
)

// PutBundle checks a ZIP (paths, links, types, sizes, ratios: a hostile
// archive is refused with a message naming the entry) and stores it once
// per SHA-256. It returns the bundle and whether it was new.
//
// The ZIP is held in memory while it is checked and stored, so a
// coordinator needs up to BundleLimits.MaxCompressed of memory per upload
// in flight.
func (c *Coordinator) PutBundle(ctx context.Context, r io.Reader) (*drover.Bundle, bool, error) {
	lim := c.cfg.BundleLimits.WithDefaults()
	data, err := io.ReadAll(io.LimitReader(r, lim.MaxCompressed+1))
	if err != nil {
		return nil, false, fmt.Errorf("read bundle: %w", err)
	}
	if int64(len(data)) > lim.MaxCompressed {
		return nil, false, drover.Errorf(drover.ETOOLARGE, "the bundle is over the %d MiB limit: leave build outputs and data out of it (.droverignore), or raise --bundle-max-size", lim.MaxCompressed>>20)
	}
	if len(data) == 0 {
		return nil, false, drover.Errorf(drover.EINVALID, "the bundle is empty: send the bytes of a ZIP file")
	}
	info, err := bundle.Inspect(bytes.NewReader(data), int64(len(data)), lim)
	if err != nil {
		return nil, false, err
	}
	b := &drover.Bundle{SHA256: info.SHA256, Size: info.Size, Files: info.Files, Unpacked: info.Unpacked, CreatedAt: c.now()}
	created, err := c.store.PutBundle(ctx, b, data)
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

// Bundle returns a bundle's description and bytes.
func (c *Coordinator) Bundle(ctx context.Context, sha string) (*drover.Bundle, []byte, error) {
	if !drover.IsSHA256(sha) {
		return nil, nil, drover.Errorf(drover.EINVALID, "%q is not a sha256 hex digest", sha)
	}
	b, err := c.store.GetBundle(ctx, sha)
	if err != nil {
		return nil, nil, err
	}
	data, err := c.store.BundleData(ctx, sha)
	if err != nil {
		return nil, nil, err
	}
	return b, data, nil
}
