#!/usr/bin/env bash
# The real Sigstore clients sign against fulcrum over HTTPS (docs/http.md,
# "TLS"): fulcrum ctlog and fulcrum serve --ca fileca both behind
# --tls-cert (a test root the clients are told to trust, an intermediate,
# leaves for localhost), the CA submitting to the log over HTTPS
# (--ct-log.tls-ca-cert):
#   * cosign v3 sign-blob --fulcio-url https://localhost:PORT with the test
#     root in SSL_CERT_FILE (Go's crypto/x509 reads the roots from there on
#     Linux); cosign verify-blob accepts the bundle (its SCT checked against
#     the trusted root's log). Without SSL_CERT_FILE cosign refuses the
#     server's certificate (x509: unknown authority);
#   * sigstore-js (@sigstore/sign's FulcioSigner, Node's fetch) with the root
#     in NODE_EXTRA_CA_CERTS; @sigstore/verify accepts the bundle. Without
#     it, the signing fails on the certificate.
# cosign from $FULCRUM_DEPS/bin (tests/tools/install-cosign.sh), node and
# tests/interop/js/node_modules (tests/tools/install-interop.sh).
here=$(cd "$(dirname "$0")" && pwd)
I="$here/../interop"
JS="$I/js"
. "$here/lib.sh"
. "$here/tls-lib.sh"
. "$I/ct-lib.sh"
COSIGN=${COSIGN_BIN:-$CT_DEPS/bin/cosign}

for tool in curl openssl jq python3 node; do
  command -v "$tool" >/dev/null || t_skip "$tool not installed"
done
[ -x "$COSIGN" ] || t_skip "cosign not installed at $COSIGN (run tests/tools/install-cosign.sh)"
[ -d "$JS/node_modules/@sigstore/sign" ] || t_skip "sigstore-js not installed in $JS/node_modules (run tests/tools/install-interop.sh)"

