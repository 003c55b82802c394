package e2e

import (
	"os/exec"
	"testing"
	"time"
)

// BenchmarkDockerJobVsDockerRun measures, side by side in one run, a trivial
// command through drover (CLI → coordinator → worker → container, output
// streamed back, container removed) against `docker run --rm` of the same
// image and command. Report: drover-ns/op ÷ docker-ns/op.
//
//	go test ./internal/e2e -run '^$' -bench DockerJobVsDockerRun -benchtime 20x
func BenchmarkDockerJobVsDockerRun(b *testing.B) {
	if err := exec.Command("docker", "image", "inspect", testImage).Run(); err != nil {
		b.Skip("no docker test image: run scripts/test-images.sh")
	}
	cl := newCluster(b, serverOpt{})
	cl.worker("bench", "--executor", "docker")
	tb := cl.url
	var droverTotal, dockerTotal time.Duration
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
	}
	b.ReportMetric(float64(droverTotal.Nanoseconds())/float64(b.N), "drover-ns/op")
	b.ReportMetric(float64(dockerTotal.Nanoseconds())/float64(b.N), "docker-ns/op")
	b.ReportMetric(float64(droverTotal)/float64(dockerTotal), "ratio")
}
