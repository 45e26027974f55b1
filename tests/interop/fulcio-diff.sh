#!/usr/bin/env bash
# Differential test against Fulcio v1.8.8 (the real Go server, built by
# tests/tools/install-fulcio.sh): fulcrum serve and fulcio serve run side by
# side on loopback with the same fileca CA (an encrypted P-256 intermediate
# made by `fulcrum createca --file --intermediate`), the same identity
# configuration (one issuer per identity type, two meta-issuers, an
# unreachable issuer, Fulcio's shipped CI templates) and the same test OIDC
# issuers, CT off. tests/interop/fulcio-diff.py then sends every request to
# both: certificates for every identity type, key type and request form must
# be equal field by field (bar serial, validity instants and signature);
# refusals must have the same HTTP status and gRPC code, or be a documented
# difference (docs/fulcio-compat.md).
# FULCRUM_BIN / FULCRUM_TEST_ISSUER as for the integration tests; Fulcio from
# $FULCRUM_DEPS/bin/fulcio (FULCIO_BIN overrides); Python with
# pyca/cryptography: the sigstore-python venv of tests/tools/install-interop.sh
# if present, else python3.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/lib.sh"
repo=$(cd "$here/../.." && pwd)
DEPS=${FULCRUM_DEPS:-$repo/.deps}
FULCIO=${FULCIO_BIN:-$DEPS/bin/fulcio}
FULCIO_VERSION=v1.8.8   # tests/tools/install-fulcio.sh

for tool in curl openssl jq; do
  command -v "$tool" >/dev/null || t_skip "$tool not installed"
done
[ -x "$FULCIO" ] || t_skip "Fulcio not installed at $FULCIO (run tests/tools/install-fulcio.sh)"
PY=python3
[ -x "$DEPS/venv/bin/python" ] && PY="$DEPS/venv/bin/python"
"$PY" -c 'import cryptography.x509' 2>/dev/null || t_skip "pyca/cryptography not available to $PY"
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

ver=$("$FULCIO" version 2>&1 | awk '/GitVersion/ { print $2; exit }')
[ "$ver" = "$FULCIO_VERSION" ] && t_ok "Fulcio $ver ($FULCIO)" \
  || t_bad "Fulcio reports version '$ver', want $FULCIO_VERSION"

# fulcio_start NAME CHAIN KEY PASSWORD CONFIG: fulcio serve --ca fileca on free
# loopback ports (HTTP, gRPC, metrics; its own legacy gRPC socket so that
# several can run at once), CT off. Sets ${NAME}_URL and ${NAME}_PID.
fulcio_start() {
  local name=$1 chain=$2 key=$3 pass=$4 cfg=$5 port
  port=$(t_free_port)
  "$FULCIO" serve --ca fileca --fileca-cert "$chain" --fileca-key "$key" --fileca-key-passwd "$pass" \
    --config-path "$cfg" --ct-log-url "" --log_type prod \
    --host 127.0.0.1 --port "$port" --grpc-host 127.0.0.1 --grpc-port "$(t_free_port)" \
    --metrics-port "$(t_free_port)" --legacy-unix-domain-socket "@fulcrum-test-fulcio-$$-$name" \
    >"$T_TMP/$name.fulcio.log" 2>&1 &
  T_PIDS+=($!)
  printf -v "${name}_PID" '%s' "$!"
  printf -v "${name}_URL" 'http://127.0.0.1:%s' "$port"
  t_wait_http "http://127.0.0.1:$port/healthz" 60 \
    || { echo "fulcio serve ($name) did not start:"; tail -20 "$T_TMP/$name.fulcio.log"; return 1; }
}

# --- the CA: root + encrypted intermediate (PKCS#8, AES-256) ---
pass="fulcio-diff-$$-$RANDOM"
FULCRUM_FILECA_KEY_PASSWD=$pass "$FULCRUM_BIN" createca --file --intermediate --org "fulcio-diff" \
  --out "$T_TMP/chain.pem" --key-out "$T_TMP/int.key" --root-key-out "$T_TMP/root.key" \
  >"$T_TMP/createca.log" 2>&1 \
  && grep -q 'ENCRYPTED PRIVATE KEY' "$T_TMP/int.key" \
  && t_ok "createca --file --intermediate: chain and encrypted key" \
  || { t_bad "createca: $(cat "$T_TMP/createca.log")"; t_done; exit 1; }

# --- issuers: one per identity type (tenants of "fixed"), two meta, one
# without JWK "alg" members, one down ---
issuer_start fixed
issuer_start metak8s
issuer_start metaci
issuer_start noalg   # its JWKS has no "alg" members (for PS256 tokens)
control "$noalg_URL" '{"jwk_alg": false}'
down_URL="http://127.0.0.1:$(t_free_port)"   # nothing listens there
jq -n --arg f "$fixed_URL" --arg k "$metak8s_URL" --arg c "$metaci_URL" --arg n "$noalg_URL" \
  --arg d "$down_URL" '{fixed: $f, meta_k8s: $k, meta_ci: $c, noalg: $n, down: $d}' >"$T_TMP/issuers.json"
"$PY" "$here/fulcio-diff.py" config "$T_TMP/issuers.json" \
  "$repo/tests/data/config/fulcio-shipped.yaml" "$T_TMP/config.yaml" \
  || { t_bad "cannot write the identity configuration"; t_done; exit 1; }

# --- both servers ---
FULCRUM_FILECA_KEY_PASSWD=$pass serve_start fulcrum --ca fileca --fileca-cert "$T_TMP/chain.pem" \
  --fileca-key "$T_TMP/int.key" --config-path "$T_TMP/config.yaml" \
  && t_ok "fulcrum serve --ca fileca at $fulcrum_URL" \
  || { t_bad "fulcrum serve did not start: $(tail -5 "$T_TMP/fulcrum.serve.log")"; t_done; exit 1; }
fulcio_start fulcio "$T_TMP/chain.pem" "$T_TMP/int.key" "$pass" "$T_TMP/config.yaml" \
  && t_ok "fulcio serve --ca fileca at $fulcio_URL" \
  || { t_bad "fulcio serve did not start"; t_done; exit 1; }

# --- the cases ---
"$PY" "$here/fulcio-diff.py" run "$T_TMP/issuers.json" "$fulcrum_URL" "$fulcio_URL" \
  >"$T_TMP/driver.out" 2>&1
rc=$?
cat "$T_TMP/driver.out"
summary=$(grep -E '^driver: [0-9]+ passed' "$T_TMP/driver.out" | tail -1)
if [ "$rc" -eq 0 ] && [ -n "$summary" ]; then
  t_ok "fulcrum and Fulcio agree (${summary#driver: })"
else
  t_bad "fulcrum and Fulcio differ (${summary:-driver exit $rc})"
fi

for s in fulcrum fulcio; do
  pid_var="${s}_PID"
  kill -0 "${!pid_var}" 2>/dev/null && t_ok "$s still running after the cases" \
    || t_bad "$s died: $(tail -5 "$T_TMP/$s".*.log)"
done
t_done
