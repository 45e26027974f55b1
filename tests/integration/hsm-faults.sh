#!/usr/bin/env bash
# HSM faults with requests in flight (8 parallel curl loops):
#   * through tests/tools/pkcs11_shim.c wrapping SoftHSM2: transient faults
#     (a session invalidated, closed, the login lost, a device error) are
#     retried invisibly: every request answers 200;
#   * the token removed ("device-removed until cleared"): 503 with "error
#     communicating with CA backend", /readyz 503, nothing issued; once it
#     is back, 200 again without a restart;
#   * a real SoftHSM2 token whose directory is moved away and back.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/hsm-lib.sh"
SHIM=${FULCRUM_PKCS11_SHIM:-}
[ -n "$SHIM" ] && [ -r "$SHIM" ] || t_skip "FULCRUM_PKCS11_SHIM (the fault-injecting module) not built"

hsm_init fulcio
crypto11_conf "$T_TMP/softhsm.json" fulcio
"$FULCRUM_BIN" createca --pkcs11-config-path "$T_TMP/softhsm.json" --hsm-caroot-id 1 --out "$T_TMP/root.pem" \
  >"$T_TMP/createca.log" 2>&1 || { t_bad "createca: $(cat "$T_TMP/createca.log")"; t_done; exit 1; }
crypto11_conf "$T_TMP/shim.json" fulcio "$SHIM"
export FULCRUM_SHIM_MODULE="$SOFTHSM_MODULE" FULCRUM_SHIM_CONTROL="$T_TMP/fault"
: >"$FULCRUM_SHIM_CONTROL"
# fault CMD: replace the shim's command atomically (a reader must never see
# half of it).
fault() { printf '%s\n' "$1" >"$FULCRUM_SHIM_CONTROL.tmp" && mv "$FULCRUM_SHIM_CONTROL.tmp" "$FULCRUM_SHIM_CONTROL"; }

issuer_start idp
jq -n --arg u "$idp_URL" '{OIDCIssuers: {($u): {IssuerURL: $u, ClientID: "sigstore", Type: "email"}}}' >"$T_TMP/config.json"
serve_start ca --ca pkcs11ca --config-path "$T_TMP/config.json" --pkcs11-config-path "$T_TMP/shim.json" \
  --hsm-caroot-id 1 --threads 8 || { t_bad "serve through the shim: $(cat "$T_TMP/ca.serve.log")"; t_done; exit 1; }
leaf_body "$idp_URL" >"$T_TMP/body.json"

# load URL SECONDS TAG: 8 parallel loops of requests for SECONDS; codes in
# $T_TMP/TAG.codes, one line per response, bodies of non-200 in TAG.err.
load() {
  local url=$1 secs=$2 tag=$3 i
  LOAD_PIDS=()
  : >"$T_TMP/$tag.codes"
  : >"$T_TMP/$tag.err"
  for i in $(seq 8); do
    ( end=$((SECONDS + secs))
      while [ "$SECONDS" -lt "$end" ]; do
        code=$(curl -s -o "$T_TMP/$tag.$i.body" -w '%{http_code}' --max-time 10 -X POST \
          -H 'Content-Type: application/json' --data-binary @"$T_TMP/body.json" "$url/api/v2/signingCert")
        echo "$code" >>"$T_TMP/$tag.codes"
        [ "$code" = 200 ] || head -c 300 "$T_TMP/$tag.$i.body" >>"$T_TMP/$tag.err"
      done ) &
    LOAD_PIDS+=($!)
  done
}
# load_wait: until the loops of the last load() end (a bare `wait` would
# also wait for the servers).
load_wait() { wait "${LOAD_PIDS[@]}"; }
summary() { sort "$T_TMP/$1.codes" | uniq -c | tr -s ' \n' ' '; }

# --- transient faults, each once (or a few times) under load ---
load "$ca_URL" 4 transient
sleep 0.5
for f in "session-invalid once" "session-closed once" "not-logged-in once" "device-error once" \
         "device-memory once" "general-error once" "token-not-present once"; do
  fault "$f"
  sleep 0.35
done
load_wait
injected=$(wc -l <"$FULCRUM_SHIM_CONTROL.count" 2>/dev/null || echo 0)
n=$(wc -l <"$T_TMP/transient.codes")
if [ "$injected" -ge 7 ] && [ "$n" -gt 50 ] && [ "$(grep -vc '^200$' "$T_TMP/transient.codes")" = 0 ]; then
  t_ok "transient faults: $injected injected, $n requests in flight all 200"
else
  t_bad "transient faults: injected=$injected ($(sort "$FULCRUM_SHIM_CONTROL.count" | uniq -c | tr -s ' \n' ' ')) codes: $(summary transient) $(head -c 600 "$T_TMP/transient.err")"