# Nothing of the machine's Sigstore or TLS setup: no TUF cache, no
# SIGSTORE_* overrides, no extra roots, no proxy for loopback.
export HOME="$T_TMP/home" TUF_ROOT="$T_TMP/home/.sigstore/root"
mkdir -p "$HOME"
for v in $(env | sed -n 's/^\(SIGSTORE_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
unset GITHUB_ACTIONS ACTIONS_ID_TOKEN_REQUEST_URL ACTIONS_ID_TOKEN_REQUEST_TOKEN
unset SSL_CERT_FILE SSL_CERT_DIR NODE_EXTRA_CA_CERTS
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

P="$T_TMP/pki"
tls_make_pki "$P" || { t_bad "cannot make the test PKI"; t_done; exit 1; }
ROOT="$P/root.pem"
issuer_start idp
CFG="$T_TMP/config.json"
jq -n --arg u "$idp_URL" '{OIDCIssuers: {($u): {IssuerURL: $u, ClientID: "sigstore", Type: "email"}}}' >"$CFG"
alice='{"claims":{"sub":"alice-sub","email":"alice@example.com","email_verified":true}}'

ct_make_ca "$T_TMP/ca" 2>/dev/null || { t_bad "cannot make the fileca CA"; t_done; exit 1; }
ct_log_key "$T_TMP/log" || { t_bad "cannot make a log key"; t_done; exit 1; }
mkdir -p "$T_TMP/log/storage"
tls_start log /healthz "$ROOT" ctlog --listen 127.0.0.1:0 --storage-dir "$T_TMP/log/storage" \
  --roots "$T_TMP/ca/root.pem" --private-key "$T_TMP/log/log.key" --origin localhost/tls-clients \
  --ext-key-usages CodeSigning --batch-max-age 100ms --tls-cert "$P/b.chain.pem" --tls-key "$P/b.key" \
  || { t_bad "fulcrum ctlog with TLS did not start"; t_done; exit 1; }
tls_start ca /healthz "$ROOT" serve --host 127.0.0.1 --port 0 --metrics-port 0 --ca fileca \
  --fileca-cert "$T_TMP/ca/chain.pem" --fileca-key "$T_TMP/ca/int.key" --fileca-watch false \
  --config-path "$CFG" --ct-log-url "$log_URL" --ct-log-public-key-path "$T_TMP/log/log.pub" \
  --ct-log-timeout 10s --ct-log.tls-ca-cert "$ROOT" --tls-cert "$P/a.chain.pem" --tls-key "$P/a.key" \
  || { t_bad "fulcrum serve with TLS did not start"; t_done; exit 1; }
API=$ca_URL
t_ok "fulcrum ctlog at $log_URL and fulcrum serve at $API, both over HTTPS"
curl -fsS --max-time 10 --cacert "$ROOT" "$API/api/v2/trustBundle" >"$T_TMP/bundle.json" \
  || { t_bad "trustBundle over HTTPS"; t_done; exit 1; }
jq -r '.chains[0].certificates[] | rtrimstr("\n")' "$T_TMP/bundle.json" >"$T_TMP/cachain.pem"
python3 "$I/ct-trusted-root.py" --ca-chain "$T_TMP/cachain.pem" --ca-uri "$API" \
  --ct-pub "$T_TMP/log/log.pub" --ct-url "$log_URL" >"$T_TMP/trusted_root.json" \
  || { t_bad "ct-trusted-root.py failed"; t_done; exit 1; }
printf 'artifact signed over HTTPS, %s\n' "$(date -u +%FT%TZ)" >"$T_TMP/artifact.txt"

# ===== cosign =====
cosign_sign() { # OUT BUNDLE [env...]: cosign sign-blob against the HTTPS API
  local out=$1 b=$2
  shift 2
  env "$@" timeout 120 "$COSIGN" sign-blob "$T_TMP/artifact.txt" --yes --use-signing-config=false \
    --fulcio-url "$API" --tlog-upload=false --trusted-root "$T_TMP/trusted_root.json" \
    --identity-token "$(mint "$idp_URL" "$alice")" --bundle "$b" >"$out" 2>&1
}
if cosign_sign "$T_TMP/cosign-noroot.out" "$T_TMP/noroot.bundle"; then
  t_bad "cosign signed without trusting the test root"
elif grep -q 'x509: certificate signed by unknown authority' "$T_TMP/cosign-noroot.out"; then
  t_ok "cosign without SSL_CERT_FILE: refused: $(grep -o 'x509: certificate signed by unknown authority' "$T_TMP/cosign-noroot.out" | head -1)"
else
  t_bad "cosign without SSL_CERT_FILE: $(tail -3 "$T_TMP/cosign-noroot.out")"
fi
b="$T_TMP/cosign.bundle.json"
if cosign_sign "$T_TMP/cosign.out" "$b" SSL_CERT_FILE="$ROOT" && [ -s "$b" ]; then
  t_ok "cosign sign-blob --fulcio-url $API with SSL_CERT_FILE=test root: bundle written"
  if timeout 120 "$COSIGN" verify-blob "$T_TMP/artifact.txt" --bundle "$b" \
      --certificate-identity alice@example.com --certificate-oidc-issuer "$idp_URL" \
      --trusted-root "$T_TMP/trusted_root.json" --insecure-ignore-tlog >"$T_TMP/verify.out" 2>&1 \
     && grep -q 'Verified OK' "$T_TMP/verify.out"; then
    t_ok "cosign verify-blob (SCT from the log reached over HTTPS): Verified OK"
  else
    t_bad "cosign verify-blob: $(cat "$T_TMP/verify.out")"
  fi
else
  t_bad "cosign sign-blob over HTTPS: $(tail -5 "$T_TMP/cosign.out")"
fi

# ===== sigstore-js =====
if node "$JS/ct-sign.mjs" "$API" "$(mint "$idp_URL" "$alice")" "$T_TMP/js-noroot" >/dev/null 2>"$T_TMP/js-noroot.err"; then
  t_bad "sigstore-js signed without trusting the test root"
elif grep -Eqi 'certificate|UNABLE_TO|self.signed' "$T_TMP/js-noroot.err"; then
  t_ok "sigstore-js without NODE_EXTRA_CA_CERTS: refused: $(grep -Eoi -m1 '[A-Z_]*(UNABLE_TO|SELF_SIGNED)[A-Z_]*|unable to [a-z ]*certificate' "$T_TMP/js-noroot.err" | head -1)"
else
  t_bad "sigstore-js without NODE_EXTRA_CA_CERTS: $(head -c 400 "$T_TMP/js-noroot.err")"
fi
if NODE_EXTRA_CA_CERTS="$ROOT" node "$JS/ct-sign.mjs" "$API" "$(mint "$idp_URL" "$alice")" "$T_TMP/js" \
    >"$T_TMP/js.out" 2>"$T_TMP/js.err"; then
  t_ok "sigstore-js FulcioSigner against $API with NODE_EXTRA_CA_CERTS=test root: bundle signed"
  python3 "$I/ct-trusted-root.py" --ca-chain "$T_TMP/cachain.pem" --ca-uri "$API" \
    --ct-pub "$T_TMP/log/log.pub" --ct-url "$log_URL" --tsa "$T_TMP/js/tsa.json" >"$T_TMP/root-js.json"
  if out=$(node "$JS/ct-verify.mjs" "$T_TMP/js/bundle.json" "$T_TMP/js/artifact.txt" "$T_TMP/root-js.json" \
      alice@example.com "$idp_URL" 2>&1); then
    t_ok "sigstore-js Verifier (its SCT from the log reached over HTTPS): $out"
  else
    t_bad "sigstore-js verify: $out"
  fi
else
  t_bad "sigstore-js sign over HTTPS: $(head -c 600 "$T_TMP/js.err")"
fi

for n in ca log; do
  pid_var="${n}_PID"
  if tls_stop "${!pid_var}" && tls_sanitizer_clean "$T_TMP/$n.log"; then
    t_ok "$n stopped: exit 0, no sanitizer report"
  else
    t_bad "$n: exit status or sanitizer report: $(grep -E -m3 'ERROR|runtime error' "$T_TMP/$n.log")"
  fi
done
t_done
