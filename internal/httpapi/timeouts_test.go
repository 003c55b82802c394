package httpapi_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/httpapi"
)

// short are connection timeouts small enough for tests to see them act.
func short(c *httpapi.Config) {
	c.ReadHeaderTimeout = 300 * time.Millisecond
	c.ReadTimeout = 300 * time.Millisecond
	c.WriteTimeout = 300 * time.Millisecond
	c.IdleTimeout = 300 * time.Millisecond
	c.KeepAlive = 30 * time.Millisecond
}

// dial opens a raw connection to the server.
func dial(t *testing.T, s *apiServer) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(strings.TrimPrefix(s.url, "http://"), "https://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitClosed reads what the server still sends until it closes the
// connection, and fails if it does not within the test's bound.
func waitClosed(t *testing.T, c net.Conn, r io.Reader) []byte {
	t.Helper()
	if r == nil {
		r = c
	}
	c.SetReadDeadline(time.Now().Add(waitFor))
	b, err := io.ReadAll(r)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("the server kept the connection open (got %q)", b)
		}
		// A reset after the server closed is an end too.
		if !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
			t.Fatalf("read: %v", err)
		}
	}
	return b
}

func send(t *testing.T, c net.Conn, s string) {
	t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatal(err)
	}
}

// A connection that says nothing, or half a header, or pauses in a body,
// or stays idle after its answer, is closed.
func TestServerClosesSilentConnections(t *testing.T) {
	s := newAPIServer(t, serverOpt{api: short})
	t.Run("nothing", func(t *testing.T) {
		c := dial(t, s)
		if b := waitClosed(t, c, nil); len(b) > 0 {
			t.Errorf("got %q", b)
		}
	})
	t.Run("no TLS handshake", func(t *testing.T) {
		tlsServer := newAPIServer(t, serverOpt{api: short, tls: true})
		c := dial(t, tlsServer)
		send(t, c, "\x16\x03\x01\x02\x00\x01") // the start of a ClientHello
		waitClosed(t, c, nil)
	})
	t.Run("half a header", func(t *testing.T) {
		c := dial(t, s)
		send(t, c, "POST /api/v1/jobs HTTP/1.1\r\nHost: drover\r\nContent-Le")
		waitClosed(t, c, nil)
	})
	t.Run("idle after an answer", func(t *testing.T) {
		c := dial(t, s)
		send(t, c, "GET /healthz HTTP/1.1\r\nHost: drover\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 200 || resp.Close {
			t.Fatalf("healthz: %d, close %v", resp.StatusCode, resp.Close)
		}
		if b := waitClosed(t, c, br); len(b) > 0 {
			t.Errorf("got %q after the answer", b)
		}
	})
	for _, path := range []string{"/api/v1/jobs", "/api/v1/bundles"} {
		t.Run("a body that stops at "+path, func(t *testing.T) {
			c := dial(t, s)
			send(t, c, "POST "+path+" HTTP/1.1\r\nHost: drover\r\nContent-Length: 20000\r\n\r\n{\"command\":")
			b := waitClosed(t, c, nil)
			if len(b) > 0 && !bytes.Contains(b, []byte("came too slowly")) {
				t.Errorf("answer %q, want none or one saying the body came too slowly", b)
			}
		})
	}
}

