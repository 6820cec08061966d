# What bench/load.sh and bench/store-p99.sh share; sourced, not run.
#
# After sourcing: $bin is a Caddy built from ./cmd/caddy; pin_servers and
# pin_wrk are taskset prefixes (wrk on the last core, the servers on the
# others, when there are two or more); pids are stopped at exit;
# start_redis LOG starts a redis-server of our own (no persistence, a
# free loopback port), sets redis_pid and exports SESSIONTAP_BENCH_REDIS.

bin=$(mktemp -d)/caddy
go build -o "$bin" ./cmd/caddy
cores=$(nproc)
pin_servers=() pin_wrk=()
if ((cores >= 2)); then
	pin_servers=(taskset -c "0-$((cores - 2))")
	pin_wrk=(taskset -c "$((cores - 1))")
fi
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null || true' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

start_redis() {
	command -v redis-server >/dev/null || { echo "bench: redis-server is not installed (apt-get install -y redis-server)" >&2; exit 1; }
	local port
	port=$(free_port)
	"${pin_servers[@]}" redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no >"$1" 2>&1 &
	redis_pid=$!
	pids+=("$redis_pid")
	export SESSIONTAP_BENCH_REDIS=127.0.0.1:$port
	for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
}
