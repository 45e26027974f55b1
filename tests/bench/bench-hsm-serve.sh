#!/usr/bin/env bash
# Certificates per second end to end, fulcrum serve --ca pkcs11ca (SoftHSM2,
# P-256 key in the token) next to --ca fileca (P-256 key in a file), the same
# way as bench-serve.sh: one token and key for every request, wrk on the same
# machine, runs alternated so that outside load hits both alike.
# Usage: tests/bench/bench-hsm-serve.sh [BUILD_DIR] [SECONDS] [CONNECTIONS] [ROUNDS]
# Use a release build (meson setup build --buildtype=release).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/tests/bench/bench-lib.sh"
build=${1:-$root/build}
secs=${2:-5}
conns=${3:-16}
rounds=${4:-3}
module=${FULCRUM_SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
for t in wrk softhsm2-util jq; do command -v $t >/dev/null || { echo "bench-hsm-serve: $t is not installed"; exit 1; }; done

tmp=$(mktemp -d /tmp/fulcrum-bench-hsm.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT

mkdir -p "$tmp/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$tmp/tokens" >"$tmp/softhsm2.conf"
export SOFTHSM2_CONF="$tmp/softhsm2.conf"
softhsm2-util --init-token --free --label bench --so-pin 0000 --pin 1111 >/dev/null
printf '{"Path":"%s","TokenLabel":"bench","Pin":"1111","MaxSessions":16}' "$module" >"$tmp/c11.json"
"$build/cmd/fulcrum" createca --pkcs11-config-path "$tmp/c11.json" --hsm-caroot-id 1 --out "$tmp/p11.pem" >/dev/null 2>&1
"$build/cmd/fulcrum" createca --file --out "$tmp/file.pem" --key-out "$tmp/file.key" >/dev/null 2>&1

"$build/tests/test-issuer" --port-file "$tmp/idp.port" >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$tmp/idp.port" ] && break; sleep 0.05; done
idp="http://127.0.0.1:$(cat "$tmp/idp.port")"
printf '{"OIDCIssuers":{"%s":{"IssuerURL":"%s","ClientID":"sigstore","Type":"email"}}}' "$idp" "$idp" >"$tmp/config.json"
declare -A pid
# cpu_ticks NAME: user+system clock ticks used so far by server NAME
cpu_ticks() { awk '{print $14 + $15}' "/proc/${pid[$1]}/stat"; }
start() { # NAME ARGS...
  local n=$1; shift
  "$build/cmd/fulcrum" serve --config-path "$tmp/config.json" --host 127.0.0.1 --port 0 \
    --port-file "$tmp/$n.port" --metrics-port 0 --ct-log-url "" --journal-dir "$tmp/$n.journal" \
    "$@" >"$tmp/$n.log" 2>&1 &
  pids+=($!)
  pid[$n]=$!
  for _ in $(seq 100); do [ -s "$tmp/$n.port" ] && break; sleep 0.05; done
  [ -s "$tmp/$n.port" ] || { echo "bench-hsm-serve: $n did not start"; cat "$tmp/$n.log"; exit 1; }
}
start p11 --ca pkcs11ca --pkcs11-config-path "$tmp/c11.json" --hsm-caroot-id 1
start file --ca fileca --fileca-cert "$tmp/file.pem" --fileca-key "$tmp/file.key" --fileca-watch false

bench_signing_request "$idp" "$tmp" || { echo "bench-hsm-serve: cannot prepare the request"; exit 1; }
declare -A sum=([p11]=0 [file]=0) cpu=([p11]=0 [file]=0) reqs=([p11]=0 [file]=0)
hz=$(getconf CLK_TCK)
for n in p11 file; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @"$tmp/body.json" "http://127.0.0.1:$(cat "$tmp/$n.port")/api/v2/signingCert")
  [ "$code" = 200 ] || { echo "bench-hsm-serve: $n answered $code"; cat "$tmp/$n.log"; exit 1; }
done
echo "fulcrum serve, P-256 CA key, no CT, ES256 tokens; wrk -c$conns on the same $(nproc)-core machine, ${secs}s x $rounds rounds each"
for r in $(seq "$rounds"); do
  for n in p11 file; do
    t0=$(cpu_ticks $n)
    out=$(wrk -t2 -c"$conns" -d"${secs}s" -s "$tmp/post.lua" "http://127.0.0.1:$(cat "$tmp/$n.port")/api/v2/signingCert")
    t1=$(cpu_ticks $n)
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    total=$(awk '/requests in/ {print $1}' <<<"$out")
    bad=$(grep -E 'Non-2xx' <<<"$out" || true)
    us=$(awk -v t=$((t1 - t0)) -v hz="$hz" -v n="$total" 'BEGIN{printf "%.0f", t * 1e6 / hz / n}')
    echo "round=$r ca=$n certs_per_s=$rps server_cpu_us_per_cert=$us ${bad:+errors: $bad}"
    sum[$n]=$(awk -v a="${sum[$n]}" -v b="$rps" 'BEGIN{print a+b}')
    cpu[$n]=$((cpu[$n] + t1 - t0))
    reqs[$n]=$((reqs[$n] + total))
  done
done
awk -v p="${sum[p11]}" -v f="${sum[file]}" -v r="$rounds" \
  'BEGIN{printf "mean: pkcs11ca=%.0f fileca=%.0f certs/s, pkcs11ca/fileca=%.1f%%\n", p/r, f/r, 100*p/f}'
awk -v pc="${cpu[p11]}" -v fc="${cpu[file]}" -v pn="${reqs[p11]}" -v fn="${reqs[file]}" -v hz="$hz" \
  'BEGIN{printf "server CPU per certificate: pkcs11ca=%.0f us fileca=%.0f us (SoftHSM2 runs in the server process)\n", pc*1e6/hz/pn, fc*1e6/hz/fn}'
