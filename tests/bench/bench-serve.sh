#!/usr/bin/env bash
# Certificates per second and latency percentiles for `fulcrum serve
# --ca ephemeralca` without CT, driven by wrk on the same machine.
# Usage: tests/bench/bench-serve.sh [BUILD_DIR] [SECONDS] [CONNECTIONS...]
# Use a release build (meson setup build --buildtype=release). Prints one
# line per connection count.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/tests/bench/bench-lib.sh"
build=${1:-$root/build}
secs=${2:-10}
shift 2 2>/dev/null || shift $#
conns=("${@:-16 64 256}")
[ ${#conns[@]} -eq 1 ] && read -r -a conns <<<"${conns[0]}"
command -v wrk >/dev/null || { echo "bench-serve: wrk is not installed (apt-get install wrk)"; exit 1; }

tmp=$(mktemp -d /tmp/fulcrum-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT

"$build/tests/test-issuer" --port-file "$tmp/idp.port" >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$tmp/idp.port" ] && break; sleep 0.05; done
idp="http://127.0.0.1:$(cat "$tmp/idp.port")"
printf '{"OIDCIssuers":{"%s":{"IssuerURL":"%s","ClientID":"sigstore","Type":"email"}}}' "$idp" "$idp" >"$tmp/config.json"
"$build/cmd/fulcrum" serve --ca ephemeralca --config-path "$tmp/config.json" --host 127.0.0.1 --port 0 \
  --port-file "$tmp/ca.port" --metrics-port 0 --ct-log-url "" >"$tmp/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$tmp/ca.port" ] && break; sleep 0.05; done
ca="http://127.0.0.1:$(cat "$tmp/ca.port")"

# One token and one key for every request (see bench-lib.sh).
bench_signing_request "$idp" "$tmp" || { echo "bench-serve: cannot prepare the request"; exit 1; }
echo "fulcrum serve, ephemeralca P-256, no CT, ES256 tokens, P-256 PoP; wrk on the same $(nproc)-core machine, ${secs}s per run"
for c in "${conns[@]}"; do
  out=$(wrk -t2 -c"$c" -d"${secs}s" --latency -s "$tmp/post.lua" "$ca/api/v2/signingCert")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errs=$(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr -s ' ' | tr '\n' ' ' || true)
  echo "connections=$c certs_per_s=$rps p50=$p50 p99=$p99 ${errs:+errors: $errs}"
done