fi
grep -q 'reconnected, logged in again' "$T_TMP/ca.serve.log" && t_ok "the server logged the reconnection" \
  || t_bad "no reconnection in the log"

# --- the token removed, under load ---
: >"$FULCRUM_SHIM_CONTROL.count"
fault "device-removed until cleared"
sleep 0.3
issued_before=$(grep -c 'issued serial=' "$T_TMP/ca.serve.log")
load "$ca_URL" 2 removed
sleep 1.2   # readiness trusts a signature made within the last second
http GET "$ca_URL/readyz"
ready_status=$H_STATUS ready_body=$H_BODY
load_wait
issued_after=$(grep -c 'issued serial=' "$T_TMP/ca.serve.log")
if [ "$(grep -c '^503$' "$T_TMP/removed.codes")" -gt 10 ] && [ "$(grep -vc '^503$' "$T_TMP/removed.codes")" = 0 ] \
   && grep -q 'error communicating with CA backend' "$T_TMP/removed.err"; then
  t_ok "token removed: $(wc -l <"$T_TMP/removed.codes") requests, all 503: $(head -c 200 "$T_TMP/removed.err" | tr -d '\n')"
else
  t_bad "token removed: $(summary removed) $(head -c 400 "$T_TMP/removed.err")"
fi
[ "$issued_before" = "$issued_after" ] && t_ok "nothing issued while the token was away" \
  || t_bad "issued while away: $issued_before -> $issued_after"
[ "$ready_status" = 503 ] && t_ok "/readyz 503 while the token is away: $ready_body" || t_bad "/readyz: $ready_status $ready_body"

# --- the token back: service resumes without a restart ---
fault ""
back=
for i in $(seq 30); do
  http GET "$ca_URL/readyz"
  [ "$H_STATUS" = 200 ] && { back=$i; break; }
  sleep 0.1
done
[ -n "$back" ] && t_ok "/readyz 200 again $((back * 100)) ms after the token returned" || t_bad "/readyz stays $H_STATUS"
load "$ca_URL" 2 back
load_wait
kill -0 "$ca_PID" 2>/dev/null && [ "$(grep -vc '^200$' "$T_TMP/back.codes")" = 0 ] && [ "$(wc -l <"$T_TMP/back.codes")" -gt 10 ] \
  && t_ok "token back: $(wc -l <"$T_TMP/back.codes") requests all 200, same process" || t_bad "after return: $(summary back)"

# --- a non-fault error is not retried as a fault and does not stop service ---
fault "function-failed once"
http POST "$ca_URL/api/v2/signingCert" "$(cat "$T_TMP/body.json")"
first=$H_STATUS
http POST "$ca_URL/api/v2/signingCert" "$(cat "$T_TMP/body.json")"
[ "$first" = 500 ] && [ "$H_STATUS" = 200 ] && t_ok "CKR_FUNCTION_FAILED: one 500, then 200" \
  || t_bad "function-failed: $first then $H_STATUS"

# --- a real SoftHSM2 token directory moved away and back ---
serve_start direct --ca pkcs11ca --config-path "$T_TMP/config.json" --pkcs11-config-path "$T_TMP/softhsm.json" \
  --hsm-caroot-id 1 || { t_bad "serve on SoftHSM2: $(cat "$T_TMP/direct.serve.log")"; t_done; exit 1; }
mv "$T_TMP/tokens" "$T_TMP/tokens.away"
load "$direct_URL" 1 moved
load_wait
http GET "$direct_URL/readyz"
moved_ready=$H_STATUS
if [ "$(grep -c '^503$' "$T_TMP/moved.codes")" -gt 0 ] && [ "$(grep -vc '^503$' "$T_TMP/moved.codes")" = 0 ] && [ "$moved_ready" = 503 ]; then
  t_ok "token directory moved away: $(wc -l <"$T_TMP/moved.codes") requests all 503, /readyz 503"
else
  t_bad "token directory moved away: $(summary moved) readyz=$moved_ready $(head -c 300 "$T_TMP/moved.err")"
fi
mv "$T_TMP/tokens.away" "$T_TMP/tokens"
back=
for i in $(seq 30); do
  http GET "$direct_URL/readyz"
  [ "$H_STATUS" = 200 ] && { back=$i; break; }
  sleep 0.1
done
http POST "$direct_URL/api/v2/signingCert" "$(cat "$T_TMP/body.json")"
[ -n "$back" ] && [ "$H_STATUS" = 200 ] && t_ok "token directory back: /readyz 200 and certificates again, no restart" \
  || t_bad "after moving back: readyz=$back sign=$H_STATUS $H_BODY $(tail -3 "$T_TMP/direct.serve.log")"
grep -qF "$USER_PIN" "$T_TMP/ca.serve.log" "$T_TMP/direct.serve.log" && t_bad "PIN in a log" || t_ok "the PIN appears in no log"
t_done
