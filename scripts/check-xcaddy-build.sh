#!/usr/bin/env bash
# Check that Caddy builds with this module the xcaddy way and that the
# resulting binary has the sessiontap handler registered.
#
# Usage: scripts/check-xcaddy-build.sh
set -euo pipefail

want=http.handlers.sessiontap
scripts=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sessiontap-check.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
bin=$tmp/caddy

if ! "$scripts/xcaddy-build.sh" "$bin"; then
	echo "check-xcaddy-build: FAIL: building Caddy with the sessiontap module failed" >&2
	exit 1
fi

if ! modules=$("$bin" list-modules); then
	echo "check-xcaddy-build: FAIL: '$bin list-modules' failed" >&2
	exit 1
fi

if ! grep -qxF "$want" <<<"$modules"; then
	echo "check-xcaddy-build: FAIL: module $want is not registered in the built binary" >&2
	echo "check-xcaddy-build: modules containing 'sessiontap':" >&2
	grep -F sessiontap <<<"$modules" >&2 || echo "  (none)" >&2
	exit 1
fi

# The demo config adapts and validates with the built binary.
repo=$(cd "$scripts/.." && pwd -P)
if ! (cd "$repo" && "$bin" adapt --config Caddyfile.example >/dev/null && "$bin" validate --config Caddyfile.example); then
	echo "check-xcaddy-build: FAIL: Caddyfile.example does not adapt or validate" >&2
	exit 1
fi

echo "check-xcaddy-build: OK: $want is registered ($("$bin" version))"
