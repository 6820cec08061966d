#!/usr/bin/env bash
# Throughput, CPU time per request and p99 latency of plain reverse_proxy
# against sessiontap + reverse_proxy, measured in one run on the same
# machine, in many short alternating rounds: each round runs both sides
# back to back (in alternating order) and yields one CPU ratio and one p99
# difference; the table gives their medians with the range over rounds,
# so that a change of a few percent shows against the machine's noise.
#
# Usage: [STORE=redis [REDIS_DELAY=1ms]] [INSPECTOR=1] [CONNS=n] bench/load.sh [seconds per run] [rounds]
# Defaults: 3 s per run, 10 rounds, 32 connections (enough to saturate
# the proxy: CPU per request); CONNS=1 sends one request at a time, so
# that p99 is a request's own time to last byte, not time in a queue.
# Needs wrk (apt-get install -y wrk).
# Prints a Markdown table for BENCHMARKS.md.
#
# STORE=redis puts sessiontap's sessions in a redis-server of the script's
# own (no persistence, a free loopback port) instead of bigcache; the
# sessiontap side's CPU time then includes the redis-server's, since the
# work moved there is still work the node's machine does. REDIS_DELAY
# puts a proxy between sessiontap and that Redis that holds each chunk
# for the given time each way (REDIS_DELAY=1ms: Redis 2 ms away); the
# proxy's own CPU is not counted. INSPECTOR=1 (bigcache only) turns on the
# inspector, so every change also goes to its live feed.
#
# Pinning: with two or more cores, wrk runs on the last core and the
# servers (shop, both proxies, Redis) on the others, so that the load
# generator does not take CPU from the side it measures.
set -euo pipefail
cd "$(dirname "$0")/.."
# Go: the toolchain that go.mod's toolchain line names, whatever Go is on
# PATH; the go command downloads it through the module proxy the first time.
export GOTOOLCHAIN=go1.27.3
secs=${1:-3}
rounds=${2:-10}
conns=${CONNS:-32}

command -v wrk >/dev/null || { echo "load.sh: wrk is not installed (apt-get install -y wrk)" >&2; exit 1; }

# Three processes: the shop, plain reverse_proxy, sessiontap +
# reverse_proxy. Each side's CPU time is then its own, with no garbage
# collection or scheduler work of the other side charged to it.
# shellcheck source=bench/common.sh
source bench/common.sh
store=${STORE:-bigcache}
subject=sessiontap
redis_pid=
if [[ $store == redis ]]; then
	start_redis /tmp/sessiontap-bench-redis.log
	if [[ -n ${REDIS_DELAY:-} ]]; then
		far=$(free_port)
		go build -o "${bin%/caddy}/delayproxy" ./internal/benchtool/delayproxy
		"${pin_servers[@]}" "${bin%/caddy}/delayproxy" -listen "127.0.0.1:$far" -target "$SESSIONTAP_BENCH_REDIS" -delay "$REDIS_DELAY" >/tmp/sessiontap-bench-delay.log 2>&1 &
		pids+=($!)
		export SESSIONTAP_BENCH_REDIS=127.0.0.1:$far
		sleep 0.3
	fi
	subject=sessiontap-redis
elif [[ ${INSPECTOR:-} == 1 ]]; then
	subject=sessiontap-inspector
fi
for role in upstream plain "$subject"; do
	"${pin_servers[@]}" "$bin" run --config "bench/$role.Caddyfile" >"/tmp/sessiontap-bench-$role.log" 2>&1 &
	pids+=($!)
done
plain_pid=${pids[-2]} sessiontap_pid=${pids[-1]}
for port in 9181 9182 9183; do
	for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$port/asset.css" && break; sleep 0.1; done
done

# A returning visitor: the same session cookie on every request, so the
# sessiontap side pays for identity and, on the page, capture and store.
# Our cookie is "<id>.<issue day in base 36>"; today's day means no re-set.
day=$(( $(date +%s) / 86400 ))
b36() { local n=$1 s="" d=0123456789abcdefghijklmnopqrstuvwxyz; while [ "$n" -gt 0 ]; do s=${d:$((n % 36)):1}$s; n=$((n / 36)); done; echo "${s:-0}"; }
cookie="sessiontap_id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=').$(b36 $day)"

