package worker

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"testing"
	"time"
)

// storedZip is a ZIP of n files of random bytes, size bytes in all, stored
// without compression: unpacking it is copying, so what the cache adds to an
// unpack shows.
func storedZip(tb testing.TB, size, n int) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := range n {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("f%d", i), Method: zip.Store})
		if err != nil {
			tb.Fatal(err)
		}
		chunk := make([]byte, size/n)
		_, _ = rand.Read(chunk)
		if _, err := w.Write(chunk); err != nil {
			tb.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkUnpackCachedBundle measures what an attempt spends on a bundle
// the cache already holds: the cache's checks and the extraction into a
// fresh workspace. Removing the workspace is not counted. "trusted" is the
// usual case, a file whose identity has not changed since it was hashed;
// "hashed" is a file the cache must hash again (changed, or changed less
// than settleTime ago).
func BenchmarkUnpackCachedBundle(b *testing.B) {
	for _, size := range []int{1 << 20, 100 << 20} {
		for _, mode := range []string{"trusted", "hashed"} {
			b.Run(fmt.Sprintf("%dMiB/%s", size>>20, mode), func(b *testing.B) {
				bs := newBundleServer()
				sha := bs.add(storedZip(b, size, 10))
				c := newTestCache(b, b.TempDir(), 1<<30)
				c.now = func() time.Time { return time.Now().Add(settleTime) }
				w := &Worker{cache: c, workerClient: startBundleServer(b, bs)}
				root := b.TempDir()
				unpack := func() string {
					ws, err := os.MkdirTemp(root, "ws-")
					if err != nil {
						b.Fatal(err)
					}
					if err := w.unpackBundle(context.Background(), sha, ws); err != nil {
						b.Fatal(err)
					}
					return ws
				}
				_ = os.RemoveAll(unpack()) // downloaded once, outside the measure
				b.SetBytes(int64(size))
				for b.Loop() {
					ws := unpack()
					b.StopTimer()
					_ = os.RemoveAll(ws)
					if mode == "hashed" {
						c.entries[sha].trusted = fileID{}
					}
					b.StartTimer()
				}
			})
		}
	}
}

// BenchmarkOpenCachedBundle measures the cache's part alone: opening a
// cached bundle for an attempt, with its check, and releasing it.
func BenchmarkOpenCachedBundle(b *testing.B) {
	for _, size := range []int{1 << 20, 100 << 20} {
		for _, mode := range []string{"trusted", "hashed"} {
			b.Run(fmt.Sprintf("%dMiB/%s", size>>20, mode), func(b *testing.B) {
				bs := newBundleServer()
				sha := bs.add(storedZip(b, size, 10))
				c := newTestCache(b, b.TempDir(), 1<<30)
				c.now = func() time.Time { return time.Now().Add(settleTime) }
				api := startBundleServer(b, bs)
				open := func() {
					_, release, err := c.open(context.Background(), api, sha)
					if err != nil {
						b.Fatal(err)
					}
					release()
				}
				open() // downloaded once, outside the measure
				b.SetBytes(int64(size))
				for b.Loop() {
					if mode == "hashed" {
						c.entries[sha].trusted = fileID{}
					}
					open()
				}
			})
		}
	}
}
