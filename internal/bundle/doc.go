// Package bundle owns job bundles: the ZIP archives of files a job needs.
//
// A bundle is content-addressed by the SHA-256 of its ZIP bytes. The
// coordinator calls [Inspect] when a bundle is uploaded, refusing hostile or
// oversized archives with a message that names the offending entry; workers
// call [Extract] to unpack a bundle into a fresh workspace for each attempt,
// applying the same checks again because a worker trusts nothing it
// downloads. [Zip] builds a bundle from a folder for the CLI, deterministically,
// so the same folder gives the same hash.
//
// What a bundle may hold is deliberately narrow: regular files and
// directories with relative, forward-slash paths. Symbolic links, devices,
// pipes and sockets are refused, as are absolute paths, Windows drive and
// backslash paths, paths that climb out with "..", duplicate paths and
// archives over the [Limits]. Errors about an archive are *drover.Error
// values: drover.ETOOLARGE for the size limits, drover.EINVALID for
// everything hostile or broken.
package bundle
