package docker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/drover-dev/drover"
)

// registryFlag names the worker's setting in messages, for the operator.
const registryFlag = "--registries (DROVER_REGISTRIES)"

// lookupTimeout bounds the resolution of a registry's name.
const lookupTimeout = 5 * time.Second

// ParseRegistries reads a comma-separated list of registry hosts, such as
// "docker.io,ghcr.io,registry.internal:5000". Each is host[:port] as an
// image reference names it. It has a dot or a port, or is localhost.
// Empty entries are skipped. Entries are returned in lower case.
func ParseRegistries(s string) ([]string, error) {
	var out []string
	for e := range strings.SplitSeq(s, ",") {
		e = strings.ToLower(strings.TrimSpace(e))
		if e == "" {
			continue
		}
		if strings.Contains(e, "://") {
			return nil, fmt.Errorf("registry %s: give the host[:port] alone, without a scheme", drover.Quote(e))
		}
		ref, err := drover.ParseImage(e + "/x")
		if err != nil || ref.Domain != e {
			return nil, fmt.Errorf("registry %s is not a registry host: use host[:port] as image names write it, with a dot or a port (or localhost), like ghcr.io or registry.internal:5000", drover.Quote(e))
		}
		out = append(out, canonicalRegistry(e))
	}
	return out, nil
}

// canonicalRegistry is the name a registry is matched by: lower case, and
// Docker Hub's other names as docker.io.
func canonicalRegistry(r string) string {
	r = strings.ToLower(r)
	switch r {
	case "index.docker.io", "registry-1.docker.io":
		return drover.DockerHub
	}
	return r
}

// registryPolicy decides which registries the engine may contact to pull
// an image. With a list, it allows those alone. Without one, it allows any
// public registry. It refuses a registry named by an address that is not
// public, or by a local name. It refuses one whose name resolves to such
// an address too.
//
// The check cannot be airtight. The engine resolves the name again when
// it pulls, and a name can change its answer in between. A registry may
// also redirect the engine elsewhere, or name any URL as its token
// service, and the engine follows. Only a list of trusted registries
// closes those.
type registryPolicy struct {
	allowed []string
	lookup  func(ctx context.Context, host string) ([]netip.Addr, error)
}

func newRegistryPolicy(allowed []string) *registryPolicy {
	return &registryPolicy{allowed: allowed, lookup: func(ctx context.Context, host string) ([]netip.Addr, error) {
		return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	}}
}

// check returns nil when the engine may contact the registry of image,
// else an error that names the registry and the worker's setting. The
// caller names the image.
func (p *registryPolicy) check(ctx context.Context, image string) error {
	ref, err := drover.ParseImage(image)
	if err != nil {
		return fmt.Errorf("it is not an image reference: %v", err)
	}
	if ref.ID {
		return errors.New("an image ID names no registry to pull it from")
	}
	reg := canonicalRegistry(ref.Registry())
	if len(p.allowed) > 0 {
		if slices.Contains(p.allowed, reg) {
			return nil
		}
		return fmt.Errorf("its registry %s is not one of the worker's %s: %s", reg, registryFlag, strings.Join(p.allowed, ", "))
	}
	why, err := p.notPublic(ctx, reg)
	if err != nil {
		return fmt.Errorf("the worker cannot resolve the name of its registry %s to check it (%v): list the registry in the worker's %s to pull from it", reg, err, registryFlag)
	}
	if why != "" {
		return fmt.Errorf("its registry %s is %s: the worker pulls only from public registries unless its %s lists the registry", reg, why, registryFlag)
	}
	return nil
}

// notPublic says why registry reg (host[:port]) is not a public one, or
// returns "" when it is.
func (p *registryPolicy) notPublic(ctx context.Context, reg string) (string, error) {
	if reg == drover.DockerHub {
		return "", nil
	}
	host := reg
	if h, _, err := net.SplitHostPort(reg); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if a, err := netip.ParseAddr(host); err == nil {
		if kind := addrKind(a); kind != "" {
			return "a " + kind + " address", nil
		}
		return "", nil
	}
	if localName(host) {
		return "a local name", nil
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	addrs, err := p.lookup(ctx, host)
	if err != nil {
		return "", err
	}
	for _, a := range addrs {
		if kind := addrKind(a); kind != "" {
			return fmt.Sprintf("whose name resolves to %s, a %s address", a.Unmap(), kind), nil
		}
	}
	return "", nil
}

// localName reports whether a host name can only name a machine of the
// local network: a single label, or a name under a suffix reserved for
// local use. Other private names are caught by their addresses.
func localName(host string) bool {
	host = strings.ToLower(host)
	if !strings.Contains(host, ".") {
		return true
	}
	for _, s := range []string{".localhost", ".local", ".internal", ".home.arpa"} {
		if strings.HasSuffix(host, s) {
			return true
		}
	}
	return false
}

var (
	cgnat = netip.MustParsePrefix("100.64.0.0/10")
	// nat64 prefixes carry an IPv4 address in their last four bytes; the
	// local-use one is private whatever it carries.
	nat64      = netip.MustParsePrefix("64:ff9b::/96")
	nat64Local = netip.MustParsePrefix("64:ff9b:1::/48")
	// sixToFour carries an IPv4 address in bytes 2 to 5.
	sixToFour = netip.MustParsePrefix("2002::/16")
	reserved  = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),
		netip.MustParsePrefix("192.0.0.0/24"),
		netip.MustParsePrefix("192.0.2.0/24"),
		netip.MustParsePrefix("198.18.0.0/15"),
		netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("203.0.113.0/24"),
		netip.MustParsePrefix("240.0.0.0/4"),
		netip.MustParsePrefix("100::/64"),
		netip.MustParsePrefix("2001:db8::/32"),
		netip.MustParsePrefix("fec0::/10"),
	}
)

// addrKind says what kind of address a is when it is not a public one,
// such as "loopback" or "private". It returns "" for a public one.
func addrKind(a netip.Addr) string {
	a = a.Unmap()
	switch {
	case a.IsLoopback():
		return "loopback"
	case a.IsUnspecified():
		return "unspecified"
	case a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast():
		return "link-local"
	case a.IsPrivate(), nat64Local.Contains(a):
		return "private"
	case cgnat.Contains(a):
		return "shared (carrier-grade NAT)"
	case a.IsMulticast():
		return "multicast"
	case !a.IsGlobalUnicast():
		return "reserved"
	}
	for _, p := range reserved {
		if p.Contains(a) {
			return "reserved"
		}
	}
	b := a.As16()
	switch {
	case nat64.Contains(a):
		return addrKind(netip.AddrFrom4([4]byte(b[12:16])))
	case sixToFour.Contains(a):
		return addrKind(netip.AddrFrom4([4]byte(b[2:6])))
	}
	return ""
}
