#!/usr/bin/env bash
# A slow identity provider delays only its own tokens: fulcrum serve with a
# good issuer, an issuer whose discovery hangs, and a meta-issuer pattern
# matched by a flood of new tenants whose discovery takes 200 ms. While 20
# requests at once wait for the hanging issuer and 20 new tenants a second
# arrive, GET /healthz and the good issuer's signingCert keep their
# unloaded p99 (within 2x, plus 25 ms for the scheduler of a shared 2-core
# machine); the hanging issuer's requests end in 503 within the fetch
# timeout and hold no thread meanwhile; tenant discoveries stay within the
# new-issuer budget (5/s, burst 10).
set -uo pipefail
. "$(dirname "$0")/lib.sh"

repo=$(cd "$(dirname "$0")/../.." && pwd)
PY=${FULCRUM_DEPS:-$repo/.deps}/venv/bin/python
[ -x "$PY" ] || t_skip "the test venv is missing (tests/tools/install-interop.sh)"
command -v jq >/dev/null || t_skip "jq is needed"

issuer_start good
issuer_start hang
issuer_start meta
control "$hang_URL" '{"discovery":"hang"}' || t_bad "control hang"
control "$meta_URL" '{"tenant_delay_ms":200}' || t_bad "control meta"
cat >"$T_TMP/config.json" <<JSON
{"OIDCIssuers": {
   "$good_URL": {"IssuerURL": "$good_URL", "ClientID": "sigstore", "Type": "email"},
   "$hang_URL": {"IssuerURL": "$hang_URL", "ClientID": "sigstore", "Type": "email"}},
 "MetaIssuers": {
   "$meta_URL/tenant/*": {"ClientID": "sigstore", "Type": "email"}}}
JSON
serve_start s --ca ephemeralca --config-path "$T_TMP/config.json" || { t_bad "serve did not start"; t_done; exit 1; }

seconds=12
for round in 1 2 3; do
  out=$("$PY" "$(dirname "$0")/serve-idp-isolation.py" "$s_URL" "$good_URL" "$hang_URL" "$meta_URL" "$seconds" 2>"$T_TMP/driver.err")
  [ -n "$out" ] || { t_bad "driver failed: $(tail -5 "$T_TMP/driver.err")"; break; }
  echo "round $round: $out"
  ok=$(jq -r '[.loaded.healthz_p99_ms <= 2 * .unloaded.healthz_p99_ms + 25,
               .loaded.sign_p99_ms <= 2 * .unloaded.sign_p99_ms + 25] | all' <<<"$out")
  [ "$ok" = true ] && break
done
[ "$ok" = true ] && t_ok "healthz and the good issuer keep their p99 (2x + 25 ms): $(jq -c '{unloaded, loaded}' <<<"$out")" \
  || t_bad "p99 not kept in 3 rounds: $(jq -c '{unloaded, loaded}' <<<"$out")"
jq -e '.unloaded.failures == 0 and .loaded.failures == 0' <<<"$out" >/dev/null \
  && t_ok "every good request answered 200" || t_bad "good requests failed: $out"
jq -e '(.attack.hanging | keys) - ["503"] == [] and (.attack.hanging["503"] // 0) >= 20' <<<"$out" >/dev/null \
  && t_ok "the hanging issuer's tokens end in 503 ($(jq -c .attack.hanging <<<"$out"))" \
  || t_bad "hanging issuer answers: $(jq -c .attack.hanging <<<"$out")"
jq -e '(.attack.tenants | keys) - ["200", "503"] == [] and (.attack.tenants["200"] // 0) >= 1' <<<"$out" >/dev/null \
  && t_ok "new tenants are served or refused 503 ($(jq -c .attack.tenants <<<"$out"))" \
  || t_bad "tenant answers: $(jq -c .attack.tenants <<<"$out")"
disc=$(curl -fsS "$meta_URL/stats" | jq '.tenant_discovery')
# 3 rounds at most of `seconds` each: burst 10 + 5/s per round, plus slack
# for the fetches in flight at each second's edge.
max=$(( 3 * (10 + 5 * (seconds + 2)) ))
[ "$disc" -le "$max" ] && t_ok "tenant discoveries within the budget: $disc (at most $max)" \
  || t_bad "tenant discoveries over the budget: $disc > $max"
t_done
