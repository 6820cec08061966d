#!/usr/bin/env bash
# Runs the README's demo (Caddyfile.example, from the repository root) and
# walks it as a visitor would: a product page is captured from its tagging,
# a cart posted to the collect endpoint is stored, and the session API shows
# both from the operators' site. Needs curl and the demo's ports (8080, 8081,
# 8082, 2019) free.
#
# Usage: scripts/check-demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# Go: the toolchain that go.mod's toolchain line names, whatever Go is on
# PATH; the go command downloads it through the module proxy the first time.
export GOTOOLCHAIN=go1.27.3

fail() { echo "check-demo: FAIL: $*" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sessiontap-demo.XXXXXX")
go build -o "$tmp/caddy" ./cmd/caddy
"$tmp/caddy" run --config Caddyfile.example >"$tmp/caddy.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do
	curl -sf -o /dev/null http://localhost:8080/ && break
	kill -0 $pid 2>/dev/null || { cat "$tmp/caddy.log" >&2; fail "Caddy did not start"; }
	sleep 0.1
done

jar=$tmp/cookies
page=$(curl -sf -c "$jar" -H 'Sec-Fetch-Dest: document' http://localhost:8080/product-181510.html) ||
	fail "the product page did not load through sessiontap"
grep -q '<h1>Trail Running Shoes</h1>' <<<"$page" || fail "the product page is not the shop's: $page"
id=$(awk '$6 == "sessiontap_id" {split($7, a, "."); print a[1]}' "$jar")
[ -n "$id" ] || fail "no sessiontap_id cookie was set"

curl -sf -b "$jar" -H 'Content-Type: application/json' http://localhost:8080/_sessiontap/collect \
	-d '{"cart":{"items":[{"product_id":"181510","sku_id":"181512","name":"Trail Running Shoes","quantity":1,"unit_price":89.90,"price_currency_code":"EUR"}]}}' \
	>/dev/null || fail "the collect endpoint refused the demo's cart"

# The shop is handed the session in request headers and shows it.
panel=$(curl -sf -b "$jar" http://localhost:8080/session.html) || fail "the shop's session page did not load"
for want in "id=\"stored-id\">$id<" 'id="stored-cart">1 in the cart<' 'id="stored-total">89.9 EUR<'; do
	grep -qF "$want" <<<"$panel" || fail "the shop's session page lacks $want: $panel"
done

# The shop's origin serves no operator API: the request goes on to the shop.
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer demo-key' "http://localhost:8080/_sessiontap/api/sessions/$id")
[ "$code" = 404 ] || fail "the shop's origin answered the session API with $code"
session=$(curl -sf -H 'Authorization: Bearer demo-key' "http://localhost:8082/_sessiontap/api/sessions/$id") ||
	fail "the session API did not answer for $id"
for want in '"page_type":"product"' '"product_id":"181510"' '"sku_id":"181512"' '"page_views":1'; do
	grep -qF "$want" <<<"$session" || fail "the session lacks $want: $session"
done
echo "check-demo: OK: page tagging and collect reach session $id"
