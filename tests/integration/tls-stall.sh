#!/usr/bin/env bash
# Stalled TLS clients neither hold up fulcrum serve's HTTPS front nor make
# it spin (docs/http.md, "TLS"). fulcrum serve with --tls-cert,
# --read-header-timeout STALL_DEADLINE seconds and --write-timeout 5 s
# less (the two kinds of closing fall in different seconds of the
# rate-limited log); then tls-stall.py opens and holds
#   200 connections that never send a byte,
#   40 that send a ClientHello (half TLS 1.3, half TLS 1.2 only) and stop
#      once the server has answered it,
#   20 that send the first 20 bytes of a ClientHello and stop,
#   10 that complete the handshake, pipeline 400 requests and never read:
#      the server's answers back up in its sockets.
# Checks, while they are all open:
#   * the server's CPU time (/proc/PID/stat) over STALL_IDLE_SECS idle
#     seconds stays under STALL_CPU_MAX_PCT % of one CPU (libmicrohttpd
#     0.9.75 reports a handshake waiting for its client as work to do at
#     once: without the front's back-off the I/O loop spins);
#   * new HTTPS connections (curl, trusting only the test root) are
#     answered within 3 s each: GET /healthz, and POST /api/v2/signingCert
#     with a certificate chain in the answer;
# then: the server closes every stalled connection by its deadlines (15 s
# of slack for a loaded machine; the
# log says which), is idle again, and stops with exit 0 and no sanitizer
# report.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/http-lib.sh"
. "$here/tls-lib.sh"

for tool in curl openssl jq python3; do
  command -v "$tool" >/dev/null || t_skip "$tool not installed"
done
DEADLINE=${STALL_DEADLINE:-25}
IDLE=${STALL_IDLE_SECS:-5}
CPU_MAX=${STALL_CPU_MAX_PCT:-15}
NSILENT=200 NHELLO=40 NPARTIAL=20 NNOREAD=10
NSTALL=$((NSILENT + NHELLO + NPARTIAL + NNOREAD))

P="$T_TMP/pki"
tls_make_pki "$P" || { t_bad "cannot make the test PKI"; t_done; exit 1; }
ROOT="$P/root.pem"
issuer_start idp
signing_setup "$idp_URL"
tls_start ca /healthz "$ROOT" serve --host 127.0.0.1 --port 0 --metrics-port 0 --ct-log-url "" \
  --ca ephemeralca --config-path "$CFG" --tls-cert "$P/a.chain.pem" --tls-key "$P/a.key" \
  --read-header-timeout "${DEADLINE}s" --write-timeout "$((DEADLINE - 5))s" \
  || { t_bad "fulcrum serve with TLS did not start"; t_done; exit 1; }
t_ok "fulcrum serve up at $ca_URL (--read-header-timeout ${DEADLINE}s --write-timeout $((DEADLINE - 5))s)"

hz=$(getconf CLK_TCK)
# cpu_ms PID: user + system CPU time of PID so far, in milliseconds.
cpu_ms() { awk -v hz="$hz" '{printf "%d", ($14 + $15) * 1000 / hz}' "/proc/$1/stat"; }
# idle_cpu SECONDS: the server's CPU time over SECONDS, in ms.
idle_cpu() {
  local c0
  c0=$(cpu_ms "$ca_PID")
  sleep "$1"
  echo $(($(cpu_ms "$ca_PID") - c0))
}
# fresh_get: a GET /healthz on a new connection; prints "CODE SECONDS".
fresh_get() {
  curl -sS -o /dev/null -w '%{http_code} %{time_total}' --max-time 30 --cacert "$ROOT" "$ca_URL/healthz" 2>&1
}
under() { awk -v a="$1" -v b="$2" 'BEGIN {exit !(a < b)}'; }
# open_conns: established TCP connections on the server's port, its side.
open_conns() {
  awk -v p="$(printf '%04X' "$ca_PORT")" 'NR > 1 && $4 == "01" && $2 ~ (":" p "$")' /proc/net/tcp | wc -l
}

base=$(idle_cpu 3)
t_ok "no client: ${base} ms of CPU in 3 s (load: $(cut -d' ' -f1-3 /proc/loadavg))"

# --- the stalled clients ---
python3 "$here/tls-stall.py" --port "$ca_PORT" --ca "$ROOT" --silent "$NSILENT" --hello "$NHELLO" \
  --partial "$NPARTIAL" --noread "$NNOREAD" --hold $((DEADLINE + 15)) \
  >"$T_TMP/stall.out" 2>"$T_TMP/stall.err" &
