#!/usr/bin/env bash
# test.sh installs what drover's tests need on a fresh Debian machine and runs
# them all: formatting, vet, and `go test -race -cover` on every package
# (real processes, real SQLite, real Docker engine, real HTTP over loopback).
# It then prints the statement coverage of the unit and end-to-end tests
# together: one line per package and a total. The end-to-end tests build
# the drover binary they run with coverage, and its processes write their
# counts to the same folder as the test binaries.
#
# With CI=true a missing prerequisite fails the run; nothing is skipped.
#
# Usage: scripts/test.sh [go test flags...]   e.g. scripts/test.sh -run TestRun -v
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n== %s\n' "$*"; }

need_pkgs=()
command -v busybox >/dev/null 2>&1 || need_pkgs+=(busybox-static)
command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium) # the web UI's browser tests
if ((${#need_pkgs[@]})); then
	say "installing ${need_pkgs[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

say "test images"
scripts/test-images.sh

say "gofmt"
bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [[ -n "$bad" ]]; then
	echo "gofmt would change:"; echo "$bad"; exit 1
fi

say "go vet"
go vet ./...

say "go test -race -cover"
export CI="${CI:-}"
cover=$(mktemp -d "${TMPDIR:-/tmp}/drover-cover.XXXXXX")
trap 'rm -rf "$cover"' EXIT
go test -race -cover -count=1 -timeout 12m "$@" ./... -args -test.gocoverdir="$cover"

say "coverage of unit and end-to-end tests together"
module=$(go list -m)
go tool covdata percent -i="$cover" |
	awk -v m="$module" '{
		# A package with no statements has no coverage, nor an end of line.
		for (i = 1; i < NF; i++) if ($(i + 1) == "coverage:" && $(i + 2) ~ /%$/) {
			p = $i; if (index(p, m) == 1) p = substr(p, length(m) + 2)
			printf "%-28s %s\n", (p == "" ? "." : p), $(i + 2)
		}
	}' |
	sort
go tool covdata textfmt -i="$cover" -o "$cover/profile.txt"
go tool cover -func="$cover/profile.txt" | awk '$1 == "total:" { printf "%-28s %s\n", "total", $3 }'
