#!/usr/bin/env bash
# Check that Caddy builds with this module the way a user builds it, and that
# the binary has every sessiontap module, runs Caddyfile.example and was
# built by the Go that GOTOOLCHAIN below names:
#
#   1. with the real xcaddy, exactly as README.md and xcaddy.md say
#      (xcaddy build <caddy version> --with github.com/sessiontap/caddy-sessiontap=.),
#      installing xcaddy with `go install` when it is missing;
#   2. with scripts/xcaddy-build.sh, the plain-Go fallback.
#
# Usage: scripts/check-xcaddy-build.sh
set -euo pipefail
# Go: the toolchain that go.mod's toolchain line names, whatever Go is on
# PATH; the go command downloads it through the module proxy the first time.
# xcaddy runs the go on PATH, which honours GOTOOLCHAIN.
export GOTOOLCHAIN=go1.27.3

xcaddy_version=v0.4.5
module=github.com/sessiontap/caddy-sessiontap
want=(http.handlers.sessiontap http.handlers.sessiontap_api sessiontap.stores.bigcache sessiontap.stores.redis admin.api.sessiontap)
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$repo"

fail() { echo "check-xcaddy-build: FAIL: $*" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sessiontap-check.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# check BINARY HOW: the modules are there and the demo config adapts.
check() {
	local bin=$1 how=$2 modules
	modules=$("$bin" list-modules) || fail "$how: '$bin list-modules' failed"
	for m in "${want[@]}"; do
		grep -qxF "$m" <<<"$modules" || fail "$how: module $m is not in the built binary"
	done
	"$bin" adapt --config Caddyfile.example >/dev/null || fail "$how: Caddyfile.example does not adapt"
	"$bin" validate --config Caddyfile.example >/dev/null 2>&1 ||
		fail "$how: Caddyfile.example does not validate"
	# The fleet example needs a running Redis to validate; it must adapt.
	"$bin" adapt --config demo/fleet.Caddyfile >/dev/null || fail "$how: demo/fleet.Caddyfile does not adapt"
	# The standard library in the binary is that of the Go that built it.
	built_with=$(go version "$bin") || fail "$how: go version $bin failed"
	built_with=${built_with##* }
	[[ $built_with == "$GOTOOLCHAIN" ]] || fail "$how: built with $built_with, not $GOTOOLCHAIN"
	echo "check-xcaddy-build: OK ($how): ${want[*]} registered, $("$bin" version | cut -d' ' -f1), $built_with"
}

caddy_version=$(go list -m -f '{{.Version}}' github.com/caddyserver/caddy/v2)

xcaddy=$(command -v xcaddy || true)
if [[ -z $xcaddy ]]; then
	gobin=$(go env GOBIN)
	xcaddy=${gobin:-$(go env GOPATH)/bin}/xcaddy
	[[ -x $xcaddy ]] || go install "github.com/caddyserver/xcaddy/cmd/xcaddy@$xcaddy_version" ||
		fail "cannot install xcaddy $xcaddy_version with go install"
fi

# Our module path is not published where this machine looks it up, so Go
# must fall back to the replacement (=.). It does that only when a lookup
# says "not found"; a proxy that answers otherwise (403) or a direct VCS
# fetch that cannot connect stops it. "|off" turns any failed lookup into
# "not found"; every other module still comes from the proxy or the cache.
proxy=$(go env GOPROXY)
proxy=${proxy%,direct}
proxy=${proxy%|direct}

# The README's command, in the checkout, writing ./caddy (gitignored).
if [[ -e caddy ]]; then mv caddy "$tmp/caddy.before"; fi
restore() { if [[ -e $tmp/caddy.before ]]; then mv -f "$tmp/caddy.before" caddy; else rm -f caddy; fi; }
if ! GOPROXY="$proxy|off" "$xcaddy" build "$caddy_version" --with "$module=." >"$tmp/xcaddy.log" 2>&1; then
	tail -30 "$tmp/xcaddy.log" >&2
	restore
	fail "xcaddy build $caddy_version --with $module=. failed"
fi
mv caddy "$tmp/caddy-xcaddy"
restore
check "$tmp/caddy-xcaddy" "xcaddy $xcaddy_version"

"$repo/scripts/xcaddy-build.sh" "$tmp/caddy-plain" || fail "scripts/xcaddy-build.sh failed"
check "$tmp/caddy-plain" "scripts/xcaddy-build.sh"
