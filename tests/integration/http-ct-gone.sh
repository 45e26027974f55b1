#!/usr/bin/env bash
# Clients that go away while their request waits for the CT log (a slow
# tests/tools/fake_ctlog), many times, under the suite's ASan/UBSan build:
# the server stays up and clean, and no certificate is signed for a client
# that was gone before signing. The answer for a dead connection arrives
# from the CT client's thread and is handed to the I/O thread, which finds
# the connection dead (the resume/complete path of common_int.h).
#   - round A: clients that wait get their certificate (the control);
#   - rounds B: 5 x 40 clients reset their connection 300 ms after sending,
#     while the log takes 1.5 s: their precertificates were signed and
#     logged (they were there), their final certificates never signed;
#   - round C: 300 clients at once on one worker, gone after 50 ms: most are
#     gone before issuance starts and get no precertificate either.
. "$(dirname "$0")/http-lib.sh"
command -v jq >/dev/null || t_skip "jq not installed"

issuer_start idp
signing_setup "$idp_URL"
fake_start fake
curl -fsS --max-time 5 "$fake_URL/fake/mode?set=ok&delay_ms=1500" >/dev/null
MP=$(t_free_port)
serve_start ca --ca ephemeralca --config-path "$CFG" --ct-log-url "$fake_URL" \
  --ct-log-public-key-path "$fake_PUB" --ct-log-timeout 10s --metrics-port "$MP" --threads 1 \
  || exit 1
P=$(port_of "$ca_URL")
M="http://127.0.0.1:$MP"
LOG="$T_TMP/ca.serve.log"
subs() { curl -fsS --max-time 5 "$fake_URL/fake/stats" | jq .submissions; }
certs() { metric "$M" fulcio_new_certs; }
post4xx() {
  curl -fsS --max-time 5 "$M/metrics" \
    | awk '/^http_requests_total\{code="4[0-9][0-9]",method="post"\}/ {n += $2} END {print n + 0}'
}

# A: three clients that wait.
pids=()
for i in 1 2 3; do
  curl -sS -o "$T_TMP/a$i.out" -w '%{http_code}' --max-time 30 -H 'Content-Type: application/json' \
    --data-binary @"$BODY_FILE" "$ca_URL/api/v2/signingCert" >"$T_TMP/a$i.code" &
  pids+=($!)
done
wait "${pids[@]}"
[ "$(cat "$T_TMP"/a?.code | tr -d '\n')" = 200200200 ] && t_ok "A: 3 clients that wait get 200" \
  || t_bad "A: $(cat "$T_TMP"/a?.code)"
c0=$(certs); s0=$(subs); f0=$(post4xx)
[ "$c0" = 3 ] && t_ok "A: fulcio_new_certs = 3" || t_bad "A: fulcio_new_certs = $c0"

# B: 5 rounds of 40 clients that leave before the SCT comes back.
left=0
for r in 1 2 3 4 5; do
  out=$($HC gone 127.0.0.1 "$P" --n 40 --after-ms 300 --post "$BODY_FILE" --path /api/v2/signingCert)
  left=$((left + $(jq .left <<<"$out")))
done
sleep 3 # every SCT is back: a final certificate would have been signed by now
c1=$(certs); s1=$(subs); f1=$(post4xx)
[ "$left" = 200 ] && t_ok "B: 200 clients left while their request waited for the log" || t_bad "B: left=$left"
[ "$c1" = "$c0" ] && t_ok "B: no final certificate signed for them (fulcio_new_certs still $c1)" \
  || t_bad "B: fulcio_new_certs went from $c0 to $c1"
[ $((s1 - s0)) = 200 ] && t_ok "B: their 200 precertificates were signed and logged while they were there" \
  || t_bad "B: the log got $((s1 - s0)) precertificates, want 200"
[ $((f1 - f0)) = 200 ] && t_ok "B: each was answered 4xx (499, client gone)" || t_bad "B: 4xx count +$((f1 - f0))"
[ "$(grep -c 'issued serial=' "$LOG")" = 3 ] && t_ok "B: the log names 3 issued certificates only" \
  || t_bad "B: issued lines: $(grep -c 'issued serial=' "$LOG")"

# C: 300 at once on one worker, gone after 50 ms.
out=$($HC gone 127.0.0.1 "$P" --n 300 --after-ms 50 --post "$BODY_FILE" --path /api/v2/signingCert)
sleep 4
c2=$(certs); s2=$(subs); f2=$(post4xx)
[ "$(jq .left <<<"$out")" = 300 ] && t_ok "C: 300 clients left" || t_bad "C: $out"
[ "$c2" = "$c1" ] && t_ok "C: no final certificate signed (fulcio_new_certs still $c2)" \
  || t_bad "C: fulcio_new_certs went from $c1 to $c2"
[ $((f2 - f1)) = 300 ] && t_ok "C: all 300 answered 4xx (499)" || t_bad "C: 4xx count +$((f2 - f1))"
[ $((s2 - s1)) -lt 300 ] \
  && t_ok "C: only $((s2 - s1)) of 300 got a precertificate: the rest were gone before issuance" \
  || t_bad "C: $((s2 - s1)) precertificates for 300 clients mostly gone before issuance"

# Still up, still issuing, and clean.
curl -fsS --max-time 5 "$fake_URL/fake/mode?set=ok&delay_ms=0" >/dev/null
http POST "$ca_URL/api/v2/signingCert" "$(cat "$BODY_FILE")"
[ "$H_STATUS" = 200 ] && t_ok "the server still issues" || t_bad "after: $H_STATUS $H_BODY"
[ "$(certs)" = $((c2 + 1)) ] && t_ok "fulcio_new_certs counts it" || t_bad "fulcio_new_certs $(certs)"
kill -TERM "$ca_PID"
for _ in $(seq 100); do kill -0 "$ca_PID" 2>/dev/null || break; sleep 0.1; done
wait "$ca_PID"
rc=$?
[ "$rc" = 0 ] && t_ok "clean exit (0)" || t_bad "exit status $rc"
sanitizer_clean "$LOG" && t_ok "no sanitizer report" || t_bad "sanitizer: $(grep -E -m3 'Sanitizer|runtime error' "$LOG")"
t_done
