#!/usr/bin/env bash
# The cost of a rate-limit check: bench_ratelimit in memory, then against a
# redis-server started here on loopback (its own port and directory, always
# stopped): checks per second and the round trip per check, and Redis's
# memory per key. Usage: tests/bench/bench-ratelimit.sh [BUILD_DIR] [SECONDS]
# Use a release build (meson setup build --buildtype=release).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
secs=${2:-2}
bench="$build/tests/bench_ratelimit"
[ -x "$bench" ] || { echo "bench-ratelimit: $bench not built"; exit 1; }
command -v redis-server >/dev/null || { echo "bench-ratelimit: redis-server is not installed"; exit 1; }

tmp=$(mktemp -d /tmp/fulcrum-bench.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }; rm -rf "$tmp"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
redis-server --port "$port" --bind 127.0.0.1 --unixsocket "$tmp/redis.sock" --dir "$tmp" --save "" \
  --appendonly no --daemonize no --logfile "$tmp/redis.log" &
pid=$!
for _ in $(seq 100); do redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break; sleep 0.05; done

echo "load: $(uptime | sed 's/.*load average/load average/'), $(nproc) cores"
"$bench" "$secs"
# A bare round trip for comparison: PING on one connection.
command -v redis-benchmark >/dev/null &&
  echo "redis PING, 1 connection: $(redis-benchmark -p "$port" -c 1 -n 20000 -q -t ping_mbulk | tr '\r' '\n' | grep -o '[0-9.]* requests per second' | tail -1)"
"$bench" "$secs" "redis://127.0.0.1:$port"
"$bench" "$secs" "$tmp/redis.sock"

# Redis's memory per key: 100000 buckets made by the script itself.
redis-cli -p "$port" flushall >/dev/null
m0=$(redis-cli -p "$port" info memory | tr -d '\r' | awk -F: '$1 == "used_memory" {print $2}')
sha=$(redis-cli -p "$port" script load "$("$bench" --script)")
python3 - "$port" "$sha" <<'PY' | redis-cli -p "$port" --pipe >/dev/null
import sys
sha = sys.argv[2]
for i in range(100000):
    key = "fulcrum:rl:%032x" % i
    parts = ["EVALSHA", sha, "1", key, "600000000", "5"]
    sys.stdout.write("*%d\r\n" % len(parts) + "".join("$%d\r\n%s\r\n" % (len(p), p) for p in parts))
PY
m1=$(redis-cli -p "$port" info memory | tr -d '\r' | awk -F: '$1 == "used_memory" {print $2}')
n=$(redis-cli -p "$port" dbsize)
echo "redis memory: $n keys, $(( (m1 - m0) / n )) bytes/key (used_memory, with their expiry)"
