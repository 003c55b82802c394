package e2e

import (
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// proxy is a loopback TCP proxy a test puts between a drover process and a
// coordinator, to cut the link and mend it while both go on running. It
// knows nothing of HTTP: it partitions as a network does.
//
// A proxy passes bytes until told otherwise. refuse resets every link and
// each new one as it comes, as a host that is gone. hold lets links open
// but stops every byte both ways, as a network that drops packets: calls
// hang instead of failing. heal lets bytes cross again, held ones first.
type proxy struct {
	t      testing.TB
	ln     net.Listener
	target string // host:port of the coordinator

	mu     sync.Mutex
	mode   proxyMode
	gate   chan struct{}         // closed while bytes may cross; a new one on hold
	links  map[net.Conn]struct{} // both ends of every open link
	held   int                   // reads waiting at the gate
	change chan struct{}         // closed and replaced when held grows
	wg     sync.WaitGroup
}

type proxyMode int

const (
	passing proxyMode = iota
	refusing
	holding
)

// newProxy starts a proxy to the coordinator at url (http://host:port),
// closed when the test ends.
func newProxy(t testing.TB, coordinator string) *proxy {
	t.Helper()
	u, err := url.Parse(coordinator)
	if err != nil || u.Host == "" {
		t.Fatalf("proxy target %q: %v", coordinator, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, ln: ln, target: u.Host, gate: make(chan struct{}), links: map[net.Conn]struct{}{}, change: make(chan struct{})}
	close(p.gate)
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.refuse() // ends every link and releases held reads
		p.wg.Wait()
	})
	return p
}

// url is the coordinator's URL through the proxy.
func (p *proxy) url() string { return "http://" + p.ln.Addr().String() }

// refuse resets every open link, and every new one as it is made.
func (p *proxy) refuse() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.open()
	p.mode = refusing
	for c := range p.links {
		reset(c)
	}
}

// hold stops bytes crossing, both ways, on open links and new ones alike.
func (p *proxy) hold() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode != holding {
		p.mode, p.gate = holding, make(chan struct{})
	}
}

// heal lets bytes cross again; what was held goes on.
func (p *proxy) heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.open()
	p.mode = passing
}

// open releases the reads held at the gate. Called with mu held.
func (p *proxy) open() {
	select {
	case <-p.gate:
	default:
		close(p.gate)
	}
}

// waitHeld waits until at least n reads are held at the gate: something
// tried to cross while the proxy holds.
func (p *proxy) waitHeld(n int, d time.Duration) {
	p.t.Helper()
	deadline := time.After(d)
	for {
		p.mu.Lock()
		held, change := p.held, p.change
		p.mu.Unlock()
		if held >= n {
			return
		}
		select {
		case <-change:
		case <-deadline:
			p.t.Fatalf("proxy: %d reads held after %s, want %d", held, d, n)
		}
	}
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed by the cleanup
		}
		p.mu.Lock()
		mode := p.mode
		p.mu.Unlock()
		if mode == refusing {
			reset(c)
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			reset(c)
			continue
		}
		p.mu.Lock()
		if p.mode == refusing {
			p.mu.Unlock()
			reset(c)
			up.Close()
			continue
		}
		p.links[c], p.links[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(up, c)
		go p.pipe(c, up)
	}
}

// pipe copies src to dst until either fails, passing each read through
// the gate. The end of a stream waits at the gate too: a held link does
// not even close.
func (p *proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	defer func() {
		p.mu.Lock()
		delete(p.links, src)
		delete(p.links, dst)
		p.mu.Unlock()
		src.Close()
		dst.Close()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if !p.pass() {
			return
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// pass waits while the proxy holds and reports whether bytes may cross.
func (p *proxy) pass() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.mode == holding {
		gate := p.gate
		p.held++
		close(p.change)
		p.change = make(chan struct{})
		p.mu.Unlock()
		<-gate
		p.mu.Lock()
		p.held--
	}
	return p.mode == passing
}

// reset closes c with a TCP reset, as a refused or broken connection ends.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}

// TestProxy checks the proxy itself: bytes pass, hold makes a call hang
// until heal, and refuse fails calls at once.
func TestProxy(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() { // an echo server
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 1024)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					if _, err := c.Write(buf[:n]); err != nil {
						return
					}
				}
			}()
		}
	}()
	p := newProxy(t, "http://"+ln.Addr().String())
	addr := strings.TrimPrefix(p.url(), "http://")
	echo := func(c net.Conn, msg string) (string, error) {
		if _, err := c.Write([]byte(msg)); err != nil {
			return "", err
		}
		buf := make([]byte, len(msg))
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := c.Read(buf)
		return string(buf[:n]), err
	}

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, err := echo(c, "one"); got != "one" || err != nil {
		t.Fatalf("passing: %q, %v", got, err)
	}

	// Held: the write goes out, no answer comes until heal.
	p.hold()
	got := make(chan string, 1)
	go func() { s, _ := echo(c, "two"); got <- s }()
	p.waitHeld(1, 10*time.Second)
	select {
	case s := <-got:
		t.Fatalf("an answer crossed a held proxy: %q", s)
	default:
	}
	p.heal()
	if s := <-got; s != "two" {
		t.Fatalf("after heal: %q, want the held bytes", s)
	}

	// Refused: the open link is reset, and so is a new one.
	p.refuse()
	if _, err := echo(c, "three"); err == nil {
		t.Fatal("a refused link still answers")
	}
	c2, err := net.Dial("tcp", addr)
	if err == nil {
		_, err = echo(c2, "four")
		c2.Close()
	}
	if err == nil {
		t.Fatal("a new link through a refusing proxy answers")
	}
	p.heal()
	c3, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	if got, err := echo(c3, "five"); got != "five" || err != nil {
		t.Fatalf("healed: %q, %v", got, err)
	}
}
