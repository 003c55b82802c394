package docker

import (
	"context"
	"io"
	"sync"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/executor"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
)

// outputDrainTimeout is how long output may still arrive after the
// container exited. The stream is cut after it.
const outputDrainTimeout = 5 * time.Second

// outputCopy copies a container's output into the sink as it comes. It
// keeps the end of stderr, where docker-init says why a command could not
// run.
type outputCopy struct {
	att    client.ContainerAttachResult
	done   chan struct{} // closed once the copy has ended
	stderr *tailWriter
}

// attach starts copying the container's output into out. It must come
// before the start, so that not a byte of output is missed. close stops
// the copy.
func (e *Executor) attach(ctx context.Context, id string, out executor.Sink) (*outputCopy, error) {
	att, err := e.cli.ContainerAttach(ctx, id, client.ContainerAttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		return nil, err
	}
	c := &outputCopy{att: att, done: make(chan struct{}), stderr: &tailWriter{w: sinkWriter{out, drover.Stderr}}}
	go func() {
		defer close(c.done)
		// The copy ends at EOF when the container exits, or when att is
		// closed.
		_, _ = stdcopy.StdCopy(sinkWriter{out, drover.Stdout}, c.stderr, att.Reader)
	}()
	return c, nil
}

// drain waits for the output still on its way after the container exited.
// It waits at most outputDrainTimeout, and the rest is then cut.
func (c *outputCopy) drain(e *Executor, name string) {
	select {
	case <-c.done:
	case <-time.After(outputDrainTimeout):
		e.log.Warn("container output still open after exit; cutting it", "container", name)
	}
}

// close ends the copy and waits for it.
func (c *outputCopy) close() {
	c.att.Close()
	<-c.done
}

// sinkWriter feeds one demultiplexed stream into the sink as it arrives.
type sinkWriter struct {
	out    executor.Sink
	stream drover.Stream
}

func (w sinkWriter) Write(p []byte) (int, error) {
	w.out.Write(w.stream, p)
	return len(p), nil
}

// tailWriter passes writes on to w and keeps the last tailSize bytes.
type tailWriter struct {
	w    io.Writer
	mu   sync.Mutex
	tail []byte
}

const tailSize = 512

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	t.tail = append(t.tail, p[max(0, len(p)-tailSize):]...)
	if len(t.tail) > tailSize {
		t.tail = append(t.tail[:0], t.tail[len(t.tail)-tailSize:]...)
	}
	t.mu.Unlock()
	return t.w.Write(p)
}

func (t *tailWriter) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.tail)
}
