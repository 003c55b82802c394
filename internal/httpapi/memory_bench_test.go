package httpapi_test

import (
	"archive/zip"
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/httpapi"
	"github.com/drover-dev/drover/internal/procstat"
)

// The benchmarks here measure memory, not time: the coordinator (store,
// coordinator, API) and its clients share the test process, the clients
// stream their bodies, and each benchmark reports the process's peak
// resident set (VmHWM, reset through /proc/self/clear_refs) or the peak of
// its live heap while the requests run. They run with GOGC=200, drover's
// default. Run them one at a time, e.g.
//
//	go test ./internal/httpapi -run '^$' -bench BundleUploadRSS -benchtime 1x

// concurrentBundles is how many uploads or downloads run at once.
const concurrentBundles = 10

// BenchmarkBundleUploadRSS uploads ten different bundles of the maximum
// size at once, each streamed from a generator, and reports the peak RSS.
// The coordinator takes all ten at once (BundleUploads), its worst case.
func BenchmarkBundleUploadRSS(b *testing.B) {
	defer debug.SetGCPercent(debug.SetGCPercent(200))
	s := newAPIServer(b, serverOpt{api: func(c *httpapi.Config) { c.BundleUploads = concurrentBundles }})
	size := bundleSize(b)
	var peak, base float64
	seed := uint64(0)
	for b.Loop() {
		debug.FreeOSMemory()
		base = max(base, mib(procstat.ReadProcess().RSS))
		procstat.ResetPeakRSS()
		var wg sync.WaitGroup
		for range concurrentBundles {
			seed++
			wg.Go(func() { uploadGenerated(b, s, seed, size) })
		}
		wg.Wait()
		peak = max(peak, mib(procstat.ReadProcess().PeakRSS))
	}
	b.ReportMetric(base, "base-RSS-MiB")
	b.ReportMetric(peak, "peak-RSS-MiB")
	b.SetBytes(concurrentBundles * size.size)
}

// BenchmarkBundleDownloadRSS fetches one bundle of the maximum size ten
// times at once, as ten workers starting its jobs do, and reports the peak
// RSS.
func BenchmarkBundleDownloadRSS(b *testing.B) {
	defer debug.SetGCPercent(debug.SetGCPercent(200))
	s := newAPIServer(b, serverOpt{})
	size := bundleSize(b)
	sha := uploadGenerated(b, s, 1, size)
	var peak, base, heap float64
	for b.Loop() {
		debug.FreeOSMemory()
		base = max(base, mib(procstat.ReadProcess().RSS))
		procstat.ResetPeakRSS()
		stop := sampleHeap(&heap)
		var wg sync.WaitGroup
		for range concurrentBundles {
			wg.Go(func() {
				resp, err := http.Get(s.url + "/api/v1/bundles/" + sha)
				if err != nil {
					b.Error(err)
					return
				}
				defer resp.Body.Close()
				n, err := io.Copy(io.Discard, resp.Body)
				if err != nil || resp.StatusCode != 200 || n != size.size {
					b.Errorf("download: %d, %d of %d bytes, %v", resp.StatusCode, n, size.size, err)
				}
			})
		}
		wg.Wait()
		stop()
		peak = max(peak, mib(procstat.ReadProcess().PeakRSS))
	}
	b.ReportMetric(base, "base-RSS-MiB")
	b.ReportMetric(peak, "peak-RSS-MiB")
	b.ReportMetric(heap, "peak-heap-MiB")
	b.SetBytes(concurrentBundles * size.size)
}

// bundleMaxBody is the largest bundle the benchmarks' coordinator takes (its
// default limit).
const bundleMaxBody = 100 << 20

// bundleSize is the size of the generated bundles: the limit, with the
// generator's total that gives it.
func bundleSize(b *testing.B) genSize {
	var n countWriter
	if err := generateZip(&n, 0, bundleMaxBody); err != nil {
		b.Fatal(err)
	}
	g := genSize{total: 2*bundleMaxBody - int64(n)}
	n = 0
	if err := generateZip(&n, 0, g.total); err != nil {
		b.Fatal(err)
	}
	if g.size = int64(n); g.size > bundleMaxBody {
		b.Fatalf("generated bundle of %d bytes, over %d", g.size, bundleMaxBody)
	}
	return g
}

// genSize is a generated bundle's size and the total that makes it.
type genSize struct{ total, size int64 }

func mib(n int64) float64 { return float64(n) / (1 << 20) }

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }

// generateZip writes a ZIP of four stored (uncompressed) files of
// pseudo-random bytes from seed, of about total bytes in all. The same
// seed and total give the same bytes and so the same size.
func generateZip(w io.Writer, seed uint64, total int64) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	zw := zip.NewWriter(bw)
	src := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16)})
	const files = 4
	buf := make([]byte, 64<<10)
	for i := range files {
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("data-%d.bin", i), Method: zip.Store})
		if err != nil {
			return err
		}
		left := total/files - 200 // each entry's header and descriptor
		for left > 0 {
			p := buf[:min(int64(len(buf)), left)]
			_, _ = src.Read(p)
			if _, err := fw.Write(p); err != nil {
				return err
			}
			left -= int64(len(p))
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

// uploadGenerated streams a generated bundle to POST /bundles and returns
// its hash.
func uploadGenerated(b *testing.B, s *apiServer, seed uint64, g genSize) string {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(generateZip(pw, seed, g.total)) }()
	req, err := http.NewRequestWithContext(context.Background(), "POST", s.url+"/api/v1/bundles", pr)
	if err != nil {
		b.Fatal(err)
	}
	req.ContentLength = g.size
	req.Header.Set("Content-Type", "application/zip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Error(err)
		pr.Close()
		return ""
	}
	defer resp.Body.Close()
	pr.Close()
	var bd drover.Bundle
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 201 && resp.StatusCode != 200 || json.Unmarshal(body, &bd) != nil {
		b.Errorf("upload: %d %s", resp.StatusCode, body)
	}
	return bd.SHA256
}

// listSpecSize is the size of each listed job's spec: large, as specs
// carrying a long environment are.
const listSpecSize = 48 << 10

// BenchmarkListJobsHeap lists a thousand jobs with large specs five times
// at once (GET /jobs?limit=1000, following nextCursor to the end) and
// reports the peak of the heap, and its size after a collection before
// the lists: the store's spec cache holds the specs it made, so their
// difference is what the lists cost.
func BenchmarkListJobsHeap(b *testing.B) {
	defer debug.SetGCPercent(debug.SetGCPercent(200))
	s := newAPIServer(b, serverOpt{})
	ctx := context.Background()
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 8 {
		wg.Go(func() {
			for next.Add(1) <= 1000 {
				spec := drover.JobSpec{Command: drover.Command{"true"}, Env: map[string]string{"DATA": strings.Repeat("x", listSpecSize)}}
				if _, err := s.api.Submit(ctx, spec, ""); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	var peak, base float64
	for b.Loop() {
		debug.FreeOSMemory()
		var live float64
		sampleHeap(&live)() // one sample: what stays after a collection
		base = max(base, live)
		stop := sampleHeap(&peak)
		var wg sync.WaitGroup
		for range 5 {
			wg.Go(func() {
				var jobs int
				url := s.url + "/api/v1/jobs?limit=1000"
				for cursor := ""; ; {
					resp, err := http.Get(url + "&cursor=" + cursor)
					if err != nil {
						b.Error(err)
						return
					}
					// The page is scanned, not decoded: the clients share
					// the process, and their memory must not count.
					var sc pageScan
					_, err = io.Copy(&sc, resp.Body)
					resp.Body.Close()
					if err != nil || resp.StatusCode != 200 {
						b.Errorf("list: %d, %v", resp.StatusCode, err)
						return
					}
					jobs += sc.jobs
					if cursor = sc.nextCursor(); cursor == "" {
						break
					}
				}
				if jobs != 1000 {
					b.Errorf("listed %d jobs, want 1000", jobs)
				}
			})
		}
		wg.Wait()
		stop()
	}
	b.ReportMetric(base, "base-heap-MiB")
	b.ReportMetric(peak, "peak-heap-MiB")
}

// sampleHeap records the peak of the live heap in MiB into peak until the
// returned function is called.
func sampleHeap(peak *float64) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		s := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			rtmetrics.Read(s)
			*peak = max(*peak, float64(s[0].Value.Uint64())/(1<<20))
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}

// pageScan counts the jobs of a GET /jobs answer as it streams by and keeps
// its tail, where nextCursor is.
type pageScan struct {
	jobs int
	tail []byte
}

const jobStart = `{"id":"job_`

func (p *pageScan) Write(b []byte) (int, error) {
	// The tail keeps enough of the last write to find a job's start that
	// straddles two.
	buf := append(p.tail, b...)
	p.jobs += strings.Count(string(buf), jobStart) - strings.Count(string(p.tail), jobStart)
	p.tail = append(p.tail[:0], buf[max(0, len(buf)-256):]...)
	return len(b), nil
}

func (p *pageScan) nextCursor() string {
	_, after, ok := strings.Cut(string(p.tail), `"nextCursor":"`)
	if !ok {
		return ""
	}
	cursor, _, _ := strings.Cut(after, `"`)
	return cursor
}
