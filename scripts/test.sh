#!/usr/bin/env bash
# test.sh installs what drover's tests need on a fresh Debian machine and runs
# them all: formatting, vet, and `go test -race` on every package (real
# processes, real SQLite, real Docker engine, real HTTP over loopback).
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

say "go test -race"
export CI="${CI:-}"
go test -race -count=1 -timeout 12m "$@" ./...
