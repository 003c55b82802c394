package bundle

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/drover-dev/drover"
)

func TestDirBound(t *testing.T) {
	withEntries := func(n int) []byte {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for i := range n {
			// Names, extra fields and comments of varied lengths exercise
			// the arithmetic that links one record to the next.
			h := &zip.FileHeader{Name: fmt.Sprintf("f%d", i), Comment: strings.Repeat("c", i%7), Extra: make([]byte, 4*(i%3))}
			for j := 0; j < len(h.Extra); j += 4 {
				binary.LittleEndian.PutUint16(h.Extra[j:], 0xcafe) // an unknown extra field with no data
			}
			w, _ := zw.CreateHeader(h)
			w.Write([]byte("PK\x01\x02 a signature in the data"))
		}
		zw.Close()
		return buf.Bytes()
	}
	var nested bytes.Buffer
	zw := zip.NewWriter(&nested)
	w, _ := zw.CreateHeader(&zip.FileHeader{Name: "inner.zip", Method: zip.Store})
	w.Write(withEntries(20))
	zw.Close()

	for _, tc := range []struct {
		name string
		zip  []byte
		want int
	}{
		{"empty", withEntries(0), 0},
		{"one", withEntries(1), 1},
		{"several", withEntries(9), 9},
		{"many", withEntries(300), 300},
		// The documented overcount: the longest chain is the inner directory.
		{"stored zip inside", nested.Bytes(), 20},
		{"not a zip", []byte(strings.Repeat("PK\x01\x02", 1000)), 1},
	} {
		for _, chunk := range []int{1, 3, 33, 34, 35, 46, 4096, len(tc.zip) + 1} {
			var d dirBound
			for b := tc.zip; len(b) > 0; {
				n := min(chunk, len(b))
				d.Write(b[:n])
				b = b[n:]
			}
			if d.longest != tc.want {
				t.Errorf("%s in chunks of %d: longest = %d, want %d", tc.name, chunk, d.longest, tc.want)
			}
		}
	}
}

// TestInspectDirectoryBomb checks that an archive of many empty central
// directory records is refused before archive/zip holds them in memory.
func TestInspectDirectoryBomb(t *testing.T) {
	const n = 200_000
	var buf bytes.Buffer
	rec := make([]byte, dirHeaderLen)
	copy(rec, dirSig)
	for range n {
		buf.Write(rec)
	}
	end := make([]byte, 22)
	binary.LittleEndian.PutUint32(end, 0x06054b50)
	binary.LittleEndian.PutUint16(end[8:], uint16(n%65536))
	binary.LittleEndian.PutUint16(end[10:], uint16(n%65536))
	binary.LittleEndian.PutUint32(end[12:], uint32(dirHeaderLen*n))
	buf.Write(end)
	b := buf.Bytes()

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := Inspect(bytes.NewReader(b), int64(len(b)), Limits{})
	runtime.ReadMemStats(&after)
	if !drover.IsCode(err, drover.ETOOLARGE) || !strings.Contains(err.Error(), "more than the limit of 10000 entries") {
		t.Fatalf("Inspect = %v, want too many entries", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Errorf("Inspect allocated %d bytes for a %d-byte archive", alloc, len(b))
	}
}
