package drover

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ImageRef is a parsed container image reference.
//
// The grammar is the distribution project's, which Docker uses:
//
//	reference := name [ ":" tag ] [ "@" digest ]
//	name      := [ domain "/" ] path
//	domain    := host [ ":" port ]
//	host      := domain-name | IPv4 address | "[" IPv6 address "]"
//	path      := component [ "/" component ]*
//	component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
//	tag       := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
//	digest    := algorithm ":" hex
//
// A name is at most 255 characters. Its first component is the domain when
// it has a dot or a port, or is localhost. A bare image ID of 64 hex digits
// is a reference too, with or without "sha256:". It names an image on an
// engine and no registry.
//
// One rule is stricter than the grammar. A first component in upper case
// with no dot or port, such as "MyOrg/tool", is refused as a repository
// name in upper case. The grammar would take it for a registry host, which
// is always a mistake.
type ImageRef struct {
	// Domain is the registry's host[:port] as written; "" when the
	// reference names none (Docker Hub).
	Domain string
	Path   string
	Tag    string
	// Digest is "algorithm:hex" when the reference pins one.
	Digest string
	// ID says the reference is an image ID, in Digest.
	ID bool
}

// DockerHub is the registry of references that name none.
const DockerHub = "docker.io"

const (
	maxImageNameLen = 255
	maxTagLen       = 128
	// maxImageRefLen is longer than any valid reference: a name, a tag
	// and a sha512 digest.
	maxImageRefLen = maxImageNameLen + 1 + maxTagLen + 1 + len("sha512:") + 128
)

// digestHexLen is the hex length of each digest algorithm the engine
// knows.
var digestHexLen = map[string]int{"sha256": 64, "sha384": 96, "sha512": 128}

// Registry returns the host[:port] of the registry the image is pulled
// from: Domain, or DockerHub when there is none. An image ID has none:
// Registry returns "".
func (r ImageRef) Registry() string {
	switch {
	case r.ID:
		return ""
	case r.Domain == "":
		return DockerHub
	}
	return r.Domain
}

// ParseImage parses an image reference. Its error says which part is
// wrong and why.
func ParseImage(s string) (ImageRef, error) {
	switch {
	case s == "":
		return ImageRef{}, errors.New("it is empty")
	case len(s) > maxImageRefLen:
		return ImageRef{}, fmt.Errorf("it is %d bytes, longer than any image reference", len(s))
	}
	if hex, ok := strings.CutPrefix(s, "sha256:"); ok && isHex(hex, 64) || isHex(s, 64) {
		return ImageRef{Digest: "sha256:" + strings.TrimPrefix(s, "sha256:"), ID: true}, nil
	}
	var r ImageRef
	name := s
	if i := strings.IndexByte(s, '@'); i >= 0 {
		name, r.Digest = s[:i], s[i+1:]
		if err := checkDigest(r.Digest); err != nil {
			return ImageRef{}, err
		}
	}
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		name, r.Tag = name[:i], name[i+1:]
		if err := checkTag(r.Tag); err != nil {
			return ImageRef{}, err
		}
	}
	if n := len(name); n > maxImageNameLen {
		return ImageRef{}, fmt.Errorf("the name is %d characters; the limit is %d", n, maxImageNameLen)
	}
	r.Path = name
	if i := strings.IndexByte(name, '/'); i >= 0 && isDomain(name[:i]) {
		r.Domain, r.Path = name[:i], name[i+1:]
		if err := checkDomain(r.Domain); err != nil {
			return ImageRef{}, err
		}
	}
	if err := checkPath(r.Path); err != nil {
		return ImageRef{}, err
	}
	return r, nil
}

// isDomain reports whether a reference's first component names a
// registry.
func isDomain(first string) bool {
	return strings.ContainsAny(first, ".:[") || first == "localhost"
}

