// Package bundle owns job bundles: the ZIP archives of files a job needs.
//
// A bundle is content-addressed by the SHA-256 of its ZIP bytes. The
// coordinator calls [Inspect] when a bundle is uploaded. Inspect refuses
// hostile or oversized archives with a message that names the entry at
// fault. Workers call [Extract] to unpack a bundle into a fresh workspace
// for each attempt. Extract applies the same checks again, because a
// worker trusts nothing it downloads. [Zip] builds a bundle from a folder
// for the CLI. The same folder always gives the same hash.
//
// What a bundle may hold is deliberately narrow. It holds regular files and
// directories with relative, forward-slash paths. Symbolic links, devices,
// pipes and sockets are refused. So are absolute paths, Windows drive and
// backslash paths, and paths that climb out with "..". So are duplicate
// paths and archives over the [Limits].
//
// Errors about an archive are *drover.Error values. The size limits give
// drover.ETOOLARGE. Everything hostile or broken gives drover.EINVALID.
package bundle
