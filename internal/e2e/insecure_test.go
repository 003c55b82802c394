package e2e

import (
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestInsecureServesAnOpenListener: --insecure lets drover server listen
// beyond loopback without tokens (without it the server refuses: see
// TestServerRefusesOpenListenerWithoutTokens), and clients reach it there
// without a token.
func TestInsecureServesAnOpenListener(t *testing.T) {
	t.Parallel()
	_, port, err := net.SplitHostPort(freePort(t))
	if err != nil {
		t.Fatal(err)
	}
	start(t, "server", nil, "server", "--listen", "0.0.0.0:"+port, "--data", t.TempDir(), "--insecure").
		waitLine(`msg=listening url=`, 20*time.Second)

	// Every address of the machine reaches it: loopback, and the first
	// other one when the machine has one.
	hosts := []string{"127.0.0.1"}
	if ip := nonLoopbackIPv4(t); ip != "" {
		hosts = append(hosts, ip)
	}
	for _, h := range hosts {
		cmd := exec.Command(bin, "jobs")
		cmd.Env = append(cleanEnv(), "DROVER_SERVER=http://"+net.JoinHostPort(h, port))
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), "ID") {
			t.Fatalf("drover jobs through %s, no token: %v\n%s", h, err, out)
		}
	}
}

// nonLoopbackIPv4 returns an IPv4 address of the machine that is not a
// loopback one, or "".
func nonLoopbackIPv4(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	return ""
}