func checkDomain(d string) error {
	host, port := d, ""
	if strings.HasPrefix(d, "[") {
		end := strings.IndexByte(d, ']')
		if end < 0 {
			return fmt.Errorf("registry %s has no closing ']' after its IPv6 address", Quote(d))
		}
		host, port = d[:end+1], d[end+1:]
		if port != "" && port[0] != ':' {
			return fmt.Errorf("registry %s has %s after its IPv6 address: use [address]:port", Quote(d), Quote(port))
		}
		if a, err := netip.ParseAddr(host[1:end]); err != nil || !a.Is6() || a.Zone() != "" {
			return fmt.Errorf("registry host %s is not an IPv6 address", Quote(host))
		}
	} else if i := strings.IndexByte(d, ':'); i >= 0 {
		host, port = d[:i], d[i:]
	}
	if port != "" && !isPort(port[1:]) {
		return fmt.Errorf("registry port %s must be a number from 1 to 65535", Quote(port[1:]))
	}
	if strings.HasPrefix(host, "[") {
		return nil
	}
	for c := range strings.SplitSeq(host, ".") {
		if !isDomainComponent(c) {
			return fmt.Errorf("registry host %s is not a host name or an address: use letters, digits and inner dashes between dots", Quote(host))
		}
	}
	return nil
}

func isPort(p string) bool {
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}

func isDomainComponent(c string) bool {
	if c == "" || c[0] == '-' || c[len(c)-1] == '-' {
		return false
	}
	for i := 0; i < len(c); i++ {
		if !isAlnum(c[i]) && c[i] != '-' {
			return false
		}
	}
	return true
}

func checkPath(p string) error {
	if p == "" {
		return errors.New("the repository name is empty")
	}
	for c := range strings.SplitSeq(p, "/") {
		if c == "" {
			return fmt.Errorf("repository name %s has an empty component: a leading, trailing or doubled '/'", Quote(p))
		}
		if strings.ToLower(c) != c {
			return fmt.Errorf("repository name %s must be in lower case (only a registry host, with a dot or a port, may have capitals)", Quote(p))
		}
		if !isPathComponent(c) {
			return fmt.Errorf("repository name %s: each part between '/' is lower-case letters and digits, separated by '.', '_', '__' or dashes", Quote(p))
		}
	}
	return nil
}

// isPathComponent reports whether c is alphanumeric runs joined by single
// separators. A separator is ".", "_", "__" or any number of "-".
func isPathComponent(c string) bool {
	i := 0
	for {
		start := i
		for i < len(c) && isLowerAlnum(c[i]) {
			i++
		}
		if i == start {
			return false // empty run: at the start, the end or between separators
		}
		if i == len(c) {
			return true
		}
		switch {
		case strings.HasPrefix(c[i:], "__"):
			i += 2
		case c[i] == '.' || c[i] == '_':
			i++
		case c[i] == '-':
			for i < len(c) && c[i] == '-' {
				i++
			}
		default:
			return false
		}
	}
}

func checkTag(t string) error {
	ok := t != "" && len(t) <= maxTagLen && t[0] != '.' && t[0] != '-'
	for i := 0; ok && i < len(t); i++ {
		ok = isAlnum(t[i]) || t[i] == '_' || t[i] == '.' || t[i] == '-'
	}
	if !ok {
		return fmt.Errorf("tag %s must be 1 to %d letters, digits, '_', '.' or '-', not starting with '.' or '-'", Quote(t), maxTagLen)
	}
	return nil
}

func checkDigest(d string) error {
	alg, hex, _ := strings.Cut(d, ":")
	n, known := digestHexLen[alg]
	if !known || !isHex(hex, n) {
		return fmt.Errorf("digest %s must be sha256: and 64 lower-case hex digits (or sha384: and 96, sha512: and 128)", Quote(d))
	}
	return nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return false
		}
	}
	return true
}

func isLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

func isAlnum(c byte) bool { return isLowerAlnum(c) || c >= 'A' && c <= 'Z' }
