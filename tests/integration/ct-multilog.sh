#!/usr/bin/env bash
# fulcrum serve with two CT logs (two tests/tools/fake_ctlog processes, A
# and B: a test tool that misbehaves on command, not a log) and a policy:
#   (a) 1 of 2, both healthy: each certificate carries exactly one SCT, A's
#       (B is not asked while A answers within the stagger delay), checked
#       by OpenSSL's own CT code (fake_ctlog check: SCT_LIST_validate with
#       both logs trusted);
#   (b) A answers garbage, an SCT signed by another key, an SCT with another
#       log's id, an SCT over another certificate, an SCT from the future,
#       500 or 400 (breaker off in --ct-log-config): A is asked every time,
#       its SCT never counts, B is asked at once (not after the 2 s
#       stagger) and the certificate carries B's SCT only; each refusal
#       is counted by kind in /metrics;
#   (c) A hangs: B is asked after the stagger delay, and the certificate
#       carries B's SCT;
#   (d) the breaker: A hanging past the slow threshold twice opens it
#       (fulcrum_ct_breaker_state 1), then B is asked at once; once A is
#       healthy and the backoff has passed, one probe to A closes it again;
#   (e) both logs failing: 503, nothing issued;
#   (f) 2 of 2: two SCTs (one per log, both valid for OpenSSL); with B down,
#       503 and nothing issued, while A holds a precertificate that no
#       final certificate follows (B refused, A logged it: inherent to CT);
#   (g) start-up refusals of the policy and flag combinations.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || t_skip "jq not installed"
: "${FULCRUM_FAKE_CTLOG:?FULCRUM_FAKE_CTLOG must name the fake_ctlog test tool (meson sets it)}"

issuer_start idp
cfg="$T_TMP/config.json"
jq -n --arg u "$idp_URL" '{OIDCIssuers: {($u): {IssuerURL: $u, ClientID: "sigstore", Type: "email"}}}' >"$cfg"

# fake_start NAME: a fake log; sets NAME_URL, NAME_PUB, NAME_PID.
fake_start() {
  local name=$1 pf="$T_TMP/$1.fake.port" i
  mkdir -p "$T_TMP/$name.rec"
  "$FULCRUM_FAKE_CTLOG" serve --port-file "$pf" --key-out "$T_TMP/$name.pub" \
    --record-dir "$T_TMP/$name.rec" >"$T_TMP/$name.fake.log" 2>&1 &
  T_PIDS+=($!)
  printf -v "${name}_PID" '%s' "$!"
  for i in $(seq 100); do [ -s "$pf" ] && break; sleep 0.05; done
  [ -s "$pf" ] || { echo "fake_ctlog $name did not start"; cat "$T_TMP/$name.fake.log"; exit 1; }
  printf -v "${name}_URL" 'http://127.0.0.1:%s' "$(tr -d '\n' < "$pf")"
  printf -v "${name}_PUB" '%s' "$T_TMP/$name.pub"
}
mode() { # LOG MODE
  local u="${1}_URL"
  curl -fsS --max-time 5 "${!u}/fake/mode?set=$2" >/dev/null
}
subs() { local u="${1}_URL"; curl -fsS --max-time 5 "${!u}/fake/stats" | jq .submissions; }

fake_start A
fake_start B
tok=$(mint "$idp_URL" '{"claims":{"sub":"alice-sub","email":"alice@example.com","email_verified":true,"exp":4102444800}}')
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T_TMP/p256.pem" 2>/dev/null
body=$(v2_body "$tok" "$T_TMP/p256.pem" alice@example.com)

