package httpapi

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/coordinator"
	"github.com/drover-dev/drover/internal/store/sqlite"
)

// The fuzz targets feed arbitrary bytes to what reads a client's body: the
// JSON decoder with a job spec and its validation, the decoder with each
// worker call, and POST /jobs as multipart/form-data. Their seeds run in a
// plain go test; `go test -fuzz FuzzX ./internal/httpapi` explores further.

// maxMessage bounds an error message: a message quotes the client's input
// only clipped.
const maxMessage = 1 << 10

// checkDecode holds for every decoded body: a refusal is a domain error of
// a body (400 or 413) with a short message, and a body that decodes gives
// no key twice in one object.
func checkDecode(t *testing.T, data []byte, err error) {
	t.Helper()
	if err != nil {
		var de *drover.Error
		if !errors.As(err, &de) || de.Code != drover.EMALFORMED && de.Code != drover.ETOOLARGE {
			t.Fatalf("decode refused with %v (%T), want a malformed or too large error", err, err)
		}
		if len(de.Message) > maxMessage || len(de.Field) > maxMessage {
			t.Fatalf("message of %d bytes, field of %d: %.200q", len(de.Message), len(de.Field), de.Message)
		}
		return
	}
	if key, ok := exactDuplicate(data); ok {
		t.Fatalf("decode took a body with key %q twice in one object", key)
	}
}

// exactDuplicate is a plain reference for the duplicate check: it walks
// the JSON tokens and reports a key given twice, exactly, in one object.
func exactDuplicate(data []byte) (string, bool) {
	type frame struct {
		keys      map[string]bool // nil for an array
		expectKey bool
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var stack []*frame
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].keys != nil {
			stack[n-1].expectKey = true
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				stack = append(stack, &frame{keys: map[string]bool{}, expectKey: true})
			case '[':
				stack = append(stack, &frame{})
			default:
				stack = stack[:len(stack)-1]
				valueDone()
			}
		default:
			if n := len(stack); n > 0 && stack[n-1].keys != nil && stack[n-1].expectKey {
				key := v.(string)
				if stack[n-1].keys[key] {
					return key, true
				}
				stack[n-1].keys[key] = true
				stack[n-1].expectKey = false
				continue
			}
			valueDone()
		}
	}
}

func decodeBytes(data []byte, v any, strict bool) error {
	return decodeFrom(newLimitReader(bytes.NewReader(data), DefaultMaxBody), v, strict)
}

