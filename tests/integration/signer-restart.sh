#!/usr/bin/env bash
# A signer process that dies is replaced, under load: `fulcrum serve` with
# 4 request loops running while its signer process is sent a header that is
# not one, then a message over the size cap (tests/tools/signer_probe, as a
# compromised network process would), then killed with SIGKILL. Each time
# only the signer exits, the supervisor starts another, clients get a prompt
# 503 during the gap (never a hang, never another status) and 200 again
# after; the journal stays intact.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || t_skip "jq not installed"
: "${FULCRUM_SIGNER_PROBE:?FULCRUM_SIGNER_PROBE must name the signer_probe test tool}"
[ "$(id -u)" = 0 ] || t_skip "the probe needs root (pidfd_getfd of another user's process)"

issuer_start idp
cfg="$T_TMP/config.json"
jq -n --arg u "$idp_URL" '{OIDCIssuers: {($u): {IssuerURL: $u, ClientID: "sigstore", Type: "email"}}}' >"$cfg"
mkdir -p "$T_TMP/ca"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T_TMP/ca/root.key" 2>/dev/null
openssl req -new -x509 -key "$T_TMP/ca/root.key" -subj "/O=fulcrum test/CN=Restart Root" -days 30 \
  -addext "basicConstraints=critical,CA:TRUE,pathlen:1" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out "$T_TMP/ca/root.pem" 2>/dev/null
tok=$(mint "$idp_URL" '{"claims":{"sub":"alice","email":"alice@example.com","email_verified":true}}')
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T_TMP/client.pem" 2>/dev/null
v2_body "$tok" "$T_TMP/client.pem" alice@example.com >"$T_TMP/body.json"
mport=$(t_free_port)
serve_start ca --ca fileca --config-path "$cfg" --fileca-cert "$T_TMP/ca/root.pem" \
  --fileca-key "$T_TMP/ca/root.key" --fileca-watch false --metrics-port "$mport" || exit 1
http POST "$ca_URL/api/v2/signingCert" "$(cat "$T_TMP/body.json")"
[ "$H_STATUS" = 200 ] || { t_bad "first request: $H_STATUS $H_BODY"; t_done; exit 1; }

# signer_pid: the current signer process (the supervisor's child).
signer_pid() {
  local sup
  sup=$(cat "/proc/$ca_PID/task/$ca_PID/children" 2>/dev/null | awk '{print $1}')
  cat "/proc/$sup/task/$sup/children" 2>/dev/null | awk '{print $1}'
}
# load SECONDS: 4 loops of requests; "code seconds" per line in load.codes.
load() {
  LOAD_PIDS=()
  : >"$T_TMP/load.codes"
  for i in 1 2 3 4; do
    ( end=$((SECONDS + $1))
      while [ "$SECONDS" -lt "$end" ]; do
        curl -s -o "$T_TMP/load.$i.body" -w '%{http_code} %{time_total}\n' --max-time 10 -X POST \
          -H 'Content-Type: application/json' --data-binary @"$T_TMP/body.json" \
          "$ca_URL/api/v2/signingCert" >>"$T_TMP/load.codes"
        grep -q 'error communicating with CA backend' "$T_TMP/load.$i.body" && touch "$T_TMP/load.503msg"
      done ) &
    LOAD_PIDS+=($!)
  done
}
# wait_new_signer OLD: until a signer other than OLD serves (at most 10 s).
wait_new_signer() {
  local i p
  for i in $(seq 100); do
    p=$(signer_pid)
    [ -n "$p" ] && [ "$p" != "$1" ] && grep -q "pid $p) took over" "$T_TMP/ca.serve.log" && return 0
    sleep 0.1
  done
  return 1
}

first=$(signer_pid)
load 9
sleep 1
pid=$(signer_pid)
"$FULCRUM_SIGNER_PROBE" --pid "$ca_PID" garbage >"$T_TMP/probe1.out" 2>&1 \
  && wait_new_signer "$pid" && kill -0 "$ca_PID" \
  && t_ok "garbage: only the signer process ($pid) exited; signer $(signer_pid) took over" \
  || t_bad "garbage: $(cat "$T_TMP/probe1.out") signer $(signer_pid)"
sleep 1
pid=$(signer_pid)
"$FULCRUM_SIGNER_PROBE" --pid "$ca_PID" oversize >"$T_TMP/probe2.out" 2>&1 \
  && wait_new_signer "$pid" && kill -0 "$ca_PID" \
  && t_ok "oversized message: only the signer process ($pid) exited; signer $(signer_pid) took over" \
  || t_bad "oversize: $(cat "$T_TMP/probe2.out") signer $(signer_pid)"
sleep 1
pid=$(signer_pid)
kill -KILL "$pid"
wait_new_signer "$pid" && t_ok "SIGKILL: the signer process ($pid) replaced by $(signer_pid)" \
  || t_bad "SIGKILL: no new signer"
wait "${LOAD_PIDS[@]}"

n=$(wc -l <"$T_TMP/load.codes")
n200=$(grep -c '^200 ' "$T_TMP/load.codes")
n503=$(grep -c '^503 ' "$T_TMP/load.codes")
slow=$(awk '$2 > 3 {n++} END {print n + 0}' "$T_TMP/load.codes")
[ $((n200 + n503)) = "$n" ] && [ "$n503" -ge 1 ] && [ "$n200" -ge 20 ] && [ "$slow" = 0 ] && [ -e "$T_TMP/load.503msg" ] \
  && t_ok "$n requests under load: $n200 x 200, $n503 x 503 (\"error communicating with CA backend\") during the gaps, none over 3 s" \
  || t_bad "load: $(cut -d' ' -f1 "$T_TMP/load.codes" | sort | uniq -c | tr '\n' ' ') slow=$slow"
tail -3 "$T_TMP/load.codes" | grep -q '^200 ' && t_ok "service resumed: the last requests answered 200" \
  || t_bad "the last requests: $(tail -3 "$T_TMP/load.codes" | tr '\n' ' ')"
[ "$first" != "$(signer_pid)" ] && grep -q 'protocol violation from the network process' "$T_TMP/ca.serve.log" \
  && [ "$(grep -c 'starting another in' "$T_TMP/ca.serve.log")" = 3 ] \
  && t_ok "the supervisor logged three signer exits and started three signers" \
  || t_bad "supervisor log: $(grep -E 'supervisor|violation' "$T_TMP/ca.serve.log" | tail -5)"
restarts=$(curl -fsS --max-time 10 "http://127.0.0.1:$mport/metrics" | awk '/^fulcrum_signer_restarts_total/ {print $2}')
[ "$restarts" = 3 ] && t_ok "/metrics: fulcrum_signer_restarts_total 3" || t_bad "restarts metric: $restarts"
out=$("$FULCRUM_BIN" journal verify "$T_TMP/ca.journal" 2>&1)
[ $? = 0 ] && t_ok "journal verify: $(tail -1 <<<"$out" | cut -d: -f2-)" || t_bad "journal: $out"
t_done
