package e2e

import (
	"os/exec"
	"testing"
	"time"
)

// BenchmarkDockerJobVsDockerRun measures, side by side in one run, a trivial
// command through drover (CLI → coordinator → worker → container, output
// streamed back, container removed) against `docker run --rm` of the same
// image and command. Report: drover-ns/op ÷ docker-ns/op ("ratio"); and,
// for context, against a docker run given the same isolation by hand
// ("ratio-isolated").
//
//	go test ./internal/e2e -run '^$' -bench DockerJobVsDockerRun -benchtime 20x
func BenchmarkDockerJobVsDockerRun(b *testing.B) {
	if err := exec.Command("docker", "image", "inspect", testImage).Run(); err != nil {
		b.Skip("no docker test image: run scripts/test-images.sh")
	}
	cl := newCluster(b, serverOpt{})
	cl.worker("bench", "--executor", "docker")
	tb := cl.url
	// The same isolation by hand, for context: what drover's docker
	// executor sets that a bare docker run does not.
	ws := b.TempDir()
	same := []string{"run", "--rm", "--init", "--network", "none", "--read-only", "--tmpfs", "/tmp:rw,nosuid,nodev,size=64m",
		"--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--user", "65534:65534", "--memory", "128m",
		"--memory-swap", "128m", "--cpu-period", "1000000", "--cpu-quota", "100000", "--pids-limit", "512", "-v", ws + ":/workspace", "-w", "/workspace",
		testImage, "true"}
	var droverTotal, dockerTotal, sameTotal time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		out, err := exec.Command(bin, "run", "--server", tb, "--image", testImage, "--", "true").CombinedOutput()
		if err != nil {
			b.Fatalf("drover run: %v %s", err, out)
		}
		droverTotal += time.Since(start)
		start = time.Now()
		if out, err := exec.Command("docker", "run", "--rm", "--network", "none", testImage, "true").CombinedOutput(); err != nil {
			b.Fatalf("docker run: %v %s", err, out)
		}
		dockerTotal += time.Since(start)
		start = time.Now()
		if out, err := exec.Command("docker", same...).CombinedOutput(); err != nil {
			b.Fatalf("docker run with drover's isolation: %v %s", err, out)
		}
		sameTotal += time.Since(start)
	}
	b.ReportMetric(float64(droverTotal.Nanoseconds())/float64(b.N), "drover-ns/op")
	b.ReportMetric(float64(dockerTotal.Nanoseconds())/float64(b.N), "docker-ns/op")
	b.ReportMetric(float64(sameTotal.Nanoseconds())/float64(b.N), "docker-isolated-ns/op")
	b.ReportMetric(float64(droverTotal)/float64(dockerTotal), "ratio")
	b.ReportMetric(float64(droverTotal)/float64(sameTotal), "ratio-isolated")
}
