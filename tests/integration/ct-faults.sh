#!/usr/bin/env bash
# fulcrum serve with --ct-log-url pointing at tests/tools/fake_ctlog (a
# misbehaving test tool, not a log). The happy path: exactly one embedded
# SCT, no poison, the final TBS equal to the logged precert's minus the
# poison/SCT list, OpenSSL's own CT code accepting the SCT, the chain
# verifying. Then every fault: the client gets the documented status and
# message, and nothing is issued (no "issued serial" line in the log).
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || t_skip "jq not installed"
: "${FULCRUM_FAKE_CTLOG:?FULCRUM_FAKE_CTLOG must name the fake_ctlog test tool (meson sets it)}"

issuer_start idp
cfg="$T_TMP/config.json"
jq -n --arg u "$idp_URL" '{OIDCIssuers: {($u): {IssuerURL: $u, ClientID: "sigstore", Type: "email"}}}' >"$cfg"

# fake_start NAME ARGS...: starts the fake log; sets NAME_URL, NAME_PUB.
fake_start() {
  local name=$1 pf="$T_TMP/$1.fake.port" i
  shift
  mkdir -p "$T_TMP/$name.rec"
  "$FULCRUM_FAKE_CTLOG" serve --port-file "$pf" --key-out "$T_TMP/$name.pub" \
    --record-dir "$T_TMP/$name.rec" "$@" >"$T_TMP/$name.fake.log" 2>&1 &
  T_PIDS+=($!)
  for i in $(seq 100); do [ -s "$pf" ] && break; sleep 0.05; done
  [ -s "$pf" ] || { echo "fake_ctlog $name did not start"; cat "$T_TMP/$name.fake.log"; exit 1; }
  printf -v "${name}_URL" 'http://127.0.0.1:%s' "$(tr -d '\n' < "$pf")"
  printf -v "${name}_PUB" '%s' "$T_TMP/$name.pub"
}
fake_mode() { # MODE [DELAY_MS]
  curl -fsS --max-time 5 "$fake_URL/fake/mode?set=$1&delay_ms=${2:-0}" >/dev/null
}
fake_subs() { curl -fsS --max-time 5 "$fake_URL/fake/stats" | jq .submissions; }

fake_start fake
serve_start ca --ca ephemeralca --config-path "$cfg" --ct-log-url "$fake_URL" \
  --ct-log-public-key-path "$fake_PUB" --ct-log-timeout 3s || exit 1
API=$ca_URL
LOG="$T_TMP/ca.serve.log"

tok=$(mint "$idp_URL" '{"claims":{"sub":"alice-sub","email":"alice@example.com","email_verified":true}}')
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T_TMP/p256.pem" 2>/dev/null
body=$(v2_body "$tok" "$T_TMP/p256.pem" alice@example.com)
issued_count() { grep -c 'issued serial=' "$LOG"; }

# --- start-up
grep -q 'no CT log' "$LOG" && t_bad "CT on, yet the no-CT warning was printed" || t_ok "CT on: no 'no CT log' warning"
grep -q 'does not list our root' "$LOG" \
  && t_ok "start-up get-roots: warns that the log does not list our root" \
  || t_bad "no get-roots warning: $(grep ctlog "$LOG" | head -3)"

# --- happy path, v2
http POST "$API/api/v2/signingCert" "$body"
if [ "$H_STATUS" = 200 ] && echo "$H_BODY" | jq -e '(.signedCertificateEmbeddedSct.chain.certificates | length) == 2 and (has("signedCertificateDetachedSct") | not)' >/dev/null; then
  t_ok "v2: 200 signedCertificateEmbeddedSct, leaf + root"
else
  t_bad "v2 happy path: $H_STATUS $H_BODY"
fi
echo "$H_BODY" | jq -r '.signedCertificateEmbeddedSct.chain.certificates[0]' >"$T_TMP/leaf.pem"
echo "$H_BODY" | jq -r '.signedCertificateEmbeddedSct.chain.certificates[1]' >"$T_TMP/root.pem"
text=$(openssl x509 -in "$T_TMP/leaf.pem" -noout -text 2>&1)
[ "$(grep -c 'Signed Certificate Timestamp:' <<<"$text")" = 1 ] && grep -q 'CT Precertificate SCTs' <<<"$text" \
  && t_ok "openssl x509 -text: one SCT in the SCT list extension" || t_bad "SCTs in leaf: $text"
