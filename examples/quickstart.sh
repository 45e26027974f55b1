#!/usr/bin/env bash
# The README's run command. Installs what fulcrum needs, builds it, and runs
# the CA stack on loopback with its embedded defaults:
#   - a local OIDC issuer (tests/tools/test_issuer.c: discovery, JWKS, tokens)
#   - fulcrum serve with an in-memory CA (ephemeralca)
# then requests a real certificate through sigstore-js's own Fulcio client,
# prints it decoded (SAN, validity, Sigstore extensions), shows what fulcrum
# says about a refused token, and keeps the service running until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export FULCRUM_DEPS="$root/.deps"

bash .ci/install-deps
bash tests/tools/install-interop.sh >/dev/null   # sigstore-js, pinned
if [ ! -f build/build.ninja ]; then
  meson setup build --buildtype=release -Dtestable=true >/dev/null
fi
ninja -C build >/dev/null

tmp=$(mktemp -d /tmp/fulcrum-quickstart.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo; echo "== stopping"; exit 0' INT TERM

wait_file() { for _ in $(seq 200); do [ -s "$1" ] && return 0; sleep 0.05; done; return 1; }

# 1. A local OIDC issuer.
build/tests/test-issuer --port-file "$tmp/idp.port" >"$tmp/idp.log" 2>&1 &
pids+=($!)
wait_file "$tmp/idp.port"
issuer="http://127.0.0.1:$(cat "$tmp/idp.port")"
cat >"$tmp/config.yaml" <<YAML
# Fulcio's identity configuration format, unchanged.
oidc-issuers:
  $issuer:
    issuer-url: $issuer
    client-id: sigstore
    type: email
YAML

# 2. The CA.
build/cmd/fulcrum serve --ca ephemeralca --config-path "$tmp/config.yaml" \
  --host 127.0.0.1 --port 0 --port-file "$tmp/ca.port" --metrics-port 0 --ct-log-url "" \
  >"$tmp/ca.log" 2>&1 &
pids+=($!)
wait_file "$tmp/ca.port" || { cat "$tmp/ca.log"; exit 1; }
ca="http://127.0.0.1:$(cat "$tmp/ca.port")"
echo "== OIDC issuer: $issuer"
echo "== fulcrum serve: $ca   (log: $tmp/ca.log)"

# 3. A token for alice@example.com, and a certificate through sigstore-js.
token=$(curl -fsS -H 'Content-Type: application/json' \
  --data '{"key":"ec256","claims":{"sub":"alice","email":"alice@example.com","email_verified":true}}' \
  "$issuer/mint")
echo "== fulcrum token (what the CA decides from this token):"
build/cmd/fulcrum token --config-path "$tmp/config.yaml" "$token"
echo "== requesting a certificate with sigstore-js (@sigstore/sign's FulcioSigner)"
node tests/interop/js/request-cert.mjs "$ca" "$token" >"$tmp/chain.json"
python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["chain"][0])' "$tmp/chain.json" >"$tmp/leaf.pem"
curl -fsS "$ca/api/v2/trustBundle" | python3 -c 'import json,sys; print("".join(json.load(sys.stdin)["chains"][0]["certificates"]), end="")' >"$tmp/bundle.pem"
echo "== the certificate:"
openssl x509 -in "$tmp/leaf.pem" -noout -subject -issuer -serial -dates -ext subjectAltName,keyUsage,extendedKeyUsage
echo "    Sigstore extensions (1.3.6.1.4.1.57264.1.x):"
python3 - "$tmp/leaf.pem" <<'PY'
import sys
from cryptography import x509
cert = x509.load_pem_x509_certificate(open(sys.argv[1], "rb").read())
for ext in cert.extensions:
    oid = ext.oid.dotted_string
    if oid.startswith("1.3.6.1.4.1.57264.1."):
        raw = ext.value.value
        val = raw[2:] if raw[:1] == b"\x0c" else raw   # DER UTF8String or raw bytes
        print(f"      {oid}: {val.decode()}")
PY
echo -n "== openssl verify against the trust bundle: "
openssl verify -CAfile "$tmp/bundle.pem" "$tmp/leaf.pem"

echo "== a token minted for another audience is refused, and the client is told why:"
bad=$(curl -fsS -H 'Content-Type: application/json' \
  --data '{"claims":{"sub":"mallory","email":"mallory@example.com","email_verified":true,"aud":"another-app"}}' \
  "$issuer/mint")
node tests/interop/js/request-cert.mjs "$ca" "$bad" 2>&1 | grep -o '(400).*' | head -1 || true

echo "== running; try: curl $ca/api/v2/configuration    (Ctrl-C to stop)"
while kill -0 "${pids[1]}" 2>/dev/null; do sleep 1; done
echo "fulcrum serve exited:"; tail -5 "$tmp/ca.log"
exit 1
