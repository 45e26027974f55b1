#!/usr/bin/env bash
# SIGHUP reloads fulcrum serve's identity configuration (Fulcio cannot).
# A new file adding an issuer: its tokens are accepted afterwards and
# /api/v2/configuration lists it, while a small load of signing requests
# runs across the reload -- some of them parked, waiting for the identity
# provider's discovery, when the signal lands -- and every one of them
# succeeds; the previous verifier is freed once its last request is done
# and its fetch thread ends (the thread count is back where it was). A
# broken file (bad YAML, then a bad value): refused in one line naming the
# file and the problem, the issuers in use keep working, the metrics say the
# last reload failed. A good file again, then a clean stop without a
# sanitizer report (a verifier leaked or freed twice would show).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
PY=${FULCRUM_DEPS:-$here/../../.deps}/venv/bin/python
PT=("$PY" "$here/../tools/promtext.py")
for tool in jq curl openssl python3; do
  command -v "$tool" >/dev/null || t_skip "$tool not installed"
done
"$PY" -c 'import prometheus_client' 2>/dev/null \
  || t_skip "prometheus_client not installed in the test venv (tests/tools/install-interop.sh)"
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

issuer_start ia
issuer_start ib
cfg="$T_TMP/identity.yaml"   # Fulcio's YAML names (oidc-issuers, issuer-url, ...)
one_issuer() { printf 'oidc-issuers:\n  "%s":\n    issuer-url: %s\n    client-id: sigstore\n    type: email\n' "$ia_URL" "$ia_URL"; }
two_issuers() { one_issuer; printf '  "%s":\n    issuer-url: %s\n    client-id: sigstore\n    type: email\n' "$ib_URL" "$ib_URL"; }
one_issuer >"$cfg"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T_TMP/key.pem" 2>/dev/null
tok_a=$(mint "$ia_URL" '{"claims":{"sub":"a","email":"alice@example.com","email_verified":true}}')
tok_b=$(mint "$ib_URL" '{"claims":{"sub":"b","email":"bob@example.com","email_verified":true}}')
v2_body "$tok_a" "$T_TMP/key.pem" alice@example.com >"$T_TMP/body_a.json"
v2_body "$tok_b" "$T_TMP/key.pem" bob@example.com >"$T_TMP/body_b.json"
MP=$(t_free_port)
serve_start ca --ca ephemeralca --config-path "$cfg" --metrics-port "$MP" \
  || { t_bad "fulcrum serve did not start"; t_done; exit 1; }
LOG="$T_TMP/ca.serve.log"
threads() { awk '/^Threads:/ {print $2}' "/proc/$ca_PID/status"; }
issuers() { curl -fsS --max-time 10 "$ca_URL/api/v2/configuration" | jq -c '[.issuers[].issuerUrl] | sort'; }
sign() { curl -s -o /dev/null -w '%{http_code}' --max-time 30 -X POST -H 'Content-Type: application/json' \
  --data-binary @"$1" "$ca_URL/api/v2/signingCert"; }
metric() { curl -fsS --max-time 5 "http://127.0.0.1:$MP/metrics" >"$T_TMP/m.txt" && "${PT[@]}" value "$T_TMP/m.txt" "$@"; }
# wait_log REGEX: until a line of the log matches (10 s).
wait_log() { for _ in $(seq 100); do grep -Eq "$1" "$LOG" && return 0; sleep 0.1; done; return 1; }

th0=$(threads)
[ "$(sign "$T_TMP/body_b.json")" = 400 ] && t_ok "before: a token of issuer B is refused (not configured)" \
  || t_bad "before: B not refused"
[ "$(issuers)" = "[\"$ia_URL\"]" ] && t_ok "before: the configuration lists A only" || t_bad "before: $(issuers)"

# --- SIGHUP with A and B, under load, some requests parked on A's discovery ---
control "$ia_URL" '{"discovery_delay_ms": 2500}'
load_loop() { # I: signing requests (start time, status, duration) and
  # configuration reads (status) until $T_TMP/stop
  while [ ! -e "$T_TMP/stop" ]; do
    printf '%s ' "$(date +%s.%N)" >>"$T_TMP/sign.$1"
    curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 30 -X POST \
      -H 'Content-Type: application/json' --data-binary @"$T_TMP/body_a.json" \
      "$ca_URL/api/v2/signingCert" >>"$T_TMP/sign.$1"
    curl -s -o /dev/null -w '%{http_code}\n' --max-time 30 "$ca_URL/api/v2/configuration" >>"$T_TMP/conf.$1"
  done
}
loaders=()
for i in 1 2 3 4; do load_loop "$i" & loaders+=($!); done
sleep 0.8 # the first requests wait for A's discovery in the current verifier
two_issuers >"$cfg.new" && mv "$cfg.new" "$cfg"
t_hup=$(date +%s.%N)
kill -HUP "$ca_PID"
wait_log 'reloaded the identity configuration' || t_bad "no reload line: $(tail -3 "$LOG")"
control "$ia_URL" '{"discovery_delay_ms": 0}'
sleep 4
touch "$T_TMP/stop"
wait "${loaders[@]}"
n=$(cat "$T_TMP"/sign.* "$T_TMP"/conf.* | grep -c .)
not200=$( (awk '{print $2}' "$T_TMP"/sign.*; cat "$T_TMP"/conf.*) | grep -v '^200$' | grep -c .)
[ "$n" -ge 8 ] && [ "$not200" = 0 ] && t_ok "$n requests across the reload (signing and configuration), all 200" \
  || t_bad "load: $not200 of $n not 200: $( (awk '{print $2}' "$T_TMP"/sign.*; cat "$T_TMP"/conf.*) | sort | uniq -c | tr '\n' ' ')"
