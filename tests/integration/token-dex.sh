#!/usr/bin/env bash
# Tokens from a real OpenID provider that nobody here wrote: Dex, built by
# Go module name (tests/tools/install-dex.sh), issuing ID tokens through its
# password grant on loopback.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || t_skip "jq not installed"
DEX=${FULCRUM_DEPS:-$(cd "$(dirname "$0")/../.." && pwd)/.deps}/bin/dex
[ -x "$DEX" ] || DEX=$(command -v dex || true)
[ -n "$DEX" ] && [ -x "$DEX" ] || t_skip "dex not built (run tests/tools/install-dex.sh)"

port=$(t_free_port)
dex_url="http://127.0.0.1:$port/dex"
# bcrypt("password"), cost 10: the hash in Dex's own example configuration.
hash='$2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W'
cat >"$T_TMP/dex.yaml" <<YAML
issuer: $dex_url
storage:
  type: memory
web:
  http: 127.0.0.1:$port
expiry:
  idTokens: 10m
oauth2:
  grantTypes: [password]
  passwordConnector: local
enablePasswordDB: true
staticClients:
  - id: sigstore
    name: sigstore
    secret: fulcrum-test-secret
  - id: other-client
    name: other
    secret: other-secret
staticPasswords:
  - email: alice@example.com
    hash: "$hash"
    username: alice
    userID: 08a8684b-db88-4b73-90a9-3cd1661f5466
  - email: bob@example.com
    hash: "$hash"
    username: bob
    userID: 5d1c7d3e-4b7a-4b43-9e2f-2a5f1f0c6f11
    emailVerified: false
YAML
"$DEX" serve "$T_TMP/dex.yaml" >"$T_TMP/dex.log" 2>&1 &
T_PIDS+=($!)
t_wait_http "$dex_url/.well-known/openid-configuration" 60 || { cat "$T_TMP/dex.log"; exit 1; }

# dex_token CLIENT SECRET USER [SCOPE]: an ID token from the password grant.
dex_token() {
  curl -fsS --max-time 10 -u "$1:$2" \
    --data-urlencode grant_type=password --data-urlencode "username=$3" \
    --data-urlencode password=password --data-urlencode "scope=${4:-openid email federated:id}" \
    "$dex_url/token" | jq -r .id_token
}

cfg="$T_TMP/config.yaml"
cat >"$cfg" <<YAML
oidc-issuers:
  $dex_url:
    issuer-url: $dex_url
    client-id: sigstore
    type: email
    issuer-claim: \$.federated_claims.connector_id
YAML
plain="$T_TMP/plain.json"
jq -n --arg u "$dex_url" '{OIDCIssuers: {($u): {IssuerURL: $u, ClientID: "sigstore", Type: "email"}}}' >"$plain"

tok=$(dex_token sigstore fulcrum-test-secret alice@example.com)
[ -n "$tok" ] && [ "$tok" != null ] && t_ok "Dex issued an ID token" || t_bad "no token from Dex"
expect_identity "Dex token, email type with IssuerClaim (YAML config)" "$cfg" "$tok" '
  .issuer == "'"$dex_url"'" and .type == "email" and .san_type == "email"
  and .san == "alice@example.com" and .pop_subject == "alice@example.com"
  and .extensions["1.3.6.1.4.1.57264.1.1"] == "local"
  and .extensions["1.3.6.1.4.1.57264.1.8"] == "local"
  and .extension_encodings["1.3.6.1.4.1.57264.1.1"] == "raw"
  and .extension_encodings["1.3.6.1.4.1.57264.1.8"] == "utf8string"
  and (.extensions["1.3.6.1.4.1.57264.1.24"] | type) == "string"'
expect_identity "Dex token, email type without IssuerClaim (JSON config)" "$plain" "$tok" '
  .extensions["1.3.6.1.4.1.57264.1.1"] == "'"$dex_url"'"
  and .extensions["1.3.6.1.4.1.57264.1.8"] == "'"$dex_url"'"'

tok=$(dex_token sigstore fulcrum-test-secret bob@example.com)
expect_refused "Dex user whose email is not verified" "$cfg" "$tok" 'email_verified'
tok=$(dex_token other-client other-secret alice@example.com)
expect_refused "Dex token for another client" "$cfg" "$tok" 'aud "other-client" is not "sigstore"'
tok=$(dex_token sigstore fulcrum-test-secret alice@example.com "openid email")
expect_refused "IssuerClaim absent from the token" "$cfg" "$tok" 'federated_claims|connector_id|issuer claim'

# A token whose signature was tampered with after Dex signed it.
tok=$(dex_token sigstore fulcrum-test-secret alice@example.com)
sig=${tok##*.}
flip=$( [ "${sig:0:1}" = A ] && echo B || echo A )
expect_refused "Dex token with a tampered signature" "$cfg" "${tok%.*}.${flip}${sig:1}" 'signature'

t_done
