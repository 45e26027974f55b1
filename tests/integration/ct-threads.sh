#!/usr/bin/env bash
# Many submissions in flight cost no threads: 200 simultaneous signingCert
# requests against tests/tools/fake_ctlog answering each add-pre-chain after
# 1 s (a static-CT log sequencing its batch) all succeed, in about the time
# of one, while the Threads count of fulcrum serve (/proc/PID/status) stays
# flat before, during and after: waiting requests are suspended connections
# and curl transfers on the one CT I/O thread, not blocked workers.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || t_skip "jq not installed"
[ -r /proc/self/status ] || t_skip "no /proc"
: "${FULCRUM_FAKE_CTLOG:?FULCRUM_FAKE_CTLOG must name the fake_ctlog test tool (meson sets it)}"
N=${CT_THREADS_N:-200}

issuer_start idp
cfg="$T_TMP/config.json"
jq -n --arg u "$idp_URL" '{OIDCIssuers: {($u): {IssuerURL: $u, ClientID: "sigstore", Type: "email"}}}' >"$cfg"
pf="$T_TMP/fake.port"
"$FULCRUM_FAKE_CTLOG" serve --port-file "$pf" --key-out "$T_TMP/fake.pub" --mode ok --delay-ms 1000 \
  >"$T_TMP/fake.log" 2>&1 &
T_PIDS+=($!)
for _ in $(seq 100); do [ -s "$pf" ] && break; sleep 0.05; done
fake_URL="http://127.0.0.1:$(tr -d '\n' <"$pf")"

serve_start ca --ca ephemeralca --config-path "$cfg" --threads 4 --ct-log-url "$fake_URL" \
  --ct-log-public-key-path "$T_TMP/fake.pub" --ct-log-timeout 20s || exit 1
threads() { awk '/^Threads:/ {print $2}' "/proc/$ca_PID/status"; }

tok=$(mint "$idp_URL" '{"claims":{"sub":"alice-sub","email":"alice@example.com","email_verified":true}}')
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T_TMP/p256.pem" 2>/dev/null
v2_body "$tok" "$T_TMP/p256.pem" alice@example.com >"$T_TMP/body.json"

# One request first: the OIDC discovery/JWKS fetch and the first curl
# connection happen here, not inside the measurement.
http POST "$ca_URL/api/v2/signingCert" "$(cat "$T_TMP/body.json")"
[ "$H_STATUS" = 200 ] && t_ok "warm-up request issued" || { t_bad "warm-up: $H_STATUS $H_BODY"; t_done; exit 1; }
before=$(threads)

t0=$(date +%s%N)
seq "$N" | xargs -P "$N" -I{} curl -sS -o /dev/null -w '%{http_code}\n' --max-time 60 \
  -H 'Content-Type: application/json' --data-binary "@$T_TMP/body.json" "$ca_URL/api/v2/signingCert" \
  >"$T_TMP/codes" 2>"$T_TMP/curl.err" &
load=$!
max=$before
min=$before
sleep 0.3
while kill -0 "$load" 2>/dev/null; do
  n=$(threads)
  [ -n "$n" ] && { [ "$n" -gt "$max" ] && max=$n; [ "$n" -lt "$min" ] && min=$n; }
  sleep 0.05
done
wait "$load"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
after=$(threads)
ok=$(grep -c '^200$' "$T_TMP/codes")
[ "$ok" = "$N" ] && t_ok "$N simultaneous requests against a 1 s log: all 200, in ${ms} ms" \
  || t_bad "$ok of $N succeeded: $(sort "$T_TMP/codes" | uniq -c | tr '\n' ' ') $(head -3 "$T_TMP/curl.err")"
[ "$ms" -lt 15000 ] && t_ok "they waited for the log side by side (${ms} ms for $N x 1 s)" \
  || t_bad "took ${ms} ms: submissions were serialised"
echo "# threads: before $before, during $min..$max, after $after"
[ $((max - before)) -le 2 ] && [ $((after - before)) -le 2 ] && [ $((before - min)) -le 2 ] \
  && t_ok "thread count flat: before $before, during $min..$max, after $after" \
  || t_bad "thread count moved: before $before, during $min..$max, after $after"
[ "$(grep -c 'issued serial=' "$T_TMP/ca.serve.log")" = $((N + 1)) ] && t_ok "server log: $((N + 1)) issued" \
  || t_bad "issued lines: $(grep -c 'issued serial=' "$T_TMP/ca.serve.log")"

t_done
