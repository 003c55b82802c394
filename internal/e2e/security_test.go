package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestServerRefusesOpenListenerWithoutTokens(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(bin, "server", "--listen", "0.0.0.0:0", "--data", t.TempDir())
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "DROVER_API_TOKEN") || !strings.Contains(string(out), "--insecure") {
		t.Fatalf("open listener without tokens: %v\n%s", err, out)
	}
}

// TestTLSAndTokens runs a coordinator with TLS, a join token and an API
// token; a worker and the CLI reach it with the right secrets only.
func TestTLSAndTokens(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile := selfSigned(t, dir)
	listen := freePort(t)
	apiFile := filepath.Join(dir, "api-tokens")
	if err := os.WriteFile(apiFile, []byte("old-secret\napi-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := start(t, "tls server", []string{"DROVER_JOIN_TOKEN=join-secret"}, "server", "--listen", listen, "--data", dir,
		"--tls-cert", certFile, "--tls-key", keyFile, "--api-token-file", apiFile,
		"--heartbeat-interval", "200ms", "--heartbeat-timeout", "1500ms")
	url := srv.waitLine(`msg=listening url=(\S+)`, 20*time.Second)[1]
	if !strings.HasPrefix(url, "https://") {
		t.Fatalf("url %s", url)
	}
	trust := "SSL_CERT_FILE=" + certFile

	// A worker with a wrong join token is refused and says why. The token
	// on the command line still works, with a warning.
	bad := exec.Command(bin, "worker", "--server", url, "--join-token", "nope", "--executor", "process", "--work-dir", workDir(t), "--run-as", uidRange(t))
	bad.Env = append(cleanEnv(), trust)
	out, err := bad.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "join token is wrong") || !strings.Contains(string(out), "warning: --join-token shows the token") {
		t.Fatalf("worker with a wrong join token: %v\n%s", err, out)
	}
	joinFile := filepath.Join(dir, "join-token")
	if err := os.WriteFile(joinFile, []byte("join-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w := start(t, "tls worker", []string{trust}, "worker", "--server", url, "--join-token-file", joinFile, "--executor", "process", "--work-dir", workDir(t), "--run-as", uidRange(t))
	w.waitLine(`msg=registered`, 20*time.Second)

	run := func(token string) (string, string, int) {
		cmd := exec.Command(bin, "run", "--server", url, "--", "echo", "over tls")
		cmd.Env = append(cleanEnv(), trust, "DROVER_TOKEN="+token)
		var o, e strings.Builder
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return o.String(), e.String(), code
	}
	if out, errOut, code := run("api-secret"); code != 0 || out != "over tls\n" {
		t.Fatalf("run over TLS: %d %q %q", code, out, errOut)
	}
	if _, errOut, code := run("wrong"); code != 125 || !strings.Contains(errOut, "token is wrong") {
		t.Fatalf("run with a wrong token: %d %q", code, errOut)
	}
	// A client that does not trust the certificate is told how to, at
	// once: retrying would not help.
	for _, args := range [][]string{{"jobs", "--server", url}, {"run", "--server", url, "--", "true"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(cleanEnv(), "DROVER_TOKEN=api-secret")
		out, err := cmd.CombinedOutput()
		late := ctx.Err()
		cancel()
		if err == nil || late != nil || !strings.Contains(string(out), "cannot trust the coordinator") || !strings.Contains(string(out), "SSL_CERT_FILE") {
			t.Fatalf("%q without trusting the certificate: %v (deadline: %v)\n%s", args, err, late, out)
		}
	}
}

func selfSigned(t *testing.T, dir string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "drover test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