stall_pid=$!
T_PIDS+=("$stall_pid")
for _ in $(seq 600); do
  [ -s "$T_TMP/stall.out" ] && break
  kill -0 "$stall_pid" 2>/dev/null || break
  sleep 0.1
done
ready=$(head -1 "$T_TMP/stall.out")
want="{\"silent\":$NSILENT,\"hello\":$NHELLO,\"partial\":$NPARTIAL,\"noread\":$NNOREAD}"
if jq -e --argjson w "$want" '.ready == $w' >/dev/null 2>&1 <<<"$ready"; then
  t_ok "stalled clients in place: $(jq -c .ready <<<"$ready")"
else
  t_bad "the stalled clients did not connect: $ready $(tail -3 "$T_TMP/stall.err")"
  t_done
  exit 1
fi
if jq -e 'all(.server_send_queue[]; . > 0)' >/dev/null <<<"$ready"; then
  t_ok "the server's answers back up unread: send queues $(jq -c .server_send_queue <<<"$ready") bytes"
else
  t_bad "some noread connection has nothing waiting in the server's socket: $(jq -c .server_send_queue <<<"$ready")"
fi

sleep 1
used=$(idle_cpu "$IDLE")
nconn=$(open_conns)
if [ "$nconn" -lt "$NSTALL" ]; then
  t_bad "only $nconn connections open on the server's port at the end of the idle interval (want $NSTALL): a deadline passed too early"
elif [ "$used" -lt $((IDLE * 10 * CPU_MAX)) ]; then
  t_ok "idle with $nconn stalled connections open: ${used} ms of CPU in ${IDLE} s (under ${CPU_MAX} %; load: $(cut -d' ' -f1-3 /proc/loadavg))"
else
  t_bad "the server burns CPU while only stalled clients are connected: ${used} ms in ${IDLE} s (want under $((IDLE * 10 * CPU_MAX)) ms; load: $(cut -d' ' -f1-3 /proc/loadavg))"
fi

slow=""
for i in 1 2 3 4 5; do
  read -r code secs <<<"$(fresh_get)"
  { [ "$code" = 200 ] && under "$secs" 3; } || slow="$slow GET#$i=$code/${secs}s"
done
for i in 1 2 3; do
  st=$(curl -sS -o "$T_TMP/sign.json" -w '%{http_code} %{time_total}' --max-time 30 --cacert "$ROOT" \
    -H 'Content-Type: application/json' --data-binary "@$BODY_FILE" "$ca_URL/api/v2/signingCert" 2>&1)
  read -r code secs <<<"$st"
  { [ "$code" = 200 ] && under "$secs" 3 \
    && jq -e '.signedCertificateDetachedSct.chain.certificates | length == 2' >/dev/null 2>&1 <"$T_TMP/sign.json"; } \
    || slow="$slow POST#$i=$code/${secs}s"
done
if [ -z "$slow" ]; then
  t_ok "beside the stalled clients, 5 GET /healthz and 3 POST /api/v2/signingCert on new HTTPS connections: 200 within 3 s each"
else
  t_bad "requests held up by the stalled clients:$slow"
fi

# --- the deadlines close them ---
wait "$stall_pid"
closed=$(tail -1 "$T_TMP/stall.out")
if jq -e --argjson w "$want" '.closed == $w' >/dev/null 2>&1 <<<"$closed"; then
  t_ok "after ${DEADLINE}s the server has closed every stalled connection: $(jq -c .closed <<<"$closed")"
else
  t_bad "stalled connections still open after their deadline: $closed"
fi
for why in "request header not complete within --read-header-timeout" \
  "answer not taken within --write-timeout"; do
  grep -q "connection closed: $why" "$T_TMP/ca.log" && t_ok "the log says: $why" \
    || t_bad "no 'connection closed: $why' in the log"
done
after=$(idle_cpu 3)
if [ "$after" -lt $((3 * 10 * CPU_MAX)) ]; then
  t_ok "idle again: ${after} ms of CPU in 3 s"
else
  t_bad "still busy once the stalled clients are gone: ${after} ms in 3 s"
fi
read -r code secs <<<"$(fresh_get)"
[ "$code" = 200 ] && t_ok "GET /healthz: 200 in ${secs}s" || t_bad "GET /healthz after the stalls: $code"

if tls_stop "$ca_PID"; then
  t_ok "fulcrum serve stops with exit 0"
else
  t_bad "fulcrum serve did not stop cleanly"
fi
tls_sanitizer_clean "$T_TMP/ca.log" && t_ok "no sanitizer report" \
  || t_bad "sanitizer report: $(grep -m3 -E 'ERROR: |runtime error' "$T_TMP/ca.log")"
t_done