# issue NAME: POST to ${NAME}_URL; H_STATUS, H_BODY, MS; the leaf and root
# in $T_TMP/leaf.pem, $T_TMP/root.pem when 200.
issue() {
  local u="${1}_URL" t0
  t0=$(date +%s%N)
  rm -f "$T_TMP/leaf.pem"
  http POST "${!u}/api/v2/signingCert" "$body"
  MS=$(( ($(date +%s%N) - t0) / 1000000 ))
  if [ "$H_STATUS" = 200 ]; then
    jq -r '.signedCertificateEmbeddedSct.chain.certificates[0]' <<<"$H_BODY" >"$T_TMP/leaf.pem"
    jq -r '.signedCertificateEmbeddedSct.chain.certificates[-1]' <<<"$H_BODY" >"$T_TMP/root.pem"
  fi
}
# oracle N: OpenSSL's CT check of the last leaf, both logs trusted, N SCTs;
# prints the logs (0 = A, 1 = B) in SCT order; non-zero on failure.
oracle() {
  local out
  out=$("$FULCRUM_FAKE_CTLOG" check --cert "$T_TMP/leaf.pem" --issuer "$T_TMP/root.pem" \
    --log-key "$A_PUB" --log-key "$B_PUB" --scts "$1" 2>&1) || { echo "$out"; return 1; }
  sed -n 's/.*(logs \([0-9,]*\)).*/\1/p' <<<"$out"
}
# metric NAME LABELS: the value of one sample of ${NAME}'s /metrics.
metric() {
  local u="${1}_METRICS"
  curl -fsS --max-time 5 "${!u}/metrics" | grep -F "$2" | awk '{print $2}' | head -1
}
issued_count() { grep -c 'issued serial=' "$T_TMP/$1.serve.log"; }

# ===== (a) 1 of 2, both healthy =====
mport=$(t_free_port)
serve_start p1 --ca ephemeralca --config-path "$cfg" --metrics-port "$mport" \
  --ct-log-url "$A_URL" --ct-log-public-key-path "$A_PUB" \
  --ct-log-url "$B_URL" --ct-log-public-key-path "$B_PUB" --ct-log-timeout 4s || exit 1
p1_METRICS="http://127.0.0.1:$mport"
grep -q 'policy 1 SCT from 1 operator, stagger 500 ms' "$T_TMP/p1.serve.log" \
  && t_ok "default policy: 1 SCT from 1 operator, 500 ms stagger" || t_bad "policy line: $(grep policy "$T_TMP/p1.serve.log")"
b0=$(subs B)
for i in 1 2 3; do
  issue p1
  logs=$(oracle 1)
  if [ "$H_STATUS" = 200 ] && [ "$logs" = 0 ]; then
    t_ok "1 of 2, both healthy: one SCT, from A, valid for OpenSSL (${MS} ms)"
  else
    t_bad "1 of 2, both healthy: $H_STATUS, oracle: $logs"
  fi
done
[ "$(subs B)" = "$b0" ] && t_ok "B was not asked while A answered within the stagger delay" \
  || t_bad "B was asked $(( $(subs B) - b0 )) times"
m=$(curl -fsS --max-time 5 "$p1_METRICS/metrics")
for want in "fulcrum_ct_submissions_total{log=\"$A_URL\"} 3" "fulcrum_ct_scts_total{log=\"$A_URL\"} 3" \
    "fulcrum_ct_submissions_total{log=\"$B_URL\"} 0" "fulcrum_ct_breaker_state{log=\"$A_URL\"} 0" \
    "fulcrum_ct_sct_latency_seconds_count{log=\"$A_URL\"} 3" 'fulcrum_ct_policy_total{result="met"} 3' \
    "fulcrum_ct_failures_total{log=\"$B_URL\",kind=\"timeout\"} 0"; do
  grep -qF "$want" <<<"$m" && t_ok "metrics: $want" || t_bad "metrics: no '$want' in: $(grep fulcrum_ct <<<"$m" | head -20)"
done

# ===== (b) A misbehaves, breaker off: A's SCT never counts, B at once =====
cat >"$T_TMP/ct.yaml" <<EOF
timeout: 5s
stagger: 2s
policy:
  min_scts: 1
breaker:
  failures: 0