# cpu PID: a process's CPU time so far, in clock ticks (user + system);
# for the sessiontap side with STORE=redis, plus the redis-server's.
cpu() {
	local t
	t=$(awk '{print $14 + $15}' "/proc/$1/stat")
	if [[ $1 == "$sessiontap_pid" && -n $redis_pid ]]; then
		t=$((t + $(awk '{print $14 + $15}' "/proc/$redis_pid/stat")))
	fi
	echo "$t"
}
tick_us=$(echo "1000000 / $(getconf CLK_TCK)" | bc -l)

# run PORT PATH -> "requests/s p99_ms cpu_us_per_request": the proxy's CPU
# time over the run, per request (the shop's and wrk's are not in it).
run() {
	local pid=$plain_pid before after out
	[[ $1 == 9183 ]] && pid=$sessiontap_pid
	before=$(cpu "$pid")
	out=$("${pin_wrk[@]}" wrk -t$((conns < 2 ? 1 : 2)) -c$conns -d"${secs}s" --latency -H "Cookie: $cookie" -H "Accept-Encoding: identity" "http://127.0.0.1:$1$2")
	after=$(cpu "$pid")
	awk -v ticks=$((after - before)) -v tick_us="$tick_us" '
		/requests in/ {n=$1}
		/Requests\/sec/ {rps=$2}
		/^ +99%/ {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000} p99=v}
		END {printf "%s %s %.2f\n", rps, p99, ticks * tick_us / n}' <<<"$out"
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
range_of() { printf '%s\n' "$@" | sort -g | awk 'NR==1 {lo=$1} {hi=$1} END {print lo "–" hi}'; }

echo "Store: $store${REDIS_DELAY:+, Redis $REDIS_DELAY away each way}${INSPECTOR:+, inspector on}; $rounds rounds of ${secs}s per side, $conns connections"
echo
echo "| case | plain req/s | sessiontap req/s | plain CPU µs/req | sessiontap CPU µs/req | CPU ratio, median (range) | plain p99 ms | sessiontap p99 ms | p99 difference ms, median (range) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for case in "static asset:/asset.css" "7 KiB tagged page:/page-7k.html" "7 KiB tagged page, per-request token:/page-7k-nonce.html"; do
	name=${case%%:*}
	path=${case#*:}
	run 9182 "$path" >/dev/null # warm up both
	run 9183 "$path" >/dev/null
	prps_l=() srps_l=() pcpu_l=() scpu_l=() ratio_l=() pp99_l=() sp99_l=() diff_l=()
	for r in $(seq "$rounds"); do
		# Alternate the order so neither side always runs on a warmer machine.
		if ((r % 2)); then
			read -r prps pp99 pcpu < <(run 9182 "$path")
			read -r srps sp99 scpu < <(run 9183 "$path")
		else
			read -r srps sp99 scpu < <(run 9183 "$path")
			read -r prps pp99 pcpu < <(run 9182 "$path")
		fi
		prps_l+=("$prps") srps_l+=("$srps") pcpu_l+=("$pcpu") scpu_l+=("$scpu") pp99_l+=("$pp99") sp99_l+=("$sp99")
		ratio_l+=("$(echo "scale=3; $scpu / $pcpu" | bc -l)")
		diff_l+=("$(echo "scale=2; $sp99 - $pp99" | bc -l)")
	done
	echo "| $name | $(median "${prps_l[@]}") | $(median "${srps_l[@]}") | $(median "${pcpu_l[@]}") | $(median "${scpu_l[@]}") | **$(median "${ratio_l[@]}")** ($(range_of "${ratio_l[@]}")) | $(median "${pp99_l[@]}") | $(median "${sp99_l[@]}") | $(median "${diff_l[@]}") ($(range_of "${diff_l[@]}")) |"
done
