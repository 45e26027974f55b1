#!/usr/bin/env bash
# Every refusal the identity issue names, each checked for its specific
# reason, through `fulcrum token` against real test issuers on loopback.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || t_skip "jq not installed"

issuer_start main      # healthy issuer, email type
issuer_start liar      # its discovery names another issuer
issuer_start nojwks    # its JWKS endpoint answers 503
issuer_start huge      # its JWKS endpoint answers 50 MB
issuer_start meta      # reached only through a MetaIssuers pattern
meta_port=${meta_URL##*:}

cfg="$T_TMP/config.json"
jq -n --arg main "$main_URL" --arg liar "$liar_URL" --arg nojwks "$nojwks_URL" \
  --arg huge "$huge_URL" '
  def email($u): {IssuerURL: $u, ClientID: "sigstore", Type: "email"};
  {OIDCIssuers: {($main): email($main), ($liar): email($liar),
                 ($nojwks): email($nojwks), ($huge): email($huge)},
   MetaIssuers: {"http://127.0.0.1:*": {ClientID: "sigstore", Type: "kubernetes"}}}' >"$cfg"

good_claims='{"email":"alice@example.com","email_verified":true}'
now=$(date +%s)

# The healthy path first, so that every refusal below is meaningful.
tok=$(mint "$main_URL" "{\"claims\":$good_claims}")
expect_identity "valid token accepted" "$cfg" "$tok" \
  '.san == "alice@example.com" and .type == "email" and .pop_subject == "alice@example.com"'

expect_refused "malformed token (not base64url)" "$cfg" "not.a-token!.x" "base64url"
expect_refused "malformed token (parts not JSON)" "$cfg" "bm90.anNvbg.c2ln" "not valid JSON|not a JSON object"
expect_refused "two-part token" "$cfg" "abc.def" "three|part|malformed"
tok=$(mint "$main_URL" "{\"claims\":$good_claims,\"mode\":\"none\"}")
expect_refused "alg none" "$cfg" "$tok" 'alg "none"'
tok=$(mint "$main_URL" "{\"claims\":$good_claims,\"mode\":\"hs256-pubkey\"}")
expect_refused "HS256 keyed with the RSA public key" "$cfg" "$tok" 'alg "HS256"'
tok=$(mint "$main_URL" "{\"claims\":$good_claims,\"kid\":\"no-such-kid\"}")
expect_refused "unknown kid" "$cfg" "$tok" 'no-such-kid'
tok=$(mint "$main_URL" "{\"claims\":$good_claims,\"key\":\"rsa\",\"kid\":\"ec256-1\"}")
expect_refused "kid naming a key of another type" "$cfg" "$tok" 'ec256-1.*(EC|P-256)|RS256.*RSA'
tok=$(mint "$main_URL" "{\"claims\":$good_claims,\"key\":\"rogue-rsa\"}")
expect_refused "signature from another key" "$cfg" "$tok" 'signature'
tok=$(mint "$main_URL" "{\"claims\":$good_claims,\"key\":\"rogue-ec256\"}")
expect_refused "ES256 signature from another key" "$cfg" "$tok" 'signature'
tok=$(mint "$main_URL" "{\"claims\":{\"email\":\"alice@example.com\",\"email_verified\":true,\"iat\":$((now - 7200)),\"exp\":$((now - 3600))}}")
expect_refused "expired" "$cfg" "$tok" 'expired'
tok=$(mint "$main_URL" "{\"claims\":{\"email\":\"alice@example.com\",\"email_verified\":true,\"nbf\":$((now + 3600))}}")
expect_refused "not yet valid" "$cfg" "$tok" 'not yet valid'
tok=$(mint "$main_URL" "{\"claims\":{\"email\":\"alice@example.com\",\"email_verified\":true,\"iat\":$((now + 3600)),\"exp\":$((now + 7200))}}")
expect_refused "issued in the future" "$cfg" "$tok" 'issued in the future'
tok=$(mint "$main_URL" "{\"claims\":{\"email\":\"alice@example.com\",\"email_verified\":true,\"aud\":\"someone-else\"}}")
expect_refused "wrong audience" "$cfg" "$tok" 'aud "someone-else" is not "sigstore"'
tok=$(mint "$main_URL" "{\"claims\":{\"email\":\"alice@example.com\",\"email_verified\":true,\"iss\":\"https://issuer.invalid\"}}")
expect_refused "unknown issuer" "$cfg" "$tok" 'issuer "https://issuer.invalid" is not configured'

# Meta-issuer patterns are anchored: a prefix or suffix around a matching
# URL must not match (Fulcio GHSA-59jp-pj84-45mr).
k8s='"kubernetes.io":{"namespace":"prod","serviceaccount":{"name":"builder","uid":"u1"}}'
tok=$(mint "$meta_URL" "{\"claims\":{\"sub\":\"system:serviceaccount:prod:builder\",$k8s}}")
expect_identity "meta-issuer match accepted" "$cfg" "$tok" \
  '.type == "kubernetes" and .san == "https://kubernetes.io/namespaces/prod/serviceaccounts/builder"'
tok=$(mint "$meta_URL" "{\"claims\":{\"iss\":\"$meta_URL/evil\",\"sub\":\"x\",$k8s}}")
expect_refused "meta pattern matched only by prefix" "$cfg" "$tok" 'is not configured'
tok=$(mint "$meta_URL" "{\"claims\":{\"iss\":\"http://evil.invalid/?u=$meta_URL\",\"sub\":\"x\",$k8s}}")
expect_refused "meta pattern matched only by suffix" "$cfg" "$tok" 'is not configured'
tok=$(mint "$meta_URL" "{\"claims\":{\"iss\":\"http://127.0.0.1:${meta_port}.evil.invalid\",\"sub\":\"x\",$k8s}}")
expect_refused "meta wildcard does not cross a dot" "$cfg" "$tok" 'is not configured'

tok=$(mint "$main_URL" '{"claims":{"email":"alice@example.com","email_verified":false}}')
expect_refused "email_verified false" "$cfg" "$tok" 'email_verified'
tok=$(mint "$main_URL" '{"claims":{"email":"alice@example.com","email_verified":"false"}}')
expect_refused "email_verified \"false\"" "$cfg" "$tok" 'email_verified'
tok=$(mint "$main_URL" '{"claims":{"email":["alice@example.com"],"email_verified":true}}')
expect_refused "non-string email" "$cfg" "$tok" 'email'
big=$(head -c 20000 /dev/zero | tr '\0' 'a')
tok=$(mint "$main_URL" "{\"claims\":{\"email\":\"alice@example.com\",\"email_verified\":true,\"pad\":\"$big\"}}")
expect_refused "oversized token" "$cfg" "$tok" '16384|too large|larger'
tok=$(mint "$main_URL" "{\"raw_payload\":\"{\\\"iss\\\":\\\"$main_URL\\\",\\\"aud\\\":\\\"sigstore\\\",\\\"sub\\\":\\\"x\\\",\\\"exp\\\":$((now + 600)),\\\"email\\\":\\\"alice@example.com\\\",\\\"email\\\":\\\"mallory@example.com\\\",\\\"email_verified\\\":true}\"}")
expect_refused "duplicate JSON keys in the payload" "$cfg" "$tok" 'duplicate'

control "$liar_URL" '{"discovery_issuer":"https://accounts.example.com"}'
tok=$(mint "$liar_URL" "{\"claims\":$good_claims}")
expect_refused "discovery naming a different issuer" "$cfg" "$tok" 'https://accounts.example.com'
control "$nojwks_URL" '{"jwks":"down"}'
tok=$(mint "$nojwks_URL" "{\"claims\":$good_claims}")
expect_refused "JWKS endpoint down at first use" "$cfg" "$tok" '503'
control "$huge_URL" '{"jwks":"huge"}'
tok=$(mint "$huge_URL" "{\"claims\":$good_claims}")
start=$(date +%s)
expect_refused "JWKS answering 50 MB" "$cfg" "$tok" 'larger than|too large'
[ $(( $(date +%s) - start )) -lt 10 ] && t_ok "50 MB JWKS refused without reading it all" \
  || t_bad "50 MB JWKS took $(( $(date +%s) - start )) s"

# Usage and configuration errors exit 2.
"$FULCRUM_BIN" token --config-path "$T_TMP/absent.json" x >/dev/null 2>&1
[ $? -eq 2 ] && t_ok "missing config exits 2" || t_bad "missing config did not exit 2"
"$FULCRUM_BIN" token --no-such-flag >/dev/null 2>&1
[ $? -eq 2 ] && t_ok "unknown flag exits 2" || t_bad "unknown flag did not exit 2"

t_done
