#!/usr/bin/env bash
# fulcrum serve against Fulcio v1.8.8 (tests/tools/install-fulcio.sh) under
# the same load on the same machine: both with the same fileca CA (P-256
# root and intermediate from `fulcrum createca --file --intermediate`, the
# key encrypted), the same test OIDC issuer and configuration (one email
# issuer), CT off, logging as they do by default (to a file here).
#
# The load is a pool of prepared v2 signingCert bodies, each with its own
# token (ES256, its own subject, email and jti), its own P-256 key and its
# own proof of possession, which a wrk Lua script cycles through, so that no
# cache of a verified token or key can stand in for the work. Rounds
# alternate between the servers (fulcrum, Fulcio, fulcrum, Fulcio, ...) at
# each connection count; wrk runs with its default threads.
#
# For each round: certificates/s (200 answers / seconds), p50/p99 latency,
# server CPU per certificate (utime+stime from /proc/PID/stat before and
# after, over the certificates; of every process of the service), peak RSS
# during the round (the sum of its processes' VmHWM, reset
# before the round through /proc/PID/clear_refs when the kernel allows) and
# the machine's load average. Then, per connection count, the median of the
# rounds for each server and the ratios fulcrum/Fulcio, and each server's
# idle RSS (VmRSS) after start-up and after the load. fulcrum runs with
# --max-connections-per-ip 0: all of wrk's connections come from one
# address, and Fulcio has no such cap.
#
# Usage: tests/bench/bench-vs-fulcio.sh [BUILD_DIR] [SECONDS] [ROUNDS] [CONNECTIONS...]
#   defaults: <repo>/build, 10 s, 3 rounds, 32 and 1000 connections.
# Use a release build (meson setup build-rel --buildtype=release -Dtestable=true).
# Environment: FULCRUM_DEPS (Fulcio's location, default <repo>/.deps),
# BENCH_POOL (bodies in the pool, default 2000), BENCH_SERVE_ARGS (more
# flags for fulcrum serve, e.g. --no-signer-process).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
secs=${2:-10}
rounds=${3:-3}
shift 3 2>/dev/null || shift $#
conns=("${@:-32 1000}")
[ ${#conns[@]} -eq 1 ] && read -r -a conns <<<"${conns[0]}"
pool=${BENCH_POOL:-2000}
export FULCRUM_DEPS=${FULCRUM_DEPS:-$root/.deps}
fail() { echo "bench-vs-fulcio: $*" >&2; exit 1; }

command -v wrk >/dev/null || fail "wrk is not installed (apt-get install wrk)"
[ -x "$build/cmd/fulcrum" ] && [ -x "$build/tests/test-issuer" ] \
  || fail "$build has no cmd/fulcrum or tests/test-issuer (meson setup $build --buildtype=release -Dtestable=true)"
bash "$root/tests/tools/install-fulcio.sh" || fail "cannot build Fulcio"
fulcio_bin="$FULCRUM_DEPS/bin/fulcio"
PY=python3
[ -x "$FULCRUM_DEPS/venv/bin/python" ] && PY="$FULCRUM_DEPS/venv/bin/python"
"$PY" -c 'import cryptography' 2>/dev/null || fail "pyca/cryptography is not available to $PY"
tck=$(getconf CLK_TCK)

tmp=$(mktemp -d /tmp/fulcrum-bench-vs.XXXXXX)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() {
  local i
  for i in $(seq 300); do curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

# --- issuer, CA, configuration ---
"$build/tests/test-issuer" --port-file "$tmp/idp.port" >"$tmp/idp.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$tmp/idp.port" ] && break; sleep 0.05; done
[ -s "$tmp/idp.port" ] || fail "the test issuer did not start"
idp="http://127.0.0.1:$(cat "$tmp/idp.port")"
pass="bench-$$-$RANDOM"
FULCRUM_FILECA_KEY_PASSWD=$pass "$build/cmd/fulcrum" createca --file --intermediate --org bench \
  --out "$tmp/chain.pem" --key-out "$tmp/int.key" --root-key-out "$tmp/root.key" >"$tmp/createca.log" 2>&1 \
  || fail "createca: $(cat "$tmp/createca.log")"
printf '{"OIDCIssuers":{"%s":{"IssuerURL":"%s","ClientID":"sigstore","Type":"email"}}}' "$idp" "$idp" >"$tmp/config.json"

# --- the pool: one body per line, each with its own token, key and proof ---
echo "bench-vs-fulcio: preparing $pool requests (a token, a P-256 key and a proof each)"
"$PY" - "$idp" "$pool" "$tmp/bodies.txt" <<'PY'
import base64, http.client, json, sys, urllib.parse
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
idp, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
u = urllib.parse.urlsplit(idp)
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
with open(out, "w") as f:
    for i in range(n):
        email = "bench%d@example.com" % i
        req = {"key": "ec256", "claims": {"sub": "bench-%d" % i, "email": email, "email_verified": True,
                                          "jti": "bench-%d" % i, "exp": 4102444800}}
        conn.request("POST", "/mint", json.dumps(req), {"Content-Type": "application/json"})
        r = conn.getresponse()
        tok = r.read().decode()
        if r.status != 200:
            sys.exit("mint: %d %s" % (r.status, tok))
        k = ec.generate_private_key(ec.SECP256R1())
        pem = k.public_key().public_bytes(serialization.Encoding.PEM,
                                          serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        pop = base64.b64encode(k.sign(email.encode(), ec.ECDSA(hashes.SHA256()))).decode()
        f.write(json.dumps({"credentials": {"oidcIdentityToken": tok},
                            "publicKeyRequest": {"publicKey": {"content": pem}, "proofOfPossession": pop}},
                           separators=(",", ":")) + "\n")
PY
cat >"$tmp/pool.lua" <<LUA
-- Cycles through the prepared bodies; each wrk thread starts elsewhere in
-- the pool. Reports the first few non-200 answers on standard error.
local bodies, counter, bad = {}, 0, 0
local next_id = 0
function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
end
function init(args)
  for line in io.lines("$tmp/bodies.txt") do bodies[#bodies + 1] = line end
  counter = (tid or 0) * math.floor(#bodies / 2)
end
function request()
  counter = counter + 1
  return wrk.format("POST", "/api/v2/signingCert", {["Content-Type"] = "application/json"},
                    bodies[(counter % #bodies) + 1])
end
function response(status, headers, body)
  if status ~= 200 then
    bad = bad + 1
    if bad <= 3 then io.stderr:write(status .. " " .. body:sub(1, 160) .. "\n") end
  end
end
LUA

# --- both servers ---
fport=$(free_port)
FULCRUM_FILECA_KEY_PASSWD=$pass "$build/cmd/fulcrum" serve --ca fileca --fileca-cert "$tmp/chain.pem" \
  --fileca-key "$tmp/int.key" --config-path "$tmp/config.json" --ct-log-url "" \
  --host 127.0.0.1 --port "$fport" --metrics-port 0 --journal-dir "$tmp/journal" --max-connections-per-ip 0 ${BENCH_SERVE_ARGS:-} >"$tmp/fulcrum.log" 2>&1 &
fulcrum_pid=$!
pids+=($!)
gport=$(free_port)
"$fulcio_bin" serve --ca fileca --fileca-cert "$tmp/chain.pem" --fileca-key "$tmp/int.key" \
  --fileca-key-passwd "$pass" --config-path "$tmp/config.json" --ct-log-url "" --log_type prod \
  --host 127.0.0.1 --port "$gport" --grpc-host 127.0.0.1 --grpc-port "$(free_port)" \
  --metrics-port "$(free_port)" --legacy-unix-domain-socket "@fulcrum-bench-fulcio-$$" \
  >"$tmp/fulcio.log" 2>&1 &
fulcio_pid=$!
pids+=($!)
wait_http "http://127.0.0.1:$fport/healthz" || fail "fulcrum serve did not start: $(tail -5 "$tmp/fulcrum.log")"
wait_http "http://127.0.0.1:$gport/healthz" || fail "fulcio serve did not start: $(tail -5 "$tmp/fulcio.log")"

# A service is a process and its descendants (fulcrum serve: the network
# process, the signer's supervisor and the signer process), so CPU and
# memory are summed over all of them.
tree_pids() {
  local p
  echo "$1"
  for p in $(ps -o pid= --ppid "$1"); do tree_pids "$p"; done
}
cpu_ticks() {
  local p t=0
  for p in $(tree_pids "$1"); do t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0))); done
  echo "$t"
}
status_kb() {
  local p t=0
  for p in $(tree_pids "$1"); do t=$((t + $(awk -v k="$2:" '$1 == k { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0))); done
  echo "$t"
}
reset_hwm() {
  local p ok=0
  for p in $(tree_pids "$1"); do echo 5 >"/proc/$p/clear_refs" 2>/dev/null || ok=1; done
  return $ok
}
url_of() { [ "$1" = fulcrum ] && echo "http://127.0.0.1:$fport" || echo "http://127.0.0.1:$gport"; }
pid_of() { [ "$1" = fulcrum ] && echo "$fulcrum_pid" || echo "$fulcio_pid"; }

# One request each (JWKS fetched, first certificate issued), then idle RSS.
for s in fulcrum fulcio; do
  code=$(curl -sS -o "$tmp/first.$s" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary @<(head -1 "$tmp/bodies.txt") "$(url_of "$s")/api/v2/signingCert")
  [ "$code" = 200 ] || fail "$s refused the first request: $code $(head -c 300 "$tmp/first.$s")"
done
sleep 1
declare -A idle0 idle1
for s in fulcrum fulcio; do idle0[$s]=$(status_kb "$(pid_of "$s")" VmRSS); done
hwm_reset=yes
reset_hwm "$fulcrum_pid" || hwm_reset="no (VmHWM since start)"

# run_round SERVER CONNS: one wrk run; appends a result line to $tmp/results.
run_round() {
  local s=$1 c=$2 pid url c0 c1 out req non2xx sock certs rps p50 p99 hwm cpu_ms load
  pid=$(pid_of "$s")
  url=$(url_of "$s")
  reset_hwm "$pid" || true
  c0=$(cpu_ticks "$pid")
  out=$(wrk -c"$c" -d"${secs}s" --timeout 30s --latency -s "$tmp/pool.lua" "$url/api/v2/signingCert" 2>"$tmp/wrk.err")
  c1=$(cpu_ticks "$pid")
  hwm=$(status_kb "$pid" VmHWM)
  req=$(awk '/requests in/ { print $1 }' <<<"$out")
  non2xx=$(awk '/Non-2xx/ { print $NF }' <<<"$out")
  sock=$(awk -F'[ ,]+' '/Socket errors/ { print "connect " $5 " read " $7 " write " $9 " timeout " $11 }' <<<"$out")
  certs=$((req - ${non2xx:-0}))
  rps=$(awk -v n="$certs" -v t="$secs" 'BEGIN { printf "%.0f", n / t }')
  p50=$(awk '$1 == "50%" { print $2 }' <<<"$out")
  p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
  cpu_ms=$(awk -v d=$((c1 - c0)) -v n="$certs" -v t="$tck" 'BEGIN { if (n > 0) printf "%.3f", d * 1000 / t / n; else print "nan" }')
  load=$(awk '{ print $1, $2, $3 }' /proc/loadavg)
  printf '%-7s conns=%-4s certs/s=%-6s p50=%-9s p99=%-9s cpu_ms/cert=%-7s peak_rss=%s kB  load=%s%s%s\n' \
    "$s" "$c" "$rps" "$p50" "$p99" "$cpu_ms" "$hwm" "$load" \
    "${non2xx:+  non-2xx=$non2xx}" "${sock:+  socket errors: $sock}"
  echo "$s $c $rps $(to_ms "$p50") $(to_ms "$p99") $cpu_ms $hwm" >>"$tmp/results"
  [ -s "$tmp/wrk.err" ] && sed 's/^/    /' "$tmp/wrk.err" | head -3 || true
}
# to_ms 1.23ms|456.00us|1.20s: milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0;
    else if (v ~ /s$/) n *= 1000; else if (v ~ /m$/) n *= 60000; printf "%.3f", n }'
}

echo "bench-vs-fulcio: fileca P-256, no CT, ES256 tokens, P-256 proofs; $pool distinct requests;"
echo "  wrk (default threads) on the same $(nproc)-core machine, ${secs}s a round, $rounds rounds per server and connection count"
echo "  fulcrum serve flags added: ${BENCH_SERVE_ARGS:-none} (signer process and journal on unless --no-signer-process)"
echo "  fulcrum $(git -C "$root" describe --always --dirty 2>/dev/null || echo '?') ($build), Fulcio $(cat "$FULCRUM_DEPS/bin/fulcio.version")"
echo "  per-round peak RSS: VmHWM reset before each round: $hwm_reset"
: >"$tmp/results"
# A short warm-up each, unmeasured.
for s in fulcrum fulcio; do wrk -c32 -d2s -s "$tmp/pool.lua" "$(url_of "$s")/api/v2/signingCert" >/dev/null 2>&1 || true; done
for c in "${conns[@]}"; do
  for r in $(seq "$rounds"); do
    for s in fulcrum fulcio; do
      kill -0 "$(pid_of "$s")" 2>/dev/null || fail "$s died: $(tail -5 "$tmp/$s.log")"
      run_round "$s" "$c"
    done
  done
done
sleep 2
for s in fulcrum fulcio; do idle1[$s]=$(status_kb "$(pid_of "$s")" VmRSS); done

echo
echo "medians over $rounds rounds (ratio = fulcrum / Fulcio)"
"$PY" - "$tmp/results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
conns = []
for r in rows:
    if r[1] not in conns:
        conns.append(r[1])
cols = [("certs/s", 2, "%.0f"), ("p50 ms", 3, "%.2f"), ("p99 ms", 4, "%.2f"),
        ("CPU ms/cert", 5, "%.3f"), ("peak RSS kB", 6, "%.0f")]
for c in conns:
    med = {}
    for s in ("fulcrum", "fulcio"):
        vals = [r for r in rows if r[0] == s and r[1] == c]
        med[s] = [statistics.median(float(v[i]) for v in vals) for _, i, _ in cols]
    print("connections=%s" % c)
    for k, (name, _, fmt) in enumerate(cols):
        a, b = med["fulcrum"][k], med["fulcio"][k]
        ratio = ("%.3f" % (a / b)) if b else "n/a"
        print("  %-12s fulcrum %-10s Fulcio %-10s ratio %s" % (name, fmt % a, fmt % b, ratio))
PY
for s in fulcrum fulcio; do
  echo "idle RSS $s: ${idle0[$s]} kB after start-up and one certificate, ${idle1[$s]} kB after the load"
done
echo "idle RSS ratio (after start-up): $(awk -v a="${idle0[fulcrum]}" -v b="${idle0[fulcio]}" 'BEGIN { printf "%.3f", a / b }')"
echo "load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
