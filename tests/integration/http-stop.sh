#!/usr/bin/env bash
# SIGTERM under keep-alive load. Clients keep sending signingCert requests
# on 32 keep-alive connections, reconnecting when closed, until the server
# refuses them. On SIGTERM the listener closes at once, answers carry
# Connection: close, requests already accepted finish (those waiting for
# the CT log included), and the process exits 0 within --shutdown-timeout.
# Every certificate issued (an "issued serial=" line in the server's log)
# was answered (a 200 the clients received), with and without CT. Past the
# bound, requests still waiting for the log are answered 503 by the front
# and their certificates are never signed.
. "$(dirname "$0")/http-lib.sh"
command -v jq >/dev/null || t_skip "jq not installed"

issuer_start idp
signing_setup "$idp_URL"
fake_start fake

# run_case NAME DELAY_MS SHUTDOWN BOUND_S SERVE_ARGS...: load, SIGTERM after
# 3 s, then the checks. Sets OUT (the clients' counts) and LOG.
run_case() {
  local name=$1 delay=$2 shutdown=$3 bound=$4 t0 t1 rc lpid
  shift 4
  curl -fsS --max-time 5 "$fake_URL/fake/mode?set=ok&delay_ms=$delay" >/dev/null
  serve_start "$name" --ca ephemeralca --config-path "$CFG" --shutdown-timeout "$shutdown" "$@" || exit 1
  local url_var="${name}_URL" pid_var="${name}_PID"
  local url=${!url_var} pid=${!pid_var}
  LOG="$T_TMP/$name.serve.log"
  $HC load 127.0.0.1 "$(port_of "$url")" --conns 32 --post "$BODY_FILE" --path /api/v2/signingCert \
    >"$T_TMP/$name.load" &
  lpid=$!
  sleep 3
  t0=$(date +%s.%N)
  kill -TERM "$pid"
  for _ in $(seq $((bound * 10 + 50))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  t1=$(date +%s.%N)
  wait "$pid"
  rc=$?
  wait "$lpid"
  OUT=$(cat "$T_TMP/$name.load")
  ELAPSED=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')
  [ "$rc" = 0 ] && awk -v e="$ELAPSED" -v b="$bound" 'BEGIN {exit !(e <= b)}' \
    && t_ok "$name: exit 0, ${ELAPSED}s after SIGTERM (bound ${bound}s)" \
    || t_bad "$name: exit $rc after ${ELAPSED}s (bound ${bound}s)"
  sanitizer_clean "$LOG" && t_ok "$name: no sanitizer report" || t_bad "$name: sanitizer report"
}

# 1. No CT.
run_case noct 0 10s 10 --ct-log-url ""
issued=$(grep -c 'issued serial=' "$LOG")
got=$(jq '."200" // 0' <<<"$OUT")
[ "$issued" -gt 0 ] && [ "$issued" = "$got" ] \
  && t_ok "noct: $issued certificates issued, $got answered 200 ($OUT)" \
  || t_bad "noct: issued $issued, answered $got ($OUT)"
[ "$(jq .connection_close <<<"$OUT")" -gt 0 ] && t_ok "noct: answers after SIGTERM carried Connection: close" \
  || t_bad "noct: no Connection: close seen ($OUT)"
[ "$(jq .refused <<<"$OUT")" = 32 ] && t_ok "noct: then the listener refused every client" \
  || t_bad "noct: $OUT"

# 2. CT, the log taking 500 ms: requests waiting for it at SIGTERM finish.
run_case ct 500 10s 10 --ct-log-url "$fake_URL" --ct-log-public-key-path "$fake_PUB"
issued=$(grep -c 'issued serial=' "$LOG")
got=$(jq '."200" // 0' <<<"$OUT")
[ "$issued" -gt 0 ] && [ "$issued" = "$got" ] \
  && t_ok "ct: $issued certificates issued, $got answered 200 ($OUT)" \
  || t_bad "ct: issued $issued, answered $got ($OUT)"
[ "$(jq '."503" // 0' <<<"$OUT")" = 0 ] && t_ok "ct: none answered 503 (all finished within the bound)" \
  || t_bad "ct: 503s: $OUT"

# 3. CT, the log taking 6 s, --shutdown-timeout 2s: whatever waits is
# answered 503 at the bound; nothing is signed for it afterwards; the exit
# waits at most for the CT client to let go (its own deadline).
run_case bound 6000 2s 9 --ct-log-url "$fake_URL" --ct-log-public-key-path "$fake_PUB" \
  --ct-log-timeout 8s
issued=$(grep -c 'issued serial=' "$LOG")
got=$(jq '."200" // 0' <<<"$OUT")
n503=$(jq '."503" // 0' <<<"$OUT")
[ "$n503" -gt 0 ] && t_ok "bound: $n503 requests still waiting at the bound were answered 503" \
  || t_bad "bound: no 503 ($OUT)"
[ "$issued" = "$got" ] && t_ok "bound: issued $issued = answered 200 $got (nothing signed after the 503s)" \
  || t_bad "bound: issued $issued, answered $got ($OUT)"
grep -q 'shutdown timeout' "$LOG" && t_ok "bound: the log says the shutdown timeout passed" \
  || t_bad "bound: no shutdown timeout line"
t_done
