// Package drover holds the domain of the drover job runner: jobs, attempts and
// workers, their states and transitions, resource arithmetic, validation, error
// codes and the wire types of the HTTP API. It uses only the standard library;
// every other package points here.
package drover

// Version is the build's version, set with -ldflags "-X github.com/drover-dev/drover.Version=...".
var Version = "0.1.0-dev"
