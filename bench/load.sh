#!/usr/bin/env bash
# Throughput, CPU time per request and p99 latency of plain reverse_proxy
# against sessiontap + reverse_proxy, measured in one run on the same
# machine, in alternating rounds.
#
# Usage: [STORE=redis] [INSPECTOR=1] bench/load.sh [seconds per run] [rounds]
# Needs wrk (apt-get install -y wrk). Prints a Markdown table for BENCHMARKS.md.
#
# STORE=redis puts sessiontap's sessions in a redis-server of the script's
# own (no persistence, a free loopback port) instead of bigcache; the
# sessiontap side's CPU time then includes the redis-server's, since the
# work moved there is still work the node's machine does. INSPECTOR=1
# (bigcache only) turns on the inspector, so every change also goes to its
# live feed.
set -euo pipefail
cd "$(dirname "$0")/.."
# Go: the toolchain that go.mod's toolchain line names, whatever Go is on
# PATH; the go command downloads it through the module proxy the first time.
export GOTOOLCHAIN=go1.27.3
secs=${1:-10}
rounds=${2:-3}
conns=32

command -v wrk >/dev/null || { echo "load.sh: wrk is not installed (apt-get install -y wrk)" >&2; exit 1; }

# Three processes: the shop, plain reverse_proxy, sessiontap +
# reverse_proxy. Each side's CPU time is then its own, with no garbage
# collection or scheduler work of the other side charged to it.
bin=$(mktemp -d)/caddy
go build -o "$bin" ./cmd/caddy
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null || true' EXIT
store=${STORE:-bigcache}
subject=sessiontap
redis_pid=
if [[ $store == redis ]]; then
	command -v redis-server >/dev/null || { echo "load.sh: redis-server is not installed (apt-get install -y redis-server)" >&2; exit 1; }
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no >/tmp/sessiontap-bench-redis.log 2>&1 &
	redis_pid=$!
	pids+=("$redis_pid")
	export SESSIONTAP_BENCH_REDIS=127.0.0.1:$port
	for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
	subject=sessiontap-redis
elif [[ ${INSPECTOR:-} == 1 ]]; then
	subject=sessiontap-inspector
fi
for role in upstream plain "$subject"; do
	"$bin" run --config "bench/$role.Caddyfile" >"/tmp/sessiontap-bench-$role.log" 2>&1 &
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
	out=$(wrk -t2 -c$conns -d"${secs}s" --latency -H "Cookie: $cookie" -H "Accept-Encoding: identity" "http://127.0.0.1:$1$2")
	after=$(cpu "$pid")
	awk -v ticks=$((after - before)) -v tick_us="$tick_us" '
		/requests in/ {n=$1}
		/Requests\/sec/ {rps=$2}
		/^ +99%/ {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000} p99=v}
		END {printf "%s %s %.2f\n", rps, p99, ticks * tick_us / n}' <<<"$out"
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "Store: $store${INSPECTOR:+, inspector on}"
echo
echo "| case | plain req/s | sessiontap req/s | throughput ratio | plain CPU µs/req | sessiontap CPU µs/req | CPU ratio | plain p99 ms | sessiontap p99 ms |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for case in "static asset:/asset.css" "7 KiB tagged page:/page-7k.html" "7 KiB tagged page, per-request token:/page-7k-nonce.html"; do
	name=${case%%:*}
	path=${case#*:}
	run 9182 "$path" >/dev/null # warm up both
	run 9183 "$path" >/dev/null
	p_sum=0 s_sum=0 p_cpu=0 s_cpu=0 p_p99=() s_p99=()
	for r in $(seq "$rounds"); do
		# Alternate the order so neither side always runs on a warmer machine.
		if ((r % 2)); then
			read -r prps pp99 pcpu < <(run 9182 "$path")
			read -r srps sp99 scpu < <(run 9183 "$path")
		else
			read -r srps sp99 scpu < <(run 9183 "$path")
			read -r prps pp99 pcpu < <(run 9182 "$path")
		fi
		p_sum=$(echo "$p_sum + $prps" | bc -l)
		s_sum=$(echo "$s_sum + $srps" | bc -l)
		p_cpu=$(echo "$p_cpu + $pcpu" | bc -l)
		s_cpu=$(echo "$s_cpu + $scpu" | bc -l)
		p_p99+=("$pp99")
		s_p99+=("$sp99")
	done
	ratio=$(echo "scale=3; $s_sum / $p_sum" | bc -l)
	cpu_ratio=$(echo "scale=3; $s_cpu / $p_cpu" | bc -l)
	pavg=$(echo "scale=0; $p_sum / $rounds" | bc -l)
	savg=$(echo "scale=0; $s_sum / $rounds" | bc -l)
	pcpu=$(echo "scale=1; $p_cpu / $rounds" | bc -l)
	scpu=$(echo "scale=1; $s_cpu / $rounds" | bc -l)
	echo "| $name | $pavg | $savg | $ratio | $pcpu | $scpu | $cpu_ratio | $(median "${p_p99[@]}") | $(median "${s_p99[@]}") |"
done