grep -qi 'poison' <<<"$text" && t_bad "the leaf carries the poison" || t_ok "no poison in the final certificate"
grep -A1 'CT Precertificate SCTs' <<<"$text" | grep -q critical && t_bad "SCT list is critical" || t_ok "SCT list extension is not critical"
logid=$(openssl pkey -pubin -in "$fake_PUB" -outform DER 2>/dev/null | openssl dgst -sha256 -binary | od -An -tx1 | tr -d ' \n' | tr a-f A-F | sed 's/../&:/g; s/:$//')
grep -A6 'Signed Certificate Timestamp:' <<<"$text" | tr -d ' \n' | grep -q "$logid" \
  && t_ok "the SCT's log id is SHA-256 of the log key" || t_bad "log id $logid not in: $(grep -A6 'Signed Certificate Timestamp:' <<<"$text")"
openssl verify -CAfile "$T_TMP/root.pem" "$T_TMP/leaf.pem" >/dev/null 2>&1 \
  && t_ok "openssl verify: the chain verifies" || t_bad "openssl verify failed"
serial=$(openssl x509 -in "$T_TMP/leaf.pem" -noout -serial | cut -d= -f2)
if [ -f "$T_TMP/fake.rec/$serial.der" ]; then
  out=$("$FULCRUM_FAKE_CTLOG" check --cert "$T_TMP/leaf.pem" --issuer "$T_TMP/root.pem" \
    --precert "$T_TMP/fake.rec/$serial.der" --log-key "$fake_PUB" 2>&1)
  [ $? -eq 0 ] && t_ok "independent check: $out" || t_bad "independent check: $out"
else
  t_bad "the log was not sent a precert with the leaf's serial $serial"
fi
grep -q "issued serial=$serial .*sct=embedded" "$LOG" && t_ok "server log: issued serial with sct=embedded" \
  || t_bad "no issued line for $serial"

# --- happy path, v1: 201 PEM, no SCT header (the SCT is embedded)
der_b64=$(openssl pkey -in "$T_TMP/p256.pem" -pubout -outform DER 2>/dev/null | base64 -w0)
v1body=$(jq -n --arg k "$der_b64" --arg p "$(pop_b64 "$T_TMP/p256.pem" alice@example.com)" \
  '{publicKey: {content: $k}, signedEmailAddress: $p}')
http POST "$API/api/v1/signingCert" "$v1body" -H "Authorization: Bearer $tok"
if [ "$H_STATUS" = 201 ] && [ "$H_TYPE" = application/pem-certificate-chain ] && ! grep -qi '^SCT:' "$T_TMP/http.hdr" \
   && openssl x509 -noout -text <<<"$H_BODY" 2>/dev/null | grep -q 'CT Precertificate SCTs'; then
  t_ok "v1: 201 PEM chain, embedded SCT, no SCT header"
else
  t_bad "v1: $H_STATUS $H_TYPE $(head -c 300 <<<"$H_BODY")"
fi

# --- 429 + Retry-After: 1, then an SCT
fake_mode 429-once
before=$(fake_subs)
t0=$(date +%s%N)
http POST "$API/api/v2/signingCert" "$body"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
after=$(fake_subs)
[ "$H_STATUS" = 200 ] && [ $((after - before)) = 2 ] && [ "$ms" -ge 1000 ] \
  && t_ok "429 + Retry-After: 1: retried once after ${ms} ms, then issued" \
  || t_bad "429-once: $H_STATUS after $((after - before)) submissions in ${ms} ms: $H_BODY"

