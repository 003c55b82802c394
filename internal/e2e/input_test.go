package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/drover-dev/drover"
)

// TestWorkerRefusesUnfitFlags checks that drover worker refuses at its
// start, with exit 2 naming the flag, what the coordinator would refuse
// at registration.
func TestWorkerRefusesUnfitFlags(t *testing.T) {
	t.Parallel()
	many := make([]string, drover.MaxLabels+1)
	for i := range many {
		many[i] = fmt.Sprintf("k%d=v", i)
	}
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want []string
	}{
		{"escape in the name", []string{"--name", "w\x1b]0;owned\a"}, nil, []string{"--name", "U+001B"}},
		{"newline in the name", nil, []string{"DROVER_WORKER_NAME=w\nx"}, []string{"--name (DROVER_WORKER_NAME)", "U+000A"}},
		{"name too long", []string{"--name", strings.Repeat("n", 201)}, nil, []string{"--name", "the limit is 200"}},
		{"name not UTF-8", []string{"--name", "w\xff"}, nil, []string{"--name", "not valid UTF-8"}},
		{"too many labels", []string{"--labels", strings.Join(many, ",")}, nil, []string{"--labels", "65 labels; the limit is 64"}},
		{"label key too long", []string{"--labels", strings.Repeat("k", 64) + "=v"}, nil, []string{"--labels", "the limit is 63"}},
		{"label value too long", []string{"--labels", "k=" + strings.Repeat("v", 256)}, nil, []string{"--labels", "the limit is 255"}},
		{"escape in a label", []string{"--labels", "zone=eu\x1b[2J"}, nil, []string{"--labels", "U+001B"}},
		{"bidi override in a label", []string{"--labels", "zone=eu\u202e"}, nil, []string{"--labels", "U+202E"}},
		{"registry with a scheme", []string{"--registries", "https://ghcr.io"}, nil, []string{"--registries (DROVER_REGISTRIES)", "without a scheme"}},
		{"registry that is no host", nil, []string{"DROVER_REGISTRIES=docker.io,my_registry"}, []string{"--registries (DROVER_REGISTRIES)", "not a registry host"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// A worker that took the flags would try to register for ever.
			ctx := ctxT(t, 30*time.Second)
			args := append([]string{"worker", "--server", "http://127.0.0.1:1", "--executor", "process", "--work-dir", t.TempDir()}, tc.args...)
			cmd := exec.CommandContext(ctx, bin, args...)
			cmd.Env = append(cleanEnv(), tc.env...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != 2 {
				t.Fatalf("exit %v, want 2; stderr %q", err, stderr.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr %q does not say %q", stderr.String(), w)
				}
			}
		})
	}
}

// TestDockerImageOfALoopbackRegistryIsRefused submits a job whose image
// names a registry at a loopback address, where a service of the worker's
// machine listens: the job fails saying why, and the service is never
// called. A worker that lists the registry pulls from it, and the job's
// message has none of the service's answer.
func TestDockerImageOfALoopbackRegistryIsRefused(t *testing.T) {
	needDocker(t)
	t.Parallel()
	const secret = "SECRET-admin-password"
	var requests atomic.Int64
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, "<html>"+secret+"</html>")
	}))
	t.Cleanup(svc.Close)
	host := strings.TrimPrefix(svc.URL, "http://")
	image := host + "/internal/admin:1"
	ctx := ctxT(t, 2*time.Minute)

	cl := newCluster(t, serverOpt{})
	w, _ := cl.worker("wd", "--executor", "docker")
	_, errOut, code := cl.cli(ctx, "run", "--image", image, "--", "true")
	if code != 125 {
		t.Fatalf("exit %d, want 125; stderr %q", code, errOut)
	}
	for _, want := range []string{image, "registry " + host, "loopback", "--registries"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr %q does not say %q", errOut, want)
		}
	}
	if n := requests.Load(); n != 0 {
		t.Fatalf("the service got %d requests, want none", n)
	}

	// Listed, the registry is called; its answer stays out of the message.
	w.signal(syscall.SIGTERM) // drains and deregisters
	w.wait(time.Minute)
	cl.worker("wd2", "--executor", "docker", "--registries", host)
	_, errOut, code = cl.cli(ctx, "run", "--image", image, "--", "true")
	if code != 125 || !strings.Contains(errOut, "HTTP 404") || strings.Contains(errOut, secret) {
		t.Errorf("listed registry: exit %d, stderr %q; want 125, the status and none of the answer", code, errOut)
	}
	if requests.Load() == 0 {
		t.Error("the listed registry got no request")
	}
}
