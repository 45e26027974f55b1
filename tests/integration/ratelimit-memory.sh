#!/usr/bin/env bash
# fulcrum serve --rate-limit-config (limits in this process's memory) over
# real HTTP: an identity over its limit gets 429 with Retry-After in
# Fulcio's JSON error shape while another identity is served; overrides
# (unlimited, 0); requests refused before the limit (bad proof of
# possession) take nothing from it; the source repository of CI identities
# is a bucket of its own; refusals are counted by issuer; nothing is issued
# on a 429; bad configurations stop the server at start.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || t_skip "jq not installed"

issuer_start idp
issuer_start ghw
cfg="$T_TMP/config.json"
jq -n --arg u "$idp_URL" --arg g "$ghw_URL" '{OIDCIssuers: {
  ($u): {IssuerURL: $u, ClientID: "sigstore", Type: "email"},
  ($g): {IssuerURL: $g, ClientID: "sigstore", Type: "github-workflow"}}}' >"$cfg"
rl="$T_TMP/ratelimit.yaml"
cat >"$rl" <<EOF
default:
  identity: {rate: 2/hour, burst: 2}
issuers:
  - issuer: $ghw_URL
    identity: {rate: 1/hour, burst: 5}
    repository: {rate: 1/hour, burst: 3}
overrides:
  - issuer: $idp_URL
    subject: bot@example.com
    rate: unlimited
  - issuer: $idp_URL
    subject: banned@example.com
    rate: 0
EOF
mport=$(t_free_port)
serve_start ca --ca ephemeralca --config-path "$cfg" --rate-limit-config "$rl" \
  --metrics-port "$mport" || exit 1
API=$ca_URL
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T_TMP/key.pem" 2>/dev/null

email_token() { mint "$idp_URL" "{\"claims\":{\"sub\":\"$1-sub\",\"email\":\"$1\",\"email_verified\":true}}"; }
# sign TOKEN POP_SUBJECT [v1]: one signingCert request; sets H_STATUS, H_BODY, H_RETRY.
sign() {
  if [ "${3:-}" = v1 ]; then
    local b
    b=$(jq -n --arg k "$(openssl pkey -in "$T_TMP/key.pem" -pubout -outform DER 2>/dev/null | base64 -w0)" \
      --arg p "$(pop_b64 "$T_TMP/key.pem" "$2")" '{publicKey: {content: $k}, signedEmailAddress: $p}')
    http POST "$API/api/v1/signingCert" "$b" -H "Authorization: Bearer $1"
  else
    http POST "$API/api/v2/signingCert" "$(v2_body "$1" "$T_TMP/key.pem" "$2")"
  fi
  H_RETRY=$(grep -i '^retry-after:' "$T_TMP/http.hdr" | cut -d' ' -f2- | tr -d '\r')
}
issued_count() { grep -c 'issued serial=' "$T_TMP/ca.serve.log"; }
# expect_429 DESC RETRY_AFTER_REGEX MESSAGE_REGEX
expect_429() {
  if [ "$H_STATUS" = 429 ] && [ "$H_TYPE" = application/json ] && [[ "$H_RETRY" =~ ^($2)$ ]] \
     && echo "$H_BODY" | jq -e '.code == 8 and .details == []' >/dev/null \
     && echo "$H_BODY" | jq -r .message | grep -Eq -- "$3"; then
    t_ok "$1: 429, Retry-After $H_RETRY: $(echo "$H_BODY" | jq -r .message | head -c 200)"
  else
    t_bad "$1: $H_STATUS Retry-After=$H_RETRY $H_BODY (want 429, $2, /$3/)"
  fi
}

alice=$(email_token alice@example.com)
bob=$(email_token bob@example.com)

