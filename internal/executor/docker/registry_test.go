package docker

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestParseRegistries(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  string
	}{
		{in: "", want: nil},
		{in: " , ", want: nil},
		{in: "docker.io,ghcr.io", want: []string{"docker.io", "ghcr.io"}},
		{in: " Registry.Internal:5000 , localhost ", want: []string{"registry.internal:5000", "localhost"}},
		{in: "127.0.0.1:5000,[::1]:5000", want: []string{"127.0.0.1:5000", "[::1]:5000"}},
		{in: "index.docker.io", want: []string{"docker.io"}},
		{in: "registry:5000", want: []string{"registry:5000"}},
		{in: "https://ghcr.io", err: "without a scheme"},
		{in: "myregistry", err: "with a dot or a port"},
		{in: "ghcr.io/org", err: "not a registry host"},
		{in: "ghcr.io:99999", err: "not a registry host"},
		{in: "bad_host.com", err: "not a registry host"},
		{in: "ghcr.io,\x1b[2J", err: `"\x1b[2j"`},
	} {
		got, err := ParseRegistries(tc.in)
		switch {
		case tc.err == "" && (err != nil || !slices.Equal(got, tc.want)):
			t.Errorf("ParseRegistries(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseRegistries(%q) = %q, %v; want an error with %q", tc.in, got, err, tc.err)
		}
	}
}