// FuzzDecodeSpec decodes a job spec as POST /jobs does, then validates it
// as the coordinator does.
func FuzzDecodeSpec(f *testing.F) {
	for _, seed := range []string{
		`{"command":["echo","hi"]}`,
		`{"name":"nightly","command":["python","main.py"],"image":"python:3.12-slim","executor":"docker","env":{"K":"V"},"resources":{"cpu":1500,"memoryMB":512},"timeout":"5m","maxRetries":2,"retryOn":["exit_code"],"constraints":{"zone":"a"},"priority":10,"network":false}`,
		`{"command":"echo hi","timeout":90}`,
		`{"command":["true"],"command":["false"]}`,
		`{"command":["true"],"Command":["false"]}`,
		`{"command":["true"],"env":{"A":"1","a":"2","A":"3"}}`,
		`{"\u0063ommand":["true"],"command":["x"]}`,
		"{\"command\":[\"true\"],\"env\":{\"a\xff\":\"1\",\"a\xfe\":\"2\"}}",
		`{"command":["true"],"resources":{"cpu":1,"cpu":2}}`,
		`{"command":["true"],"priority":1e999}`,
		`{"command":["true"],"nope":1}`,
		`{"command":["true"]} {"command":["false"]}`,
		`[{"a":1}]`,
		`"text"`,
		``,
		`{"command":["true"],"env":{"K":` + strings.Repeat("[", 64) + strings.Repeat("]", 64) + `}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var spec drover.JobSpec
		err := decodeBytes(data, &spec, true)
		checkDecode(t, data, err)
		if err != nil {
			return
		}
		if err := spec.Normalize(); err != nil && drover.ErrorCode(err) == drover.EINTERNAL {
			t.Fatalf("validation failed with an internal error: %v", err)
		}
	})
}

// FuzzDecodeWorkerCalls decodes the bodies of the worker protocol, the
// first byte choosing the call.
func FuzzDecodeWorkerCalls(f *testing.F) {
	bodies := []func() any{
		func() any { return new(drover.RegisterRequest) },
		func() any { return new(drover.HeartbeatRequest) },
		func() any { return new(drover.StartRequest) },
		func() any { return new(drover.OutputRequest) },
		func() any { return new(drover.FinishRequest) },
		func() any { return new(drover.ReportsRequest) },
		func() any { return new(drover.CancelRequest) },
	}
	seeds := []any{
		drover.RegisterRequest{Name: "w1", Labels: map[string]string{"zone": "a"}, Executors: []string{"process"}, Capacity: drover.Capacity{CPU: 2000, MemoryMB: 1024, Slots: 4}},
		drover.HeartbeatRequest{Running: []string{"att_1"}, Draining: true},
		drover.StartRequest{BundleFetch: drover.Duration(1e9)},
		drover.OutputRequest{Chunks: []drover.OutputChunk{{Seq: 1, Stream: drover.Stdout, Data: []byte("hi\n")}, {Seq: 2, Stream: drover.Stderr, Data: []byte{0xff, 0}}}},
		drover.FinishRequest{ExitCode: new(int), LastSeq: 2, Started: true},
		reports(3),
		drover.CancelRequest{IDs: []string{"job_1", "job_2"}},
	}
	for i, v := range seeds {
		b, _ := json.Marshal(v)
		f.Add(byte(i), b)
	}
	for i, s := range []string{
		`{"chunks":[{"seq":1,"data":"YQ==","seq":2}]}`,
		`{"reports":[{"attemptId":"a","finish":{"usage":{"cpuSeconds":1,"CPUSECONDS":2}}}]}`,
		`{"labels":{"k":"a","k":"b"}}`,
		`{"running":[],"running":["x"]}`,
		`{"exitCode":0,"exitCode":1}`,
	} {
		f.Add(byte([]int{3, 5, 0, 1, 4}[i]), []byte(s))
	}
	f.Fuzz(func(t *testing.T, which byte, data []byte) {
		v := bodies[int(which)%len(bodies)]()
		checkDecode(t, data, decodeBytes(data, v, false))
	})
}

// FuzzMultipartSubmit sends arbitrary multipart bodies to POST /jobs on a
// whole API over a real store: whatever the body, the answer is a job or
// an error of the client's with a short message, never a crash or an
// internal error.
func FuzzMultipartSubmit(f *testing.F) {
	const boundary = "fuzzboundary"
	form := func(parts ...[2]string) []byte {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		mw.SetBoundary(boundary)
		for _, p := range parts {
			if p[0] == "bundle" {
				w, _ := mw.CreateFormFile("bundle", "job.zip")
				w.Write([]byte(p[1]))
				continue
			}
			mw.WriteField(p[0], p[1])
		}
		mw.Close()
		return b.Bytes()
	}
	var zb bytes.Buffer
	if err := writeSmallZip(&zb); err != nil {
		f.Fatal(err)
	}
	f.Add(form([2]string{"spec", `{"command":["true"]}`}))
	f.Add(form([2]string{"spec", `{"command":["true"]}`}, [2]string{"bundle", zb.String()}))
	f.Add(form([2]string{"bundle", zb.String()}, [2]string{"spec", `{"command":["sh","run.sh"],"bundle":"` + strings.Repeat("a", 64) + `"}`}))
	f.Add(form([2]string{"spec", `{"command":["true"]}`}, [2]string{"spec", `{"command":["false"]}`}))
	f.Add(form([2]string{"spec", `{"command":["true"],"command":["false"]}`}))
	f.Add(form([2]string{"bundle", "PK\x03\x04 not a zip"}, [2]string{"spec", `{"command":["true"]}`}))
	f.Add(form([2]string{strings.Repeat("n", 300), "x"}))
	f.Add(form())
	f.Add([]byte("--" + boundary + "\r\nContent-Disposition: form-data; name=\"spec\"\r\n\r\n{\"command\":[\"true\"]}"))
	f.Add([]byte("--" + boundary + "\r\n" + strings.Repeat("X-Long: "+strings.Repeat("v", 500)+"\r\n", 20) + "\r\n\r\n--" + boundary + "--\r\n"))

	h := fuzzAPI(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", "/api/v1/jobs", bytes.NewReader(body))
		req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusCreated, http.StatusOK:
			return
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		default:
			t.Fatalf("status %d: %.300s", rec.Code, rec.Body.Bytes())
		}
		var eb drover.ErrorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error.Code == "" {
			t.Fatalf("status %d with body %.300q, not an error answer", rec.Code, rec.Body.Bytes())
		}
		if len(eb.Error.Message) > maxMessage {
			t.Fatalf("message of %d bytes: %.200q", len(eb.Error.Message), eb.Error.Message)
		}
	})
}

// fuzzAPI is the whole API over a store in a temporary folder, with a
// worker large enough for any job, so a valid submission is queued.
func fuzzAPI(f *testing.F) http.Handler {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(f.TempDir(), "drover.db"), sqlite.Options{})
	if err != nil {
		f.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := coordinator.New(coordinator.Config{Store: st, Logger: log})
	if err != nil {
		f.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { c.Stop(); st.Close() })
	if _, err := c.Register(ctx, drover.RegisterRequest{Name: "big", Executors: []string{drover.ExecutorProcess, drover.ExecutorDocker},
		Capacity: drover.Capacity{CPU: 1 << 40, MemoryMB: 1 << 40, Slots: 1}}); err != nil {
		f.Fatal(err)
	}
	return New(Config{Coordinator: c, Logger: log})
}

// writeSmallZip writes a bundle of one file.
func writeSmallZip(w io.Writer) error {
	zw := zip.NewWriter(w)
	fw, err := zw.Create("run.sh")
	if err != nil {
		return err
	}
	if _, err := fw.Write([]byte("echo hi\n")); err != nil {
		return err
	}
	return zw.Close()
}
