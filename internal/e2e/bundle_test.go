package e2e

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drover-dev/drover"
)

// makeProject writes a folder with a script, a data file and a file the
// .droverignore leaves out.
func makeProject(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"run.sh":         "#!/bin/sh\necho \"data: $(cat data/input.txt)\"\nls\n",
		"data/input.txt": "forty-two",
		"secret.env":     "TOKEN=nope",
		".droverignore":  "*.env\n",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func zipBytes(t *testing.T, entries map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range entries {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		h.SetMode(0o755)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestBundleRunsWithItsFiles(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{})
	// Process jobs first, then docker ones when there is an engine.
	executors := drover.ExecutorProcess
	if needDockerOK() {
		executors = "process,docker"
	}
	cl.worker("w1", "--executor", executors)
	ctx := ctxT(t, 2*time.Minute)
	dir := makeProject(t)

	out, errOut, code := cl.cli(ctx, "run", "--bundle", dir, "--", "./run.sh")
	if code != 0 || !strings.HasPrefix(out, "data: forty-two\n") || strings.Contains(out, "secret.env") {
		t.Fatalf("process executor: code %d, stdout %q, stderr %q", code, out, errOut)
	}
	// run.sh, data/input.txt and .droverignore: secret.env is left out.
	if !strings.Contains(errOut, "bundle "+dir+": 3 files, ") {
		t.Errorf("the CLI does not say it sends the 3 files the ignore file leaves: %q", errOut)
	}
	page, _ := cl.c.Jobs(ctx, drover.JobFilter{Limit: 1})
	j, _ := cl.c.Job(ctx, page.Jobs[0].ID)
	if !drover.IsSHA256(j.Spec.Bundle) {
		t.Fatalf("job has no bundle: %+v", j.Spec)
	}

	// The same bundle as a ZIP through multipart (as curl -F sends it),
	// stored once, on the docker executor when there is one.
	zipData := zipBytes(t, map[string]string{"run.sh": "#!/bin/sh\necho \"zip: $(cat data.txt)\"\n", "data.txt": "seven"})
	var got []drover.Bundle
	for i := 0; i < 2; i++ {
		resp := postBundle(t, cl.url, zipData)
		var b drover.Bundle
		_ = json.NewDecoder(resp.Body).Decode(&b)
		resp.Body.Close()
		want := []int{201, 200}[i]
		if resp.StatusCode != want || b.Files != 2 {
			t.Fatalf("upload %d: status %d (want %d), %+v", i, resp.StatusCode, want, b)
		}
		got = append(got, b)
	}
	if got[0].SHA256 != got[1].SHA256 || !got[0].CreatedAt.Equal(got[1].CreatedAt) {
		t.Fatalf("the same bytes twice: %+v then %+v, want one bundle, stored once", got[0], got[1])
	}
	spec := `{"command":["sh","run.sh"]}`
	if needDockerOK() {
		spec = `{"command":["sh","run.sh"],"image":"` + testImage + `"}`
	}
	id := submitMultipart(t, cl.url, spec, zipData)
	j = cl.waitJob(id, 60*time.Second, "final", func(j *drover.Job) bool { return j.State.Final() })
	logs, _, _ := cl.cli(ctx, "logs", id)
	if j.State != drover.JobCompleted || logs != "zip: seven\n" || j.Spec.Bundle != got[0].SHA256 {
		t.Fatalf("multipart job: %s %q %s (message %q)", j.State, logs, j.Spec.Bundle, j.Message)
	}
	if len(j.Attempts) != 1 || j.Attempts[0].Phases.Running <= 0 {
		t.Errorf("phases: %+v", j.Attempts)
	}
}

func needDockerOK() bool {
	return os.Getenv("CI") == "true" || exec0("docker", "image", "inspect", testImage)
}

func postBundle(t *testing.T, url string, data []byte) *http.Response {
	t.Helper()
	resp, err := http.Post(url+"/api/v1/bundles", "application/zip", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func submitMultipart(t *testing.T, url, spec string, zipData []byte) string {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("spec", spec)
	fw, _ := mw.CreateFormFile("bundle", "job.zip")
	_, _ = fw.Write(zipData)
	_ = mw.Close()
	resp, err := http.Post(url+"/api/v1/jobs", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var j drover.Job
	if resp.StatusCode != 201 || json.Unmarshal(b, &j) != nil {
		t.Fatalf("multipart submit: %d %s", resp.StatusCode, b)
	}
	return j.ID
}

func TestHostileBundlesRefused(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{})
	cases := []struct {
		name  string
		data  []byte
		code  int
		entry string
	}{
		{"path traversal", zipBytes(t, map[string]string{"../evil.sh": "x"}), 422, "../evil.sh"},
		{"absolute path", zipBytes(t, map[string]string{"/etc/cron.d/x": "x"}), 422, "/etc/cron.d/x"},
		{"not a zip", []byte("hello, not a zip"), 422, "ZIP"},
		{"zip bomb", zipBytes(t, map[string]string{"zeros": strings.Repeat("\x00", 50<<20)}), 422, "zeros"},
	}
	for _, c := range cases {
		resp := postBundle(t, cl.url, c.data)
		var eb drover.ErrorBody
		_ = json.NewDecoder(resp.Body).Decode(&eb)
		resp.Body.Close()
		if resp.StatusCode != c.code || !strings.Contains(eb.Error.Message, c.entry) {
			t.Errorf("%s: %d %q, want %d naming %q", c.name, resp.StatusCode, eb.Error.Message, c.code, c.entry)
		}
	}
	// A spec naming a bundle never uploaded is refused, saying what to do.
	_, err := cl.c.Submit(ctxT(t, 10*time.Second), drover.JobSpec{Command: drover.Command{"true"}, Bundle: strings.Repeat("ab", 32)}, "")
	if drover.ErrorCode(err) != drover.EINVALID || !strings.Contains(drover.ErrorMessage(err), "upload") {
		t.Errorf("unknown bundle: %v", err)
	}
}

// A bundle past the default expansion ratio is refused as a bomb, saying
// how a coordinator could take it; one started with a higher
// --bundle-max-ratio takes it, and its workers unpack it.
func TestBundleMaxRatio(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "zeros")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "zeros"), make([]byte, 3<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t, time.Minute)

	strict := newCluster(t, serverOpt{})
	strict.worker("w1")
	if _, errOut, code := strict.cli(ctx, "run", "--bundle", dir, "--", "wc", "-c", "zeros"); code != 125 || !strings.Contains(errOut, "--bundle-max-ratio") {
		t.Fatalf("run with a bundle past 100:1: code %d, stderr %q; want 125 naming --bundle-max-ratio", code, errOut)
	}
	loose := newCluster(t, serverOpt{args: []string{"--bundle-max-ratio", "2000"}})
	loose.worker("w1")
	out, errOut, code := loose.cli(ctx, "run", "--bundle", dir, "--", "sh", "-c", "wc -c < zeros")
	if code != 0 || strings.TrimSpace(out) != strconv.Itoa(3<<20) {
		t.Fatalf("run with --bundle-max-ratio 2000: code %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// A worker does not trust its bundle cache by file names: a cached ZIP
// rewritten while the worker runs, or while it is stopped, is found out
// before the next unpack, dropped and fetched again, and the job runs the
// genuine files.
func TestTamperedCachedBundleIsFetchedAgain(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{})
	workDir := t.TempDir()
	w, _ := cl.worker("w1", "--work-dir", workDir)
	ctx := ctxT(t, 2*time.Minute)
	genuine := zipBytes(t, map[string]string{"run.sh": "echo genuine\n"})
	tampered := zipBytes(t, map[string]string{"run.sh": "echo tampered\n"})
	zipPath := filepath.Join(t.TempDir(), "job.zip")
	if err := os.WriteFile(zipPath, genuine, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(genuine)
	cachedZip := filepath.Join(workDir, "bundles", hex.EncodeToString(sum[:])+".zip")
	run := func(what string) {
		t.Helper()
		out, errOut, code := cl.cli(ctx, "run", "--bundle", zipPath, "--", "sh", "run.sh")
		if code != 0 || out != "genuine\n" {
			t.Fatalf("%s: code %d, stdout %q, stderr %q; want the genuine files run", what, code, out, errOut)
		}
	}
	tamper := func() {
		t.Helper()
		if err := os.WriteFile(cachedZip, tampered, 0o600); err != nil {
			t.Fatalf("the worker did not cache the bundle where expected: %v", err)
		}
	}

	run("first run")
	tamper()
	run("after the cached ZIP was rewritten")
	w.waitLine(`removed a cached bundle that cannot be used; fetching it again`, 10*time.Second)

	w.signal(syscall.SIGTERM) // drained: it deregisters
	w.wait(30 * time.Second)
	tamper()
	w2, _ := cl.worker("w1", "--work-dir", workDir)
	w2.waitLine(`removed a cached bundle that cannot be used`, time.Second)
	run("after the cached ZIP was rewritten while the worker was stopped")
}
