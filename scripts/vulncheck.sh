#!/usr/bin/env bash
# govulncheck on this module, against a Go vulnerability database that is
# built here from the golang.org/x/vulndb Go module, so that nothing but the
# Go module proxy is needed (the hosted database is not reachable from
# every machine that runs this).
#
#   1. golang.org/x/vulndb at VULNDB_VERSION (default: latest) comes through
#      the module proxy; its data/osv/ holds every report as OSV JSON.
#   2. vulndb's own cmd/gendb (built once, at gendb_version below) writes
#      the v1 database that govulncheck reads. gendb takes the entries and
#      their dates from a git repository, so data/osv/ is committed into a
#      throwaway one, dated at the vulndb version's time: every entry's
#      "published" and "modified" is that time. govulncheck does not use them
#      to match.
#   3. govulncheck (govulncheck_version below), built with the Go that
#      builds the module: it type-checks the standard library and the
#      dependencies with its own go/types, which must know their language.
#   4. govulncheck -db file://… ./...: the module's packages, tests left out.
#
# The database and both tools are kept under the cache directory
# ($SESSIONTAP_VULN_CACHE, or sessiontap-vulncheck in the user's cache
# directory); a run whose vulndb version is already there builds nothing.
# Only the newest database is kept.
#
# Usage: scripts/vulncheck.sh [govulncheck arguments]
#   With no arguments: govulncheck ./...
# Exit status: govulncheck's: 0 when no vulnerability is reachable from
# our code, 3 when one is; anything else is a failure to check.
set -euo pipefail
cd "$(dirname "$0")/.."
# Go: the toolchain that go.mod's toolchain line names, whatever Go is on
# PATH; the go command downloads it through the module proxy the first time.
export GOTOOLCHAIN=go1.27.3

gendb_version=v0.0.0-20261105234957-e22db6528018
govulncheck_version=v1.10.0
vulndb_version=${VULNDB_VERSION:-latest}
cache=${SESSIONTAP_VULN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sessiontap-vulncheck}

say() { echo "vulncheck: $*" >&2; }
fail() {
	say "FAIL: $*"
	exit 1
}
# bounded SECONDS COMMAND...: no step may hang CI.
bounded() {
	local secs=$1
	shift
	timeout --kill-after=10 "$secs" "$@"
}

command -v git >/dev/null || fail "git is missing (gendb reads the reports from a git repository)"
mkdir -p "$cache/bin"
goroot=$(go env GOROOT) || fail "cannot get Go toolchain $GOTOOLCHAIN"
# golang.org/x/tools loads the standard library with the language version
# of the go on PATH, asked with GO111MODULE=off, which ignores GOTOOLCHAIN:
# put the toolchain's own go first, or go1.27 code in the standard library
# fails to type-check.
export PATH=$goroot/bin:$PATH
[[ $(go env GOVERSION) == "$GOTOOLCHAIN" ]] || fail "go on PATH is $(go env GOVERSION), not $GOTOOLCHAIN"

scratch=$(mktemp -d "${TMPDIR:-/tmp}/sessiontap-vulncheck.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

# mod_download MODULE@VERSION: download it through the module proxy, print
# its version, directory and .info file, one a line.
mod_download() {
	local json
	json=$(cd "$scratch" && bounded 600 go mod download -json "$1") || {
		echo "$json" >&2
		return 1
	}
	sed -n 's/^\t"\(Version\|Dir\|Info\)": "\(.*\)",$/\2/p' <<<"$json"
}

{ read -r version && read -r info && read -r vulndb_dir; } < <(mod_download "golang.org/x/vulndb@$vulndb_version") ||
	fail "cannot download golang.org/x/vulndb@$vulndb_version"
[[ -d $vulndb_dir/data/osv ]] || fail "golang.org/x/vulndb@$version has no data/osv"
db=$cache/db-$version

if [[ ! -f $db/index/db.json ]]; then
	gendb=$cache/bin/gendb-$gendb_version
	if [[ ! -x $gendb ]]; then
		say "building gendb from golang.org/x/vulndb@$gendb_version"
		(cd "$scratch" && GOBIN=$scratch/bin bounded 900 go install "golang.org/x/vulndb/cmd/gendb@$gendb_version") ||
			fail "cannot build gendb"
		mv "$scratch/bin/gendb" "$gendb"
	fi

	say "generating the database from golang.org/x/vulndb@$version"
	# The commit is dated at the version's time, as the proxy gives it.
	date=$(sed -n 's/.*"Time": *"\([^"]*\)".*/\1/p' "$info")
	[[ -n $date ]] || fail "no time in $info"
	repo=$scratch/vulndb
	mkdir -p "$repo/data"
	cp -R "$vulndb_dir/data/osv" "$repo/data/"
	chmod -R u+w "$repo"
	(
		cd "$repo"
		git init -q
		git add data/osv
		GIT_AUTHOR_DATE=$date GIT_COMMITTER_DATE=$date \
			git -c user.name=vulncheck -c user.email=vulncheck@localhost -c commit.gpgsign=false \
			commit -q -m "golang.org/x/vulndb@$version data/osv"
	) || fail "cannot commit the reports into a scratch git repository"
	bounded 600 "$gendb" -repo "$repo" -out "$scratch/db" >"$scratch/gendb.log" 2>&1 || {
		cat "$scratch/gendb.log" >&2
		fail "gendb failed"
	}
	[[ -f $scratch/db/index/db.json ]] || fail "gendb wrote no index/db.json"
	# Into place in one rename, so a concurrent run sees all or nothing.
	mv "$scratch/db" "$scratch/db-$version"
	mv -T "$scratch/db-$version" "$db" 2>/dev/null || [[ -f $db/index/db.json ]] ||
		fail "cannot move the database to $db"
	for old in "$cache"/db-*; do
		[[ $old == "$db" ]] || rm -rf "$old"
	done
fi
say "database $db ($(ls "$db/ID" | grep -c '\.json$') entries, golang.org/x/vulndb@$version)"

govulncheck=$cache/bin/govulncheck-$govulncheck_version-$GOTOOLCHAIN
if [[ ! -x $govulncheck ]]; then
	say "building govulncheck $govulncheck_version with $GOTOOLCHAIN"
	(cd "$scratch" && GOBIN=$scratch/bin bounded 900 go install "golang.org/x/vuln/cmd/govulncheck@$govulncheck_version") ||
		fail "cannot build govulncheck"
	mv "$scratch/bin/govulncheck" "$govulncheck"
fi

if [[ $# -eq 0 ]]; then
	set -- ./...
fi
say "govulncheck -db file://$db $*"
status=0
bounded 1200 "$govulncheck" -db "file://$db" "$@" || status=$?
case $status in
0) say "OK: no vulnerability reachable from this module's code" ;;
3) say "FAIL: vulnerabilities reachable from this module's code (above)" ;;
*) say "FAIL: govulncheck could not check (exit status $status)" ;;
esac
exit "$status"