// A client that stops reading its answer is cut off.
func TestServerClosesAConnectionThatStopsReading(t *testing.T) {
	closed := make(chan string, 64)
	s := newAPIServer(t, serverOpt{api: short, connState: func(c net.Conn, st http.ConnState) {
		if st == http.StateClosed {
			closed <- c.RemoteAddr().String()
		}
	}})
	w := s.register(t, "w1", 1000)
	j := s.submit(t, echoSpec())
	a := w.assignment(t)
	// 8 MiB of output, in small posts. Each is answered within the short
	// WriteTimeout only when the machine keeps up, so a post cut off is sent
	// again: a post is idempotent by its sequence number.
	line := bytes.Repeat([]byte("0123456789abcdef"), 8<<10) // 128 KiB
	for i := range 64 {
		chunk := []drover.OutputChunk{{Seq: int64(i + 1), Stream: drover.Stdout, Data: line}}
		var err error
		for range 10 {
			if err = w.c.SendOutput(ctxT(t), a.AttemptID, chunk); err == nil {
				break
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	c := dial(t, s)
	c.(*net.TCPConn).SetReadBuffer(4 << 10)
	send(t, c, "GET /api/v1/jobs/"+j.ID+"/output HTTP/1.1\r\nHost: drover\r\n\r\n")
	deadline := time.After(waitFor)
	for {
		select {
		case addr := <-closed:
			if addr == c.LocalAddr().String() {
				return
			}
		case <-deadline:
			t.Fatal("the server still writes to a client that reads nothing")
		}
	}
}

// Streams, long-polls and large bodies outlast the timeouts, each within
// its own bound.
func TestServerLongRoutesOutlastTheTimeouts(t *testing.T) {
	s := newAPIServer(t, serverOpt{api: func(c *httpapi.Config) {
		short(c)
		c.MinBodyRate = 100 // bytes per second: a small bundle has seconds
	}})
	j := s.submit(t, echoSpec()) // queued: its output stream stays open
	for _, path := range []string{"/api/v1/events", "/api/v1/jobs/" + j.ID + "/output?follow=1"} {
		t.Run(path, func(t *testing.T) {
			// Forty keep-alives come over four times WriteTimeout: the
			// stream outlives it.
			c := dial(t, s)
			send(t, c, "GET "+path+" HTTP/1.1\r\nHost: drover\r\n\r\n")
			c.SetReadDeadline(time.Now().Add(waitFor))
			br := bufio.NewReader(c)
			for n := 0; n < 40; {
				line, err := br.ReadString('\n')
				if err != nil {
					t.Fatalf("the stream ended after %d keep-alives: %v", n, err)
				}
				if strings.Contains(line, ": keep-alive") {
					n++
				}
			}
		})
	}
	t.Run("long-poll", func(t *testing.T) {
		w := s.register(t, "poller", 50) // too small for the queued job
		// A wait of several WriteTimeouts is answered, empty, at its end.
		r, err := w.c.Work(ctxT(t), w.id, time.Second, false)
		if err != nil {
			t.Fatalf("long-poll of a second: %v", err)
		}
		if len(r.Assignments) > 0 {
			t.Fatalf("assignments %+v", r.Assignments)
		}
	})
	t.Run("bundle upload", func(t *testing.T) {
		var zb bytes.Buffer
		zw := zip.NewWriter(&zb)
		f, _ := zw.Create("a.txt")
		f.Write([]byte("hello"))
		zw.Close()
		body := zb.Bytes()
		c := dial(t, s)
		send(t, c, fmt.Sprintf("POST /api/v1/bundles HTTP/1.1\r\nHost: drover\r\nContent-Length: %d\r\n\r\n", len(body)))
		send(t, c, string(body[:10]))
		// A connection opened now that says nothing is closed after
		// ReadHeaderTimeout, which is ReadTimeout: once it is, the
		// upload has taken longer than ReadTimeout.
		waitClosed(t, dial(t, s), nil)
		send(t, c, string(body[10:]))
		c.SetReadDeadline(time.Now().Add(waitFor))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("upload slower than ReadTimeout, within its size's time: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 201 {
			t.Fatalf("upload: %d %s", resp.StatusCode, b)
		}
	})
}

// A request without a token is answered 401 without its body being read,
// and its connection is closed; so is one over its body limit (413). The
// client here never sends the body.
func TestServerRefusesBeforeReadingTheBody(t *testing.T) {
	s := newAPIServer(t, serverOpt{tokens: true, api: func(c *httpapi.Config) {
		// Long enough that waiting for a body would hang the test.
		c.ReadTimeout = time.Hour
		c.WriteTimeout = time.Hour
	}})
	w := s.register(t, "w1", 1000)
	cases := []struct {
		name, head string
		status     int
	}{
		{"bundle without a token, 100 MB", "POST /api/v1/bundles HTTP/1.1\r\nContent-Length: 100000000\r\n", 401},
		{"bundle without a token, 100 kB", "POST /api/v1/bundles HTTP/1.1\r\nContent-Length: 100000\r\n", 401},
		{"bundle with a wrong token, chunked", "POST /api/v1/bundles HTTP/1.1\r\nAuthorization: Bearer nope\r\nTransfer-Encoding: chunked\r\n", 401},
		{"job without a token", "POST /api/v1/jobs HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n", 401},
		{"multipart job without a token", "POST /api/v1/jobs HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: 100000000\r\n", 401},
		{"register with a wrong join token", "POST /api/v1/workers HTTP/1.1\r\nAuthorization: Bearer nope\r\nContent-Length: 100000\r\n", 401},
		{"worker call without a secret", "POST /api/v1/attempts/att_x/output HTTP/1.1\r\nContent-Length: 100000\r\n", 401},
		{"worker call for another worker", "POST /api/v1/workers/wrk_other/heartbeat HTTP/1.1\r\nAuthorization: Bearer " + w.secret + "\r\nContent-Length: 100000\r\n", 403},
		{"bundle over the limit", "POST /api/v1/bundles HTTP/1.1\r\nAuthorization: Bearer " + apiToken + "\r\nContent-Length: 200000000\r\n", 413},
		{"bundle over --bundle-max-size", "POST /api/v1/bundles HTTP/1.1\r\nAuthorization: Bearer " + apiToken + "\r\nContent-Length: " + strconv.Itoa(100<<20+1) + "\r\n", 413},
		{"job spec over the limit", "POST /api/v1/jobs HTTP/1.1\r\nAuthorization: Bearer " + apiToken + "\r\nContent-Type: application/json\r\nContent-Length: 2000000\r\n", 413},
		{"output post over the limit", "POST /api/v1/attempts/att_x/output HTTP/1.1\r\nAuthorization: Bearer " + w.secret + "\r\nContent-Length: 20000000\r\n", 413},
	}
	var wg sync.WaitGroup
	for _, tc := range cases {
		wg.Go(func() {
			c := dial(t, s)
			send(t, c, tc.head+"Host: drover\r\n\r\n")
			c.SetReadDeadline(time.Now().Add(waitFor))
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Errorf("%s: no answer: %v", tc.name, err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || !resp.Close {
				t.Errorf("%s: %d (close %v) %s, want %d and the connection closed", tc.name, resp.StatusCode, resp.Close, b, tc.status)
			}
			waitClosed(t, c, br)
		})
	}
	wg.Wait()
}
