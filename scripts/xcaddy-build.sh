#!/usr/bin/env bash
# Build a Caddy binary with the sessiontap module from this checkout, with
# plain `go`. It does what
#
#     xcaddy build --with github.com/sessiontap/caddy-sessiontap=.
#
# does, for machines without xcaddy:
#
#   1. make an empty module in a temporary directory with a main.go that
#      imports Caddy, its standard modules and this module's root package
#      (which registers every sessiontap module, as xcaddy's --with does);
#   2. require our module and replace it with this checkout;
#   3. pin Caddy to the version in this repository's go.mod;
#   4. go mod tidy, then go build.
#
# Usage: scripts/xcaddy-build.sh [OUTPUT]
#   OUTPUT defaults to ./caddy-sessiontap in the repository root (gitignored).
# Environment: GOOS, GOARCH, CGO_ENABLED, GOFLAGS etc. are passed to go as usual;
# GOTOOLCHAIN is set here (see below).
set -euo pipefail
# Go: the toolchain that go.mod's toolchain line names, whatever Go is on
# PATH; the go command downloads it through the module proxy the first time.
# The temporary module below has no toolchain line of its own, so without
# this the Go on PATH would build the binary, whatever its version.
export GOTOOLCHAIN=go1.27.3

module=github.com/sessiontap/caddy-sessiontap
caddy_module=github.com/caddyserver/caddy/v2

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)

output=${1:-$repo/caddy-sessiontap}
# Make the output path absolute: go build runs in the temporary directory.
case $output in
/*) ;;
*) output=$PWD/$output ;;
esac
mkdir -p "$(dirname "$output")"

# Caddy version: the one this repository is developed and tested against.
caddy_version=$(cd "$repo" && go list -m -f '{{.Version}}' "$caddy_module")
if [[ -z $caddy_version ]]; then
	echo "xcaddy-build: cannot read the $caddy_module version from $repo/go.mod" >&2
	exit 1
fi

workdir=$(mktemp -d "${TMPDIR:-/tmp}/sessiontap-build.XXXXXX")
cleanup() { rm -rf "$workdir"; }
trap cleanup EXIT

cat >"$workdir/main.go" <<GO
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// plug in Caddy modules here
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	_ "$module"
)

func main() {
	caddycmd.Main()
}
GO

echo "xcaddy-build: caddy $caddy_version + $module => $repo" >&2
(
	cd "$workdir"
	# `go mod init` chats on stderr even when it works; show it only on failure.
	if ! out=$(go mod init caddy 2>&1); then
		echo "$out" >&2
		exit 1
	fi
	go mod edit \
		-require="$module@v0.0.0-00010101000000-000000000000" \
		-replace="$module=$repo" \
		-require="$caddy_module@$caddy_version"
	go mod tidy
	go build -o "$output" .
)

echo "xcaddy-build: built $output" >&2
