package worker

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/executor/noop"
)

// logged is a slog handler that passes each message to a channel.
type logged chan string

func (l logged) Enabled(context.Context, slog.Level) bool { return true }
func (l logged) Handle(_ context.Context, r slog.Record) error {
	select {
	case l <- r.Message:
	default:
	}
	return nil
}
func (l logged) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l logged) WithGroup(string) slog.Handler      { return l }

func newUnregistered(t *testing.T, server string, log logged) *Worker {
	t.Helper()
	w, err := New(Config{Server: server, Name: "w", WorkDir: t.TempDir(), Logger: slog.New(log),
		Executors: []Executor{noop.Executor{}}, Capacity: drover.Capacity{CPU: 1000, MemoryMB: 1024, Slots: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// A drain that comes while the worker still waits for its coordinator ends
// Run at once: nothing ran, so nothing is left to finish.
func TestDrainBeforeRegistering(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // connections are refused: the coordinator is away
	log := make(logged, 16)
	w := newUnregistered(t, "http://"+addr, log)
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	for msg := range log {
		if msg == "coordinator unreachable; retrying" {
			break
		}
	}
	w.Drain()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil after a drain", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run went on retrying after a drain")
	}
}

// A coordinator whose certificate the worker cannot verify is a setup to
// fix, not an outage to wait out: Run ends and says how to trust it.
func TestUntrustedCertificateIsFinal(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.TLS = &tls.Config{}
	srv.StartTLS()
	defer srv.Close()
	w := newUnregistered(t, srv.URL, make(logged, 16))
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "SSL_CERT_FILE") {
			t.Fatalf("Run = %v, want a final error saying how to trust the certificate", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run went on retrying an untrusted certificate")
	}
}