# --- the burst, then 429 with the identity and when to retry
ok=0
for _ in 1 2; do sign "$alice" alice@example.com; [ "$H_STATUS" = 200 ] && ok=$((ok + 1)); done
[ "$ok" = 2 ] && t_ok "alice: the burst of 2 is served" || t_bad "alice: $ok of 2 served ($H_STATUS $H_BODY)"
issued=$(issued_count)
sign "$alice" alice@example.com
# 2/hour: the next token is 30 minutes away.
expect_429 "alice over her limit" 1800 "identity alice@example.com of issuer $idp_URL is over its limit of 2/hour \(burst 2\); retry in 1800 s"
grep -qF "${alice%%.*}" <<<"$H_BODY" && t_bad "the 429 quotes the token" || t_ok "the 429 does not quote the token"
sign "$alice" alice@example.com v1
expect_429 "alice through the v1 API: the same bucket" "17[0-9][0-9]|1800" "alice@example.com"
sign "$bob" bob@example.com
[ "$H_STATUS" = 200 ] && echo "$H_BODY" | jq -e '.signedCertificateDetachedSct.chain.certificates | length == 2' >/dev/null \
  && t_ok "bob is served while alice is limited" || t_bad "bob: $H_STATUS $H_BODY"
[ "$(issued_count)" = $((issued + 1)) ] && t_ok "no certificate issued for a 429" || t_bad "issued count $(issued_count), want $((issued + 1))"

# --- overrides
bot=$(email_token bot@example.com)
ok=0
for _ in $(seq 6); do sign "$bot" bot@example.com; [ "$H_STATUS" = 200 ] && ok=$((ok + 1)); done
[ "$ok" = 6 ] && t_ok "override unlimited: 6 of 6 served" || t_bad "bot: $ok of 6 served"
sign "$(email_token banned@example.com)" banned@example.com
expect_429 "override 0" 3600 "banned@example.com of issuer .* may not obtain certificates"

# --- a request refused before the limit takes nothing from it
carol=$(email_token carol@example.com)
bad=0
for _ in 1 2 3; do sign "$carol" mallory@example.com; [ "$H_STATUS" = 400 ] && bad=$((bad + 1)); done
ok=0
for _ in 1 2; do sign "$carol" carol@example.com; [ "$H_STATUS" = 200 ] && ok=$((ok + 1)); done
[ "$bad" = 3 ] && [ "$ok" = 2 ] && t_ok "3 bad proofs of possession (400) left carol's burst whole" \
  || t_bad "carol: $bad refused, then $ok of 2 served"
