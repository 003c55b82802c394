// Package drover holds the domain of the drover job runner.
// It defines jobs, attempts and workers, with their states and transitions.
// It holds resource arithmetic, validation, error codes and container image
// references. It also holds the wire types of the HTTP API.
//
// It uses only the standard library and imports no other package of
// drover's. Any package may therefore import it.
package drover

// Version is the build's version, set with -ldflags "-X github.com/drover-dev/drover.Version=...".
var Version = "0.1.0-dev"
