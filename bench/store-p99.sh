#!/usr/bin/env bash
# How long the Redis store's calls take under load: the number a store
# timeout must stay above. Loads sessiontap (Redis store, a redis-server of
# the script's own) with wrk on the tagged page for the given seconds, with
# the given connections, then prints the quantiles of
# caddy_sessiontap_store_duration_seconds per operation, read from the
# histogram's buckets (a quantile is the bucket bound it falls under).
#
# Usage: bench/store-p99.sh [seconds] [connections]   (defaults: 20, 32)
# Needs wrk, redis-server and curl. Pins wrk to the last core, the rest to
# the others, as bench/load.sh does.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=go1.27.3
secs=${1:-20}
conns=${2:-32}
# shellcheck source=bench/common.sh
source bench/common.sh
start_redis /tmp/sessiontap-p99-redis.log
for role in upstream store-p99; do
	"${pin_servers[@]}" "$bin" run --config "bench/$role.Caddyfile" >"/tmp/sessiontap-p99-$role.log" 2>&1 &
	pids+=($!)
done
for _ in $(seq 50); do curl -sf -o /dev/null http://127.0.0.1:9183/asset.css && break; sleep 0.1; done
# Many visitors: a fresh session on every connection's first request,
# then its cookie (wrk keeps none: each request is a new visitor, which
# is the write-heaviest case: a read that misses, then a create).
"${pin_wrk[@]}" wrk -t2 -c"$conns" -d"${secs}s" -H "Accept-Encoding: identity" http://127.0.0.1:9183/page-7k.html | grep -E 'Requests/sec'
curl -s http://127.0.0.1:9184/metrics > /tmp/sessiontap-p99-metrics.txt
grep -E "^caddy_sessiontap_store_errors_total" /tmp/sessiontap-p99-metrics.txt || echo "no store errors"
awk '
	/^caddy_sessiontap_store_duration_seconds_bucket/ {
		match($0, /op="[a-z]+"/); op = substr($0, RSTART + 4, RLENGTH - 5)
		match($0, /le="[^"]+"/); le = substr($0, RSTART + 4, RLENGTH - 5)
		n[op]++; bound[op, n[op]] = le; count[op, n[op]] = $2
	}
	END {
		for (op in n) {
			total = count[op, n[op]]
			if (total == 0) continue
			line = sprintf("%-7s %8d calls:", op, total)
			split("0.5 0.99 0.999", qs, " ")
			for (i = 1; i <= 3; i++) {
				for (j = 1; j <= n[op]; j++) if (count[op, j] >= qs[i] * total) break
				line = line sprintf("  p%s <= %s s", qs[i] * 100, bound[op, j])
			}
			print line
		}
	}' /tmp/sessiontap-p99-metrics.txt