# --- faults: STATUS, message regex, nothing issued
fault() { # DESC MODE DELAY WANT_STATUS REGEX
  local desc=$1 mode=$2 delay=$3 want=$4 re=$5 n0 n1 t0 ms
  fake_mode "$mode" "$delay"
  n0=$(issued_count)
  t0=$(date +%s%N)
  http POST "$API/api/v2/signingCert" "$body"
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  n1=$(issued_count)
  if [ "$H_STATUS" = "$want" ] && [ "$n1" = "$n0" ] \
     && echo "$H_BODY" | jq -e --arg re "$re" '(.message | startswith("Error entering certificate in CTL: ")) and (.message | test($re))' >/dev/null; then
    t_ok "$desc: $H_STATUS in ${ms} ms, nothing issued: $(echo "$H_BODY" | jq -r .message | head -c 200)"
  else
    t_bad "$desc: status $H_STATUS (want $want), issued $n0 -> $n1, body $H_BODY (want /$re/)"
  fi
  LAST_MS=$ms
}
fault "log answers 400" 400 0 500 "refused the precertificate chain \\(400\\): fake_ctlog: chain does not chain"
grep -q 'ctlog: .*400.*fake_ctlog: chain does not chain' "$LOG" && t_ok "the log's 400 reason is in our log" || t_bad "400 reason not logged"
fault "log answers 503 forever" 503 0 503 "answered 503.*deadline of 3000 ms"
[ "$LAST_MS" -lt 6000 ] && t_ok "503 forever: gave up within the deadline (${LAST_MS} ms)" || t_bad "503: ${LAST_MS} ms"
fault "log answers 500" 500 0 502 "answered 500"
fault "log answers garbage" garbage 0 502 "not an SCT"
fault "SCT signed by another key" wrong-key 0 502 "does not verify"
fault "SCT over another certificate" wrong-cert 0 502 "does not verify"
fault "SCT from the future" future 0 502 "in the future"
fault "log slower than --ct-log-timeout" ok 5000 503 "deadline of 3000 ms"
[ "$LAST_MS" -lt 5000 ] && t_ok "slow log: answered after ${LAST_MS} ms (deadline 3 s)" || t_bad "slow: ${LAST_MS} ms"
fake_mode ok 0
http POST "$API/api/v2/signingCert" "$body"
[ "$H_STATUS" = 200 ] && t_ok "back to normal: issued again" || t_bad "after faults: $H_STATUS $H_BODY"

# --- a log that is down (closed port)
down_port=$(t_free_port)
serve_start cadown --ca ephemeralca --config-path "$cfg" --ct-log-url "http://127.0.0.1:$down_port" \
  --ct-log-public-key-path "$fake_PUB" --ct-log-timeout 1500ms || exit 1
grep -q 'cannot check its roots' "$T_TMP/cadown.serve.log" && t_ok "log down at start: warned, still serving" || t_bad "no get-roots warning when down"
LOG="$T_TMP/cadown.serve.log"
API=$cadown_URL
fault "log down (closed port)" ok 0 503 "cannot reach the log"

# --- start-up refusals and the explicit opt-out
out=$("$FULCRUM_BIN" serve --ca ephemeralca --config-path "$cfg" --port 0 --metrics-port 0 --ct-log-url "$fake_URL" 2>&1)
rc=$?
[ "$rc" != 0 ] && grep -q 'needs --ct-log-public-key-path' <<<"$out" && t_ok "a CT URL without a log key is refused at start-up" || t_bad "no key: rc=$rc $out"
out=$("$FULCRUM_BIN" serve --ca ephemeralca --config-path "$cfg" --port 0 --metrics-port 0 2>&1)
rc=$?
[ "$rc" != 0 ] && grep -q 'needs --ct-log-public-key-path' <<<"$out" && grep -q 'localhost:6962/test' <<<"$out" \
  && t_ok "default URL (Fulcio's) without a key is refused too" || t_bad "default: rc=$rc $out"
out=$("$FULCRUM_BIN" serve --ca ephemeralca --config-path "$cfg" --port 0 --metrics-port 0 --ct-log-url "$fake_URL" --ct-log-public-key-path "$cfg" \
  --journal-dir "$T_TMP/badkey.journal" 2>&1)
rc=$?
[ "$rc" != 0 ] && grep -q 'not a PEM public key' <<<"$out" && t_ok "a log key that is not a key is refused" || t_bad "bad key: rc=$rc $out"
out=$("$FULCRUM_BIN" serve --ca ephemeralca --config-path "$cfg" --port 0 --metrics-port 0 --ct-log-url "$fake_URL" --ct-log-public-key-path "$fake_PUB" --ct-log-timeout 10x 2>&1)
rc=$?
[ "$rc" != 0 ] && grep -q 'bad value "10x" for --ct-log-timeout' <<<"$out" && t_ok "--ct-log-timeout 10x is refused" || t_bad "timeout: rc=$rc $out"
serve_start nocct --ca ephemeralca --config-path "$cfg" --ct-log-url "" || exit 1
grep -q 'no CT log' "$T_TMP/nocct.serve.log" && t_ok "--ct-log-url \"\": warning at start" || t_bad "no warning without CT"

t_done
