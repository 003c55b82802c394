package drover_test

import (
	"strings"
	"testing"

	"github.com/drover-dev/drover"
)

func TestParseImage(t *testing.T) {
	hex64 := strings.Repeat("a", 64)
	tests := []struct {
		in   string
		want drover.ImageRef
		err  string // part of the error; "" when valid
	}{
		// Valid references, and what they are made of.
		{in: "busybox", want: drover.ImageRef{Path: "busybox"}},
		{in: "debian:bookworm-slim", want: drover.ImageRef{Path: "debian", Tag: "bookworm-slim"}},
		{in: "library/debian:12", want: drover.ImageRef{Path: "library/debian", Tag: "12"}},
		{in: "drover-test/busybox:latest", want: drover.ImageRef{Path: "drover-test/busybox", Tag: "latest"}},
		{in: "ghcr.io/org/team/tool:v1.2.3", want: drover.ImageRef{Domain: "ghcr.io", Path: "org/team/tool", Tag: "v1.2.3"}},
		{in: "Registry.Example.COM/x", want: drover.ImageRef{Domain: "Registry.Example.COM", Path: "x"}},
		{in: "localhost/x", want: drover.ImageRef{Domain: "localhost", Path: "x"}},
		{in: "localhost:5000/x:Tag_1", want: drover.ImageRef{Domain: "localhost:5000", Path: "x", Tag: "Tag_1"}},
		{in: "127.0.0.1:8080/x", want: drover.ImageRef{Domain: "127.0.0.1:8080", Path: "x"}},
		{in: "[::1]:5000/x", want: drover.ImageRef{Domain: "[::1]:5000", Path: "x"}},
		{in: "[fe80::1]/x", want: drover.ImageRef{Domain: "[fe80::1]", Path: "x"}},
		{in: "a-b.c/d", want: drover.ImageRef{Domain: "a-b.c", Path: "d"}},
		{in: "x@sha256:" + hex64, want: drover.ImageRef{Path: "x", Digest: "sha256:" + hex64}},
		{in: "x:1@sha256:" + hex64, want: drover.ImageRef{Path: "x", Tag: "1", Digest: "sha256:" + hex64}},
		{in: "x@sha512:" + strings.Repeat("0", 128), want: drover.ImageRef{Path: "x", Digest: "sha512:" + strings.Repeat("0", 128)}},
		{in: "x/a.b_c__d---e", want: drover.ImageRef{Path: "x/a.b_c__d---e"}},
		{in: "a.b/c", want: drover.ImageRef{Domain: "a.b", Path: "c"}},
		{in: "a_b/c", want: drover.ImageRef{Path: "a_b/c"}},
		{in: "x:" + strings.Repeat("t", 128), want: drover.ImageRef{Path: "x", Tag: strings.Repeat("t", 128)}},
		{in: "x:_", want: drover.ImageRef{Path: "x", Tag: "_"}},
		{in: strings.Repeat("a", 255), want: drover.ImageRef{Path: strings.Repeat("a", 255)}},
		{in: hex64, want: drover.ImageRef{Digest: "sha256:" + hex64, ID: true}},
		{in: "sha256:" + hex64, want: drover.ImageRef{Digest: "sha256:" + hex64, ID: true}},

		// Invalid ones, and what the error says.
		{in: "", err: "empty"},
		{in: "Ubuntu", err: "lower case"},
		{in: "MyOrg/tool", err: "lower case"},
		{in: "ghcr.io/MyOrg/tool", err: "lower case"},
		{in: "UPPER/Case:bad tag", err: "tag"},
		{in: "x:bad tag", err: `tag "bad tag"`},
		{in: "x:", err: "tag"},
		{in: "x:.dot", err: "not starting with"},
		{in: "x:-dash", err: "not starting with"},
		{in: "x:" + strings.Repeat("t", 129), err: "1 to 128"},
		{in: "x@sha256:abc", err: "digest"},
		{in: "x@sha256:" + strings.ToUpper(hex64), err: "lower-case hex"},
		{in: "x@md5:" + hex64, err: "digest"},
		{in: "x@", err: "digest"},
		{in: "/x", err: "empty component"},
		{in: "x/", err: "empty component"},
		{in: "a//b", err: "empty component"},
		{in: "ghcr.io/", err: "repository name is empty"},
		{in: "-x", err: "letters and digits"},
		{in: "x-", err: "letters and digits"},
		{in: "a..b", err: "letters and digits"},
		{in: "a___b", err: "letters and digits"},
		{in: "a b", err: "letters and digits"},
		{in: "a\x1bb", err: `"a\x1bb"`},
		{in: "ex ample.com/x", err: "registry host"},
		{in: "-bad.com/x", err: "registry host"},
		{in: "bad-.com/x", err: "registry host"},
		{in: "a..com/x", err: "registry host"},
		{in: ":5000/x", err: "registry host"},
		{in: "host.com:0/x", err: "port"},
		{in: "host.com:65536/x", err: "port"},
		{in: "host.com:+80/x", err: "port"},
		{in: "host.com:/x", err: "port"},
		{in: "host.com:80:80/x", err: "port"},
		{in: "[::1/x", err: "closing"},
		{in: "[::1]x/y", err: "after its IPv6"},
		{in: "[127.0.0.1]/x", err: "not an IPv6"},
		{in: "[fe80::1%eth0]/x", err: "not an IPv6"},
		{in: "[::1]:5000", err: "letters and digits"},
		{in: strings.Repeat("a", 256), err: "256 characters; the limit is 255"},
		{in: strings.Repeat("a", 1<<20), err: "1048576 bytes"},
	}
	for _, tt := range tests {
		name := tt.in
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			got, err := drover.ParseImage(tt.in)
			if tt.err == "" {
				if err != nil || got != tt.want {
					t.Fatalf("ParseImage(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("ParseImage(%q) = %+v, %v; want an error with %q", tt.in, got, err, tt.err)
			}
			if len(err.Error()) > 2*drover.MaxQuoted+200 {
				t.Errorf("error is %d bytes: it quotes too much of the input", len(err.Error()))
			}
		})
	}
}

func TestImageRegistry(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"busybox", drover.DockerHub},
		{"library/debian:12", drover.DockerHub},
		{"ghcr.io/org/x", "ghcr.io"},
		{"127.0.0.1:5000/x", "127.0.0.1:5000"},
		{"[::1]:5000/x", "[::1]:5000"},
		{"localhost/x", "localhost"},
		{strings.Repeat("a", 64), ""},
	} {
		r, err := drover.ParseImage(tt.in)
		if err != nil {
			t.Fatalf("ParseImage(%q): %v", tt.in, err)
		}
		if got := r.Registry(); got != tt.want {
			t.Errorf("ParseImage(%q).Registry() = %q, want %q", tt.in, got, tt.want)
		}
	}
}