logs:
  - url: $A_URL
    public_key_path: $A_PUB
    operator: Operator A
  - url: $B_URL
    public_key_path: $B_PUB
    operator: Operator B
EOF
mport=$(t_free_port)
serve_start cfg --ca ephemeralca --config-path "$cfg" --metrics-port "$mport" --ct-log-config "$T_TMP/ct.yaml" || exit 1
cfg_METRICS="http://127.0.0.1:$mport"
grep -q 'log .* (operator Operator B)' "$T_TMP/cfg.serve.log" && t_ok "--ct-log-config: logs and operators read" \
  || t_bad "config: $(grep ctlog "$T_TMP/cfg.serve.log" | head -5)"
for mk in garbage:bad_answer wrong-key:bad_sct wrong-id:bad_sct wrong-cert:bad_sct future:bad_sct 500:http_status 400:refused; do
  m=${mk%%:*} kind=${mk#*:}
  mode A "$m"
  a0=$(subs A)
  k0=$(metric cfg "fulcrum_ct_failures_total{log=\"$A_URL\",kind=\"$kind\"}")
  issue cfg
  logs=$(oracle 1)
  k1=$(metric cfg "fulcrum_ct_failures_total{log=\"$A_URL\",kind=\"$kind\"}")
  if [ "$H_STATUS" = 200 ] && [ "$logs" = 1 ] && [ "$(subs A)" = $((a0 + 1)) ] && [ "$MS" -lt 1500 ] \
     && [ "$k1" = $((k0 + 1)) ]; then
    t_ok "A answers $m: asked, refused ($kind), B asked at once; the one SCT is B's (${MS} ms)"
  else
    t_bad "A answers $m: status $H_STATUS, SCT logs '$logs', A asked $(( $(subs A) - a0 )) times, ${MS} ms, $kind $k0 -> $k1"
  fi
done

# ===== (c) A hangs: B after the stagger delay =====
mode A hang
issue cfg
logs=$(oracle 1)
if [ "$H_STATUS" = 200 ] && [ "$logs" = 1 ] && [ "$MS" -ge 2000 ] && [ "$MS" -lt 4500 ]; then
  t_ok "A hangs: B asked after the 2 s stagger; the one SCT is B's (${MS} ms)"
else
  t_bad "A hangs: status $H_STATUS, SCT logs '$logs', ${MS} ms"
fi
mode A ok

# ===== (d) the circuit breaker =====
cat >"$T_TMP/brk.yaml" <<EOF
timeout: 4s
stagger: 500ms
breaker: {failures: 2, backoff: 5s, max_backoff: 10s, slow: 300ms}
logs:
  - {url: "$A_URL", public_key_path: "$A_PUB", operator: A}
  - {url: "$B_URL", public_key_path: "$B_PUB", operator: B}
EOF
mport=$(t_free_port)
serve_start brk --ca ephemeralca --config-path "$cfg" --metrics-port "$mport" --ct-log-config "$T_TMP/brk.yaml" || exit 1
brk_METRICS="http://127.0.0.1:$mport"
mode A hang
for i in 1 2; do
  issue brk
  [ "$H_STATUS" = 200 ] && [ "$(oracle 1)" = 1 ] && [ "$MS" -ge 500 ] \
    && t_ok "A hangs ($i): B after the stagger (${MS} ms)" || t_bad "A hangs ($i): $H_STATUS, ${MS} ms"
done
sleep 0.4 # the second request to A passes the 300 ms slow threshold
[ "$(metric brk "fulcrum_ct_breaker_state{log=\"$A_URL\"}")" = 1 ] \
  && t_ok "two slow answers from A: its breaker is open (fulcrum_ct_breaker_state 1)" \
  || t_bad "breaker state of A: $(metric brk "fulcrum_ct_breaker_state{log=\"$A_URL\"}")"
grep -q "ctlog: $A_URL: not asked for" "$T_TMP/brk.serve.log" && t_ok "the breaker's opening is logged" \
  || t_bad "no breaker log line"
a0=$(subs A)
for i in 1 2 3; do
  issue brk
  [ "$H_STATUS" = 200 ] && [ "$(oracle 1)" = 1 ] && [ "$MS" -lt 500 ] \
    && t_ok "breaker open: A not asked, B at once, within the stagger delay (${MS} ms)" || t_bad "breaker open ($i): $H_STATUS, ${MS} ms"
done
[ "$(subs A)" = "$a0" ] && t_ok "A was not asked while its breaker was open" || t_bad "A asked $(( $(subs A) - a0 )) times"
mode A ok
# once the 5 s backoff has passed, the next certificate probes A (at once)
for i in $(seq 12); do
  issue brk
  [ "$H_STATUS" = 200 ] && [ "$(oracle 1)" = 0 ] && break
  sleep 1
done
[ "$H_STATUS" = 200 ] && [ "$(oracle 1)" = 0 ] && [ "$(metric brk "fulcrum_ct_breaker_state{log=\"$A_URL\"}")" = 0 ] \
  && t_ok "after the backoff, one probe to A succeeds: A's SCT, breaker closed (${MS} ms)" \
  || t_bad "probe: $H_STATUS, logs $(oracle 1), state $(metric brk "fulcrum_ct_breaker_state{log=\"$A_URL\"}")"
[ "$(metric brk "fulcrum_ct_breaker_opens_total{log=\"$A_URL\"}")" -ge 1 ] && t_ok "fulcrum_ct_breaker_opens_total >= 1" \
  || t_bad "opens: $(metric brk "fulcrum_ct_breaker_opens_total{log=\"$A_URL\"}")"
[ "$(metric brk "fulcrum_ct_failures_total{log=\"$A_URL\",kind=\"slow\"}")" -ge 2 ] && t_ok "slow answers counted" \
  || t_bad "slow: $(metric brk "fulcrum_ct_failures_total{log=\"$A_URL\",kind=\"slow\"}")"

# ===== (e) both logs failing: 503, nothing issued =====
for m in 500 garbage; do
  mode A "$m"; mode B "$m"
  n0=$(issued_count p1)
  issue p1
  if [ "$H_STATUS" != 200 ] && [ "$(issued_count p1)" = "$n0" ] \
     && jq -e '.message | startswith("Error entering certificate in CTL: CT policy not met")' <<<"$H_BODY" >/dev/null; then
    t_ok "both logs answer $m: $H_STATUS, nothing issued: $(jq -r .message <<<"$H_BODY" | head -c 250)"
  else
    t_bad "both logs answer $m: $H_STATUS $H_BODY"
  fi
done
mode A 503; mode B 503
issue p1
[ "$H_STATUS" = 503 ] && t_ok "both logs answer 503: 503 (${MS} ms)" || t_bad "both 503: $H_STATUS $H_BODY"
mode A ok; mode B ok

# ===== (f) 2 of 2 =====
serve_start p2 --ca ephemeralca --config-path "$cfg" --ct-log-min-scts 2 \
  --ct-log-url "$A_URL" --ct-log-public-key-path "$A_PUB" \
  --ct-log-url "$B_URL" --ct-log-public-key-path "$B_PUB" --ct-log-timeout 3s || exit 1
issue p2
logs=$(oracle 2)
if [ "$H_STATUS" = 200 ] && { [ "$logs" = 0,1 ] || [ "$logs" = 1,0 ]; }; then
  t_ok "2 of 2: two SCTs, one from each log, both valid for OpenSSL (${MS} ms)"
else
  t_bad "2 of 2: $H_STATUS, oracle: $logs"
fi
kill -TERM "$B_PID"; wait "$B_PID" 2>/dev/null
ls "$T_TMP/A.rec" >"$T_TMP/rec.before"
n0=$(issued_count p2)
issue p2
ls "$T_TMP/A.rec" >"$T_TMP/rec.after"
new=$(comm -13 "$T_TMP/rec.before" "$T_TMP/rec.after")
if [ "$H_STATUS" = 503 ] && [ "$(issued_count p2)" = "$n0" ]; then
  t_ok "2 of 2, B down: 503, nothing issued ($(jq -r .message <<<"$H_BODY" | head -c 250))"
else
  t_bad "2 of 2, B down: $H_STATUS $H_BODY"
fi
serial=${new%.der}
if [ -n "$new" ] && ! grep -q "issued serial=$serial" "$T_TMP/p2.serve.log"; then
  t_ok "A holds the precertificate $serial, and no certificate with that serial was issued"
else
  t_bad "A's precertificates: new '$new'"
fi

# ===== (g) start-up refusals =====
refuse() { # DESC REGEX ARGS...
  local desc=$1 re=$2 out rc
  shift 2
  out=$("$FULCRUM_BIN" serve --ca ephemeralca --config-path "$cfg" --port 0 --metrics-port 0 \
    --journal-dir "$T_TMP/refused.journal" "$@" 2>&1)
  rc=$?
  [ "$rc" != 0 ] && grep -Eq -- "$re" <<<"$out" && t_ok "$desc" || t_bad "$desc: rc=$rc $out"
}
refuse "two URLs, one key" "once per --ct-log-url" --ct-log-url "$A_URL" --ct-log-public-key-path "$A_PUB" --ct-log-url "$B_URL"
refuse "two logs, one origin" "once per --ct-log-url" --ct-log-url "$A_URL" --ct-log-public-key-path "$A_PUB" \
  --ct-log-url "$B_URL" --ct-log-public-key-path "$B_PUB" --ct-log-origin x
refuse "3 SCTs from 2 logs" "cannot be met by 2 logs" --ct-log-min-scts 3 --ct-log-url "$A_URL" \
  --ct-log-public-key-path "$A_PUB" --ct-log-url "$A_URL/x" --ct-log-public-key-path "$B_PUB"
refuse "2 operators, one named twice" "cannot be met by 2 logs of 1 operators" --ct-log-min-scts 2 --ct-log-min-operators 2 \
  --ct-log-url "$A_URL" --ct-log-public-key-path "$A_PUB" --ct-log-operator X \
  --ct-log-url "$B_URL" --ct-log-public-key-path "$B_PUB" --ct-log-operator X
refuse "the same key twice" "have the same key" --ct-log-url "$A_URL" --ct-log-public-key-path "$A_PUB" \
  --ct-log-url "$B_URL" --ct-log-public-key-path "$A_PUB"
refuse "config and URL together" "cannot be combined" --ct-log-config "$T_TMP/ct.yaml" --ct-log-url "$A_URL"
printf 'logs:\n  - {url: %s, operator: o}\n' "$A_URL" >"$T_TMP/bad.yaml"
refuse "config log without a key" "needs exactly one of public_key_path and public_key" --ct-log-config "$T_TMP/bad.yaml"
refuse "--ct-log-min-scts 0" 'bad value "0" for --ct-log-min-scts' --ct-log-min-scts 0

# every fulcrum stops cleanly
bad=""
for n in p1 cfg brk p2; do
  pid_var="${n}_PID"
  kill -TERM "${!pid_var}"
  for _ in $(seq 100); do kill -0 "${!pid_var}" 2>/dev/null || break; sleep 0.1; done
  wait "${!pid_var}" 2>/dev/null || bad+=" $n:exit-$?"
done
san=$(grep -lE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$T_TMP"/*.serve.log 2>/dev/null)
[ -z "$bad$san" ] && t_ok "every fulcrum stopped on SIGTERM with exit 0, no sanitizer report" \
  || t_bad "stop:$bad; sanitizer reports: $san $(for f in $san; do grep -m3 -E 'ERROR|runtime error' "$f"; done)"
t_done
