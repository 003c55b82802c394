package bundle

import (
	"cmp"
	"fmt"
	"math"

	"github.com/drover-dev/drover"
)

// Limits bound what a bundle may cost to store and unpack. The zero value of
// a field means its default; see [Limits.WithDefaults].
type Limits struct {
	// MaxCompressed is the largest ZIP accepted, in bytes. Defaults to 100 MiB.
	// Over it: drover.ETOOLARGE.
	MaxCompressed int64
	// MaxUnpacked is the largest total size of the files once extracted, in
	// bytes, counted as they are decompressed. Defaults to 1 GiB. Over it:
	// drover.ETOOLARGE.
	MaxUnpacked int64
	// MaxFiles is the largest number of files and directories. The
	// directories the entries' paths imply count too: a/b/c makes a and
	// a/b. Defaults to 10,000. Over it: drover.ETOOLARGE.
	//
	// The entries are first counted on the raw bytes, before the
	// directory is parsed, to bound memory. A ZIP stored uncompressed
	// inside the bundle therefore counts if its own directory is the
	// longer one.
	MaxFiles int
	// MaxDepth is the most folders an entry may sit in. Defaults to 64.
	// Over it: drover.EINVALID.
	//
	// Making a folder or a file costs a step per folder above it. A chain
	// as deep as a path allows takes long to unpack, and a bundle of such
	// chains far longer. Real trees are far shallower than the default.
	// docs/performance.md has the figures.
	MaxDepth int
	// MaxRatio is the largest unpacked/compressed ratio of any entry and of
	// the whole archive. A higher ratio is the signature of a zip bomb.
	// Defaults to 100. Over it: drover.EINVALID, since the archive is
	// hostile rather than merely big.
	//
	// An entry or a whole archive that unpacks to at most ratioGrace is
	// exempt. A small file of repeated bytes legitimately compresses far
	// better than 100:1.
	MaxRatio int
}

// Defaults of [Limits].
const (
	DefaultMaxCompressed int64 = 100 << 20
	DefaultMaxUnpacked   int64 = 1 << 30
	DefaultMaxFiles            = 10_000
	DefaultMaxDepth            = 64
	DefaultMaxRatio            = 100
)

// ratioGrace is how many bytes an entry, or the whole archive, may unpack
// to whatever its ratio. See Limits.MaxRatio. Deflate tops out near
// 1032:1, so an entry inside the grace expands from at least ~1 KiB of
// input. A bomb made of many such entries is caught by the ratio of the
// whole archive.
const ratioGrace = 1 << 20

// WithDefaults returns l with every zero field set to its default.
func (l Limits) WithDefaults() Limits {
	l.MaxCompressed = cmp.Or(l.MaxCompressed, DefaultMaxCompressed)
	l.MaxUnpacked = cmp.Or(l.MaxUnpacked, DefaultMaxUnpacked)
	l.MaxFiles = cmp.Or(l.MaxFiles, DefaultMaxFiles)
	l.MaxDepth = cmp.Or(l.MaxDepth, DefaultMaxDepth)
	l.MaxRatio = cmp.Or(l.MaxRatio, DefaultMaxRatio)
	return l
}

func (l Limits) validate() error {
	switch {
	case l.MaxCompressed < 0:
		return fmt.Errorf("bundle limits: MaxCompressed is negative (%d)", l.MaxCompressed)
	case l.MaxUnpacked < 0:
		return fmt.Errorf("bundle limits: MaxUnpacked is negative (%d)", l.MaxUnpacked)
	case l.MaxFiles < 0:
		return fmt.Errorf("bundle limits: MaxFiles is negative (%d)", l.MaxFiles)
	case l.MaxDepth < 0:
		return fmt.Errorf("bundle limits: MaxDepth is negative (%d)", l.MaxDepth)
	case l.MaxRatio < 0:
		return fmt.Errorf("bundle limits: MaxRatio is negative (%d)", l.MaxRatio)
	}
	return nil
}

// ratioCap is how many bytes compressed input may unpack to under ratio.
func ratioCap(ratio int, compressed int64) int64 {
	if compressed > 0 && int64(ratio) > (math.MaxInt64-ratioGrace)/compressed {
		return math.MaxInt64
	}
	return max(int64(ratio)*compressed, ratioGrace)
}

// budget counts unpacked bytes against the limits as they are produced,
// never trusting the sizes an archive declares. It is shared by the checks on
// declared sizes and the copies of real bytes, so both refuse with the same
// messages.
type budget struct {
	lim   Limits
	size  int64 // bytes of the ZIP
	total int64 // bytes unpacked so far, all entries
}

func newBudget(lim Limits, size int64) *budget {
	return &budget{lim: lim, size: size}
}

// add records n more bytes of entry e, which has produced done bytes before
// these, and reports the first limit they exceed.
func (b *budget) add(e *entry, done, n int64) error {
	if n > math.MaxInt64-done || done+n > ratioCap(b.lim.MaxRatio, e.compressed) {
		return drover.Errorf(drover.EINVALID,
			"entry %q expands more than %d:1 from its %d compressed bytes: it looks like a zip bomb (a coordinator started with a higher --bundle-max-ratio takes it)",
			e.name, b.lim.MaxRatio, e.compressed)
	}
	if n > math.MaxInt64-b.total || b.total+n > b.lim.MaxUnpacked {
		return drover.Errorf(drover.ETOOLARGE,
			"entry %q takes the bundle past the limit of %d unpacked bytes: leave large files out of the bundle",
			e.name, b.lim.MaxUnpacked)
	}
	b.total += n
	if b.total > ratioCap(b.lim.MaxRatio, b.size) {
		return drover.Errorf(drover.EINVALID,
			"entry %q takes the bundle past %d:1 expansion of its %d bytes: it looks like a zip bomb (a coordinator started with a higher --bundle-max-ratio takes it)",
			e.name, b.lim.MaxRatio, b.size)
	}
	return nil
}
