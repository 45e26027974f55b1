#!/usr/bin/env bash
# The README's run command: installs what fulcrum needs, builds it, starts a
# local OIDC issuer on loopback, has it mint an identity token, and shows
# what fulcrum decides from that token (`fulcrum token`): the issuer, the
# certificate's SAN and Sigstore extensions, and the string the client must
# sign. Then shows a refused token and why. Everything stops at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

bash .ci/install-deps
if [ ! -f build/build.ninja ]; then
  meson setup build --buildtype=release -Dtestable=true >/dev/null
fi
ninja -C build >/dev/null

tmp=$(mktemp -d /tmp/fulcrum-quickstart.XXXXXX)
issuer_pid=
cleanup() {
  [ -n "$issuer_pid" ] && kill "$issuer_pid" 2>/dev/null && wait "$issuer_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

# A local OIDC issuer (tests/tools/test_issuer.c): discovery, JWKS, tokens.
build/tests/test-issuer --port-file "$tmp/port" >"$tmp/issuer.log" 2>&1 &
issuer_pid=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
issuer="http://127.0.0.1:$(cat "$tmp/port")"
echo "== local OIDC issuer at $issuer"

cat >"$tmp/config.yaml" <<YAML
# Fulcio's identity configuration format, unchanged.
oidc-issuers:
  $issuer:
    issuer-url: $issuer
    client-id: sigstore
    type: email
YAML
echo "== identity configuration"
cat "$tmp/config.yaml"

token=$(curl -fsS -H 'Content-Type: application/json' \
  --data '{"key":"ec256","claims":{"sub":"alice","email":"alice@example.com","email_verified":true}}' \
  "$issuer/mint")
echo "== token minted for alice@example.com (ES256 key from the issuer's JWKS)"
echo "== fulcrum token:"
build/fulcrum token --config-path "$tmp/config.yaml" "$token"

echo "== a token whose email is not verified is refused, with the reason:"
bad=$(curl -fsS -H 'Content-Type: application/json' \
  --data '{"claims":{"sub":"mallory","email":"mallory@example.com","email_verified":false}}' \
  "$issuer/mint")
build/fulcrum token --config-path "$tmp/config.yaml" "$bad" || echo "(exit status $?)"
