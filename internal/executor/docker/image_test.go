package docker

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drover-dev/drover"
	"github.com/moby/moby/client"
)

// secret stands for what a service at an internal address would hand
// whoever asks.
const secret = "SECRET-admin-password"

// internalService is an HTTP server on loopback standing in for a service
// of the worker's network: it answers every request with status and body
// and counts the requests. It returns its host:port.
func internalService(t *testing.T, status int, contentType, body string) (string, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), &n
}

// A job naming an image of a registry at a loopback address does not
// make the engine call it: the worker refuses before any pull.
func TestPullFromALoopbackRegistryIsRefused(t *testing.T) {
	t.Parallel()
	host, requests := internalService(t, 200, "text/plain", secret)
	image := host + "/drover-test/absent:1"
	for _, pull := range []PullPolicy{PullMissing, PullAlways} {
		t.Run(string(pull), func(t *testing.T) {
			e := newTestExecutor(t, Config{Pull: pull})
			task := newTask(t, "true")
			task.Spec.Image = image
			res := e.Run(context.Background(), task, newSink(""))
			if res.Reason != drover.ReasonExecutorError {
				t.Fatalf("result %+v, want executor_error", res)
			}
			for _, want := range []string{"image " + image, "registry " + host, "loopback", "--registries"} {
				if !strings.Contains(res.Message, want) {
					t.Errorf("message %q does not say %q", res.Message, want)
				}
			}
			if n := requests.Load(); n != 0 {
				t.Errorf("the service got %d requests, want none", n)
			}
			assertGone(t, e, task.AttemptID)
		})
	}
}

// A registry the worker lists is pulled from, and what it answers stays
// out of the job's message: its status alone is said.
func TestPullFromAListedRegistryKeepsItsAnswerOut(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, contentType, body string
		status                  int
		want                    string
	}{
		{"a page", "text/html", "<html>" + secret + "</html>", 404, "the registry answered HTTP 404"},
		{"a registry error", "application/json", `{"errors":[{"code":"DENIED","message":"` + secret + `"}]}`, 403, "the registry refused it"},
		{"not an image", "text/plain", secret, 200, "the registry's answer was not an image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			host, requests := internalService(t, tc.status, tc.contentType, tc.body)
			e := newTestExecutor(t, Config{Registries: []string{host}})
			task := newTask(t, "true")
			task.Spec.Image = host + "/drover-test/absent:1"
			res := e.Run(context.Background(), task, newSink(""))
			if res.Reason != drover.ReasonExecutorError || !strings.Contains(res.Message, tc.want) {
				t.Errorf("result %+v, want executor_error saying %q", res, tc.want)
			}
			if strings.Contains(res.Message, secret) {
				t.Errorf("message %q carries the service's answer", res.Message)
			}
			if requests.Load() == 0 {
				t.Error("the listed registry got no request")
			}
		})
	}
}

// An image already on the engine runs under --pull missing and never,
// whatever its registry: running it contacts none. Under --pull always
// the refused pull is skipped and the present copy runs.
func TestPresentImageOfARefusedRegistryRuns(t *testing.T) {
	t.Parallel()
	host, requests := internalService(t, 200, "text/plain", secret)
	local := host + "/drover-test/present:1"
	ctx := context.Background()
	tagger := newTestExecutor(t, Config{})
	if _, err := tagger.cli.ImageTag(ctx, client.ImageTagOptions{Source: testImage, Target: local}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := tagger.cli.ImageRemove(ctx, local, client.ImageRemoveOptions{}); err != nil {
			t.Errorf("remove tag %s: %v", local, err)
		}
	})
	for _, pull := range []PullPolicy{PullMissing, PullNever, PullAlways} {
		e := newTestExecutor(t, Config{Pull: pull})
		task := newTask(t, "true")
		task.Spec.Image = local
		res := awaitResult(t, runAsync(ctx, e, task, newSink("")), 2*time.Minute)
		if exitCode(res) != "0" {
			t.Errorf("--pull %s: result %+v, want the present image to run", pull, res)
		}
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("the registry got %d requests, want none", n)
	}
}
