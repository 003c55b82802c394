package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/procstat"
)

// The decode benchmarks time what the hot worker calls cost in decoding
// alone: an output post of one line, an output post of a full 64 KiB batch,
// a single report and a full batch of reports.

func BenchmarkDecodeOutputLine(b *testing.B) {
	benchDecode[drover.OutputRequest](b, drover.OutputRequest{Chunks: []drover.OutputChunk{
		{Seq: 17, Stream: drover.Stdout, Data: []byte("2024-05-01T10:00:00Z step 17 of 100 done in 0.4s\n")},
	}})
}

func BenchmarkDecodeOutputBatch(b *testing.B) {
	var req drover.OutputRequest
	line := []byte(strings.Repeat("building target lib/module.o from src/module.c\n", 21)) // ~1 KiB
	for i := range 64 {
		req.Chunks = append(req.Chunks, drover.OutputChunk{Seq: int64(i + 1), Stream: drover.Stdout, Data: line})
	}
	benchDecode[drover.OutputRequest](b, req)
}

func BenchmarkDecodeReport(b *testing.B) {
	benchDecode[drover.ReportsRequest](b, reports(1))
}

func BenchmarkDecodeReports(b *testing.B) {
	benchDecode[drover.ReportsRequest](b, reports(drover.MaxReports))
}

func reports(n int) drover.ReportsRequest {
	var req drover.ReportsRequest
	for i := range n {
		code := i % 3
		req.Reports = append(req.Reports, drover.AttemptReport{
			AttemptID: fmt.Sprintf("att_%026d", i),
			Finish: &drover.FinishRequest{ExitCode: &code, Reason: drover.ReasonExitCode, LastSeq: int64(i),
				Usage:   drover.Usage{PeakMemoryBytes: 12 << 20, CPUSeconds: 0.25},
				Phases:  drover.Phases{Queued: drover.Duration(time.Millisecond), Running: drover.Duration(40 * time.Millisecond)},
				Started: true, EndedAgo: drover.Duration(time.Millisecond)},
		})
	}
	return req
}

// benchDecode decodes v's JSON as a request body, as the handlers do.
func benchDecode[T any](b *testing.B, v T) {
	body, err := json.Marshal(v)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	rd := bytes.NewReader(body)
	r := &http.Request{Body: io.NopCloser(rd)}
	cpu0 := procstat.ReadProcess().CPU
	for b.Loop() {
		rd.Reset(body)
		var got T
		if err := decode(r, &got, false); err != nil {
			b.Fatal(err)
		}
	}
	// The process's CPU time per decode: on a machine shared with other
	// work it varies far less than the time on the clock.
	b.ReportMetric(float64(procstat.ReadProcess().CPU-cpu0)/float64(b.N), "cpu-ns/op")
}