func TestAddrKind(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"8.8.8.8", ""},
		{"140.82.112.3", ""},
		{"2606:4700::1111", ""},
		{"127.0.0.1", "loopback"},
		{"127.8.9.10", "loopback"},
		{"::1", "loopback"},
		{"::ffff:127.0.0.1", "loopback"},
		{"0.0.0.0", "unspecified"},
		{"::", "unspecified"},
		{"169.254.169.254", "link-local"},
		{"fe80::1", "link-local"},
		{"10.1.2.3", "private"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"192.168.1.1", "private"},
		{"fc00::1", "private"},
		{"fd12:3456::1", "private"},
		{"::ffff:10.0.0.1", "private"},
		{"100.64.0.1", "shared (carrier-grade NAT)"},
		{"100.127.255.255", "shared (carrier-grade NAT)"},
		{"239.1.2.3", "multicast"},
		{"224.0.0.1", "link-local"},
		{"ff02::1", "link-local"},
		{"ff0e::1", "multicast"},
		{"255.255.255.255", "reserved"},
		{"0.1.2.3", "reserved"},
		{"192.0.0.8", "reserved"},
		{"198.18.0.1", "reserved"},
		{"240.0.0.1", "reserved"},
		{"2001:db8::1", "reserved"},
		{"fec0::1", "reserved"},
		{"64:ff9b::7f00:1", "loopback"},
		{"64:ff9b::a00:1", "private"},
		{"64:ff9b::808:808", ""},
		{"64:ff9b:1::1", "private"},
		{"2002:7f00:1::1", "loopback"},
		{"2002:a9fe:a9fe::1", "link-local"},
		{"2002:808:808::1", ""},
	} {
		if got := addrKind(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("addrKind(%s) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}

func TestRegistryPolicy(t *testing.T) {
	dns := map[string][]netip.Addr{
		"ghcr.io":              {netip.MustParseAddr("140.82.112.33")},
		"registry.example.com": {netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("2606:2800:220:1::1")},
		// A public-looking name that resolves inside: refused by its address.
		"rebind.example.com": {netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("10.0.0.5")},
		"metadata.example":   {netip.MustParseAddr("169.254.169.254")},
	}
	var looked []string
	lookup := func(_ context.Context, host string) ([]netip.Addr, error) {
		looked = append(looked, host)
		if a, ok := dns[host]; ok {
			return a, nil
		}
		return nil, errors.New("no such host")
	}
	for _, tc := range []struct {
		name    string
		allowed []string
		image   string
		want    string // "" when allowed; else a part of the error
	}{
		{name: "docker hub, unlisted", image: "busybox:1"},
		{name: "docker hub by its name", image: "docker.io/library/busybox"},
		{name: "public name", image: "ghcr.io/org/tool:1"},
		{name: "public name, both families", image: "registry.example.com/x"},
		{name: "public address", image: "8.8.8.8:5000/x"},
		{name: "loopback address", image: "127.0.0.1:5000/x", want: "its registry 127.0.0.1:5000 is a loopback address: the worker pulls only from public registries unless its --registries (DROVER_REGISTRIES) lists the registry"},
		{name: "IPv6 loopback", image: "[::1]:5000/x", want: "a loopback address"},
		{name: "link-local", image: "169.254.169.254/x", want: "a link-local address"},
		{name: "private", image: "10.0.0.7:5000/x", want: "a private address"},
		{name: "CGNAT", image: "100.100.100.100/x", want: "shared (carrier-grade NAT)"},
		{name: "localhost", image: "localhost:5000/x", want: "a local name"},
		{name: "localhost name", image: "registry.localhost/x", want: "a local name"},
		{name: "mDNS name", image: "nas.local:5000/x", want: "a local name"},
		{name: "single label", image: "registry:5000/x", want: "a local name"},
		{name: "name resolving inside", image: "rebind.example.com/x", want: "whose name resolves to 10.0.0.5, a private address"},
		{name: "name resolving to the metadata service", image: "metadata.example/x", want: "169.254.169.254, a link-local address"},
		{name: "name that does not resolve", image: "nowhere.example.com/x", want: "cannot resolve the name of its registry nowhere.example.com"},
		{name: "image ID", image: "sha256:" + strings.Repeat("a", 64), want: "an image ID names no registry"},
		{name: "not a reference", image: "Bad/Ref", want: "not an image reference"},

		{name: "listed loopback", allowed: []string{"127.0.0.1:5000"}, image: "127.0.0.1:5000/x"},
		{name: "listed docker hub", allowed: []string{"docker.io"}, image: "busybox"},
		{name: "docker hub by another name", allowed: []string{"docker.io"}, image: "index.docker.io/library/busybox"},
		{name: "listed, host in capitals", allowed: []string{"registry.example.com"}, image: "Registry.Example.COM/x"},
		{name: "listed name resolving inside", allowed: []string{"rebind.example.com"}, image: "rebind.example.com/x"},
		{name: "unlisted public", allowed: []string{"docker.io"}, image: "ghcr.io/x", want: "its registry ghcr.io is not one of the worker's --registries (DROVER_REGISTRIES): docker.io"},
		{name: "unlisted port", allowed: []string{"127.0.0.1:5000"}, image: "127.0.0.1:5001/x", want: "not one of"},
		{name: "unlisted docker hub", allowed: []string{"ghcr.io"}, image: "busybox", want: "its registry docker.io is not one of"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &registryPolicy{allowed: tc.allowed, lookup: lookup}
			err := p.check(context.Background(), tc.image)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("check(%q) = %v, want it allowed", tc.image, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("check(%q) = %v, want an error with %q", tc.image, err, tc.want)
			}
		})
	}
	// Docker Hub, addresses, local names and listed registries are never
	// looked up.
	for _, h := range looked {
		if _, ok := dns[h]; !ok && h != "nowhere.example.com" {
			t.Errorf("looked up %q", h)
		}
	}
	if slices.Contains(looked, "rebind.example.com") && strings.Count(strings.Join(looked, " "), "rebind") > 1 {
		t.Errorf("a listed registry was looked up: %q", looked)
	}
}

func TestPullReason(t *testing.T) {
	for _, tc := range []struct{ err, want string }{
		// What the engine says when the service at a registry's address
		// answers with a page, or with a JSON error.
		{`error parsing HTTP 404 response body: invalid character '<' looking for beginning of value: "<html>SECRET admin=hunter2</html>"`, "the registry answered HTTP 404"},
		{`pull access denied for 127.0.0.1:18659/x, repository does not exist or may require 'docker login': denied: SECRET`, "the registry refused it"},
		{`error unmarshalling content: invalid character 'S' looking for beginning of value`, "the registry's answer was not an image"},
		{`Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused`, "the registry refused the connection"},
		{`Get "https://nowhere.example/v2/": dial tcp: lookup nowhere.example: no such host`, "the registry's name does not resolve"},
		{`Get "https://10.255.255.1/v2/": net/http: request canceled while waiting for connection (Client.Timeout exceeded while awaiting headers)`, "did not answer in time"},
		{`Get "https://self-signed.example/v2/": x509: certificate signed by unknown authority`, "TLS certificate"},
		{`manifest for busybox:nope not found: manifest unknown: manifest unknown`, "no such image or tag"},
		{`toomanyrequests: You have reached your pull rate limit.`, "rate limit"},
		{`something else entirely: SECRET`, "the worker's log has the engine's error"},
	} {
		got := pullReason(errors.New(tc.err))
		if !strings.Contains(got, tc.want) || strings.Contains(got, "SECRET") {
			t.Errorf("pullReason(%q) = %q, want %q and nothing of the answer", tc.err, got, tc.want)
		}
	}
}
