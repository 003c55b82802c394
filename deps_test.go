package drover_test

import (
	"go/build"
	"strings"
	"testing"
)

// The domain uses only the standard library.
// Every other package may then import it, and it imports none of them.
func TestDomainImportsOnlyTheStandardLibrary(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkg.Imports) == 0 {
		t.Fatal("found no imports: the test reads the wrong folder")
	}
	for _, path := range pkg.Imports {
		// Only paths outside the standard library have a dot in their
		// first element, as in github.com/drover-dev/drover.
		if first, _, _ := strings.Cut(path, "/"); strings.Contains(first, ".") {
			t.Errorf("the root package imports %s: it must use the standard library only", path)
		}
	}
}