dave=$(email_token dave@example.com)
sig=${dave##*.}
forged="${dave%.*}.$( [ "${sig:0:1}" = A ] && echo B || echo A )${sig:1}"
bad=0
for _ in 1 2 3; do sign "$forged" dave@example.com; [ "$H_STATUS" = 400 ] && bad=$((bad + 1)); done
ok=0
for _ in 1 2; do sign "$dave" dave@example.com; [ "$H_STATUS" = 200 ] && ok=$((ok + 1)); done
[ "$bad" = 3 ] && [ "$ok" = 2 ] && t_ok "3 tokens with a broken signature naming dave (400) left dave's burst whole" \
  || t_bad "dave: $bad refused, then $ok of 2 served"

# --- CI identities: the repository is a bucket of its own
gh_token() { # REPO WORKFLOW
  mint "$ghw_URL" "{\"claims\":{\"sub\":\"repo:$1:ref:refs/heads/main\",\"job_workflow_ref\":\"$1/.github/workflows/$2@refs/heads/main\",\"sha\":\"1111111111111111111111111111111111111111\",\"event_name\":\"push\",\"repository\":\"$1\",\"workflow\":\"$2\",\"ref\":\"refs/heads/main\",\"job_workflow_sha\":\"2222222222222222222222222222222222222222\",\"runner_environment\":\"github-hosted\",\"repository_id\":\"42\",\"repository_owner\":\"acme\",\"repository_owner_id\":\"7\",\"repository_visibility\":\"public\",\"workflow_ref\":\"$1/.github/workflows/$2@refs/heads/main\",\"workflow_sha\":\"2222222222222222222222222222222222222222\",\"run_id\":\"99\",\"run_attempt\":\"1\"}}"
}
rel=$(gh_token acme/app release.yml)
tst=$(gh_token acme/app test.yml)
lib=$(gh_token acme/lib release.yml)
ok=0
for t in "$rel" "$rel" "$tst"; do sign "$t" repo:acme/app:ref:refs/heads/main; [ "$H_STATUS" = 200 ] && ok=$((ok + 1)); done
sign "$tst" repo:acme/app:ref:refs/heads/main
[ "$ok" = 3 ] && t_ok "two workflows of acme/app share its burst of 3" || t_bad "acme/app: $ok of 3 served"
expect_429 "acme/app's 4th certificate (test.yml has identity tokens left)" 3600 \
  "repository https://github.com/acme/app of issuer $ghw_URL is over its limit of 1/hour \(burst 3\)"
sign "$lib" repo:acme/lib:ref:refs/heads/main
[ "$H_STATUS" = 200 ] && t_ok "acme/lib is served" || t_bad "acme/lib: $H_STATUS $H_BODY"

# --- metrics: refusals by issuer
m=$(curl -fsS --max-time 10 "http://127.0.0.1:$mport/metrics")
grep -qx "fulcrum_rate_limited_total{issuer=\"$idp_URL\"} 3" <<<"$m" \
  && grep -qx "fulcrum_rate_limited_total{issuer=\"$ghw_URL\"} 1" <<<"$m" \
  && grep -q '^fulcrum_rate_limit_keys [1-9]' <<<"$m" && ! grep -q redis <<<"$m" \
  && t_ok "metrics count the 429s by issuer" || t_bad "metrics: $(grep rate_limit <<<"$m")"

# --- configurations refused at start
start_refused() { # DESC REGEX ARGS...
  local desc=$1 re=$2 out rc
  shift 2
  out=$(timeout 20 "$FULCRUM_BIN" serve --ca ephemeralca --config-path "$cfg" --host 127.0.0.1 --port 0 \
    --metrics-port 0 --ct-log-url "" --journal-dir "$T_TMP/refused.journal" "$@" 2>&1)
  rc=$?
  [ "$rc" = 2 ] && grep -Eq -- "$re" <<<"$out" && t_ok "$desc: $(grep -E -- "$re" <<<"$out" | head -c 200)" \
    || t_bad "$desc: rc=$rc $out (want 2, /$re/)"
}
printf 'default:\n  identity: {rate: 10, burst: 2}\n' >"$T_TMP/bad.yaml"
start_refused "a rate without its unit" "rate limits: .*bad.yaml: default.identity: rate \"10\": write N/second" \
  --rate-limit-config "$T_TMP/bad.yaml"
start_refused "a missing file" "rate limits: .*/absent.yaml" --rate-limit-config "$T_TMP/absent.yaml"
start_refused "redis without a configuration" "rate-limit-redis needs --rate-limit-config" \
  --rate-limit-redis redis://127.0.0.1:1
start_refused "a redis URL that does not parse" "rate-limit redis http://x: write redis://" \
  --rate-limit-config "$rl" --rate-limit-redis http://x

# --- the example in docs/ratelimit.md loads
doc="$(dirname "$0")/../../docs/ratelimit.md"
awk '/^```yaml$/ {on = 1; next} /^```$/ {on = 0} on' "$doc" >"$T_TMP/doc.yaml"
if [ -s "$T_TMP/doc.yaml" ] && serve_start doc --ca ephemeralca --config-path "$cfg" --rate-limit-config "$T_TMP/doc.yaml"; then
  t_ok "the configuration example of docs/ratelimit.md loads"
else
  t_bad "the example of docs/ratelimit.md: $(cat "$T_TMP/doc.serve.log" 2>/dev/null)"
fi

t_done