parked=$(cat "$T_TMP"/sign.* | awk -v h="$t_hup" '$2 == 200 && $1 < h && $1 + $3 > h + 0.5' | grep -c .)
[ "$parked" -ge 1 ] && t_ok "$parked signing requests started before the SIGHUP and answered 200 well after it (parked for A's discovery in the old verifier)" \
  || t_bad "no request was in flight across the reload: $(cat "$T_TMP"/sign.* | head -5 | tr '\n' ' ') (SIGHUP at $t_hup)"
grep -q "reloaded the identity configuration from $cfg: 2 issuers, 0 meta-issuers" "$LOG" \
  && t_ok "one line says what was reloaded" || t_bad "reload line: $(grep reload "$LOG")"
wait_log 'previous identity configuration \(1 issuers\) is released' \
  && awk '/reloaded the identity configuration/ {r = NR} /previous identity configuration/ {p = NR} END {exit !(r && p > r)}' "$LOG" \
  && t_ok "the previous verifier is freed after its last request, parked ones included" \
  || t_bad "no release line: $(grep -E 'reload|released' "$LOG")"
for _ in $(seq 50); do [ "$(threads)" = "$th0" ] && break; sleep 0.1; done
[ "$(threads)" = "$th0" ] && t_ok "threads back to $th0: the old verifier's fetch thread ended" \
  || t_bad "threads: $th0 before, $(threads) after"
[ "$(sign "$T_TMP/body_b.json")" = 200 ] && t_ok "after: a token of issuer B is accepted" || t_bad "after: B refused"
[ "$(sign "$T_TMP/body_a.json")" = 200 ] && t_ok "after: issuer A still works" || t_bad "after: A refused"
[ "$(issuers)" = "$(jq -cn --arg a "$ia_URL" --arg b "$ib_URL" '[$a, $b] | sort')" ] \
  && t_ok "after: /api/v2/configuration lists A and B" || t_bad "after: $(issuers)"
[ "$(metric fulcrum_identity_config_reloads_total result=success)" = 1 ] \
  && [ "$(metric fulcrum_identity_config_last_reload_successful)" = 1 ] \
  && t_ok "metrics: one successful reload" || t_bad "metrics: $(grep identity_config "$T_TMP/m.txt")"

# --- broken files: refused, the configuration in use kept ---
refused() { # DESC CONTENT REGEX
  local before
  before=$(grep -c 'reload of the identity configuration refused' "$LOG")
  printf '%s' "$2" >"$cfg.new" && mv "$cfg.new" "$cfg"
  kill -HUP "$ca_PID"
  for _ in $(seq 100); do
    [ "$(grep -c 'reload of the identity configuration refused' "$LOG")" -gt "$before" ] && break
    sleep 0.1
  done
  local lines
  lines=$(grep 'reload of the identity configuration refused' "$LOG" | tail -n +$((before + 1)))
  if [ "$(grep -c . <<<"$lines")" = 1 ] && grep -qF "$cfg" <<<"$lines" && grep -Eq "$3" <<<"$lines"; then
    t_ok "$1: refused in one line: ${lines#*: }"
  else
    t_bad "$1: $lines"
  fi
  [ "$(sign "$T_TMP/body_a.json")" = 200 ] && [ "$(sign "$T_TMP/body_b.json")" = 200 ] \
    && [ "$(issuers)" = "$(jq -cn --arg a "$ia_URL" --arg b "$ib_URL" '[$a, $b] | sort')" ] \
    && t_ok "$1: A and B still work, the configuration unchanged" || t_bad "$1: the configuration in use changed"
}
refused "bad YAML" $'oidc-issuers: [\n' 'YAML line [0-9]+'
refused "a bad value" "{\"OIDCIssuers\": {\"$ia_URL\": {\"IssuerURL\": \"$ia_URL\", \"ClientID\": \"sigstore\", \"Type\": \"no-such-type\"}}}" 'no-such-type'
[ "$(metric fulcrum_identity_config_reloads_total result=failure)" = 2 ] \
  && [ "$(metric fulcrum_identity_config_last_reload_successful)" = 0 ] \
  && t_ok "metrics: two refused reloads, the last reload failed" || t_bad "metrics: $(grep identity_config "$T_TMP/m.txt")"
one_issuer >"$cfg.new" && mv "$cfg.new" "$cfg"
kill -HUP "$ca_PID"
wait_log 'reloaded the identity configuration from .*: 1 issuers' || true
[ "$(sign "$T_TMP/body_b.json")" = 400 ] && [ "$(sign "$T_TMP/body_a.json")" = 200 ] \
  && [ "$(metric fulcrum_identity_config_last_reload_successful)" = 1 ] \
  && t_ok "a good file again: B removed, A served, the metric back to 1" || t_bad "last reload"

kill -TERM "$ca_PID"
for _ in $(seq 100); do kill -0 "$ca_PID" 2>/dev/null || break; sleep 0.1; done
wait "$ca_PID"
rc=$?
[ "$rc" = 0 ] && t_ok "clean stop (0)" || t_bad "exit status $rc"
! grep -Eq 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:' "$LOG" \
  && t_ok "no sanitizer report" || t_bad "sanitizer: $(grep -E -m3 'Sanitizer|runtime error' "$LOG")"
t_done
