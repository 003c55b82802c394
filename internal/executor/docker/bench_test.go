package docker

import (
	"context"
	"os/exec"
	"testing"
)

// BenchmarkRunTrue measures a whole drover run of `true`: image check,
// create, attach, start, wait, inspect and removal.
func BenchmarkRunTrue(b *testing.B) {
	e := newTestExecutor(b, Config{})
	for b.Loop() {
		task := newTask(b, "true")
		if res := e.Run(context.Background(), task, newSink("")); exitCode(res) != "0" {
			b.Fatalf("result %+v", res)
		}
	}
}

// BenchmarkDockerCLIRunTrue is the yardstick: `docker run --rm` of the same
// image and command through the docker CLI.
func BenchmarkDockerCLIRunTrue(b *testing.B) {
	needDocker(b)
	if _, err := exec.LookPath("docker"); err != nil {
		b.Skip("no docker CLI")
	}
	for b.Loop() {
		if out, err := exec.Command("docker", "run", "--rm", "--network", "none", testImage, "true").CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
	}
}
