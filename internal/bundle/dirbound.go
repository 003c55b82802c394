package bundle

import (
	"bytes"
	"encoding/binary"
)

// dirBound bounds how many central directory records archive/zip can read
// from an archive. It reads the archive's raw bytes. MaxFiles is then
// enforced before zip.NewReader holds memory for each record. A record is
// far smaller than what the reader holds for it, so a small upload of
// empty records could cost much memory.
//
// archive/zip reads records one after the other from where the directory
// starts until one fails to parse. It ignores the count the archive
// declares. Each record begins with a signature, and its length follows
// from its header. The records it reads thus form a chain: signature,
// header, name, extra, comment, next signature.
//
// dirBound is an io.Writer fed every byte of the archive. It tracks the
// longest such chain anywhere. No reader can find more records than that.
// The bound is exact for ordinary archives. It overcounts only when a ZIP
// stored uncompressed inside the archive has a longer directory than the
// archive itself.
type dirBound struct {
	pos     int64         // archive offset of carry[0]
	carry   []byte        // bytes not yet scanned: a record header may straddle two writes
	pending map[int64]int // where a chain would continue → its length so far
	pruneAt int           // len(pending) that triggers dropping passed positions
	longest int
}

var dirSig = []byte("PK\x01\x02")

const (
	dirHeaderLen = 46 // fixed part of a central directory record
	dirLensEnd   = 34 // the three length fields end here
)

func (d *dirBound) Write(p []byte) (int, error) {
	if d.pending == nil {
		d.pending = make(map[int64]int)
		d.pruneAt = 1024
	}
	buf := append(d.carry, p...)
	// Signatures starting before limit have their length fields in buf;
	// the rest wait for the next write.
	limit := len(buf) - dirLensEnd + 1
	i := 0
	for i < limit {
		j := bytes.Index(buf[i:limit+len(dirSig)-1], dirSig)
		if j < 0 {
			i = limit
			break
		}
		i += j
		d.record(d.pos+int64(i), buf[i:i+dirLensEnd])
		i++
	}
	d.pos += int64(i)
	d.carry = buf[:copy(buf, buf[i:])] // keeps buf's capacity for the next write
	return len(p), nil
}

// record notes a signature at off whose header starts with h.
func (d *dirBound) record(off int64, h []byte) {
	n := d.pending[off] + 1
	delete(d.pending, off)
	d.longest = max(d.longest, n)
	next := off + dirHeaderLen +
		int64(binary.LittleEndian.Uint16(h[28:])) +
		int64(binary.LittleEndian.Uint16(h[30:])) +
		int64(binary.LittleEndian.Uint16(h[32:]))
	d.pending[next] = max(d.pending[next], n)
	if len(d.pending) > d.pruneAt {
		// A chain continues at most 3×65535 bytes ahead, so the map stays
		// small once positions already passed are dropped.
		for k := range d.pending {
			if k <= off {
				delete(d.pending, k)
			}
		}
		d.pruneAt = max(1024, 2*len(d.pending))
	}
}
