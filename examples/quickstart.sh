#!/usr/bin/env bash
# The README's run command. Installs what fulcrum needs, builds it, and runs
# an organisation's whole private Sigstore on loopback:
#   - a local OIDC issuer (tests/tools/test_issuer.c: discovery, JWKS, tokens)
#   - a SoftHSM2 token holding the CA (root and intermediate) and the TSA's
#     keys, made by `fulcrum createca` on the first run, reused on the next
#   - `fulcrum ctlog`, a Certificate Transparency log (its key and its
#     entries are kept too, so the tree grows from run to run)
#   - `fulcrum tsa`, an RFC 3161 timestamp authority (key in the token)
#   - Rekor v2 (rekor-tiles v2.3.0, built from source by Go module name on
#     the first run: tests/tools/install-rekor-tiles.sh), its log kept too
#   - the trust files written by `fulcrum trust` (trusted_root.json,
#     signing_config.json, trust_config.json)
#   - `fulcrum serve --ca pkcs11ca`, which logs every certificate and embeds
#     the log's verified SCT, and hands the trust files to clients (its key
#     behind a signer process that journals every certificate,
#     docs/signer.md)
# then signs an artifact with sigstore-python, configured from the CA alone
# (GET /api/v2/trustConfig), verifies the bundle with only the trusted root
# (sigstore-js's verifier; sigstore-python; cosign too when installed),
# prints the certificate decoded, checks it with `openssl verify`, shows
# where it sits in the CT log, shows what fulcrum says about a refused
# token, and keeps the services running until Ctrl-C.
#
# Usage: bash examples/quickstart.sh [--state DIR]
#   --state DIR (or FULCRUM_QUICKSTART_STATE=DIR): where the token, the PIN,
#       the CA chain, the log and the issuance journal are kept (default
#       .deps/quickstart); remove the directory to start from scratch.
#   FULCRUM_QUICKSTART_ONESHOT=1: stop everything and exit 0 after the demo.
#   FULCRUM_QUICKSTART_NO_INSTALL=1: no apt/npm installs and no build; the
#       binaries are taken from FULCRUM_BUILD_DIR (default build).
set -euo pipefail

state=${FULCRUM_QUICKSTART_STATE:-}
while [ $# -gt 0 ]; do
  case $1 in
    --state) state=${2:?--state needs a directory}; shift 2 ;;
    --state=*) state=${1#--state=}; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "quickstart: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
# Paths given by the caller are relative to where it stands; the script
# changes to the repository root below.
if [ -n "$state" ]; then
  mkdir -p "$state"
  state=$(cd "$state" && pwd)
fi
build=${FULCRUM_BUILD_DIR:-}
case $build in "" | /*) ;; *) build=$PWD/$build ;; esac

cd "$(dirname "$0")/.."
root=$(pwd)
export FULCRUM_DEPS=${FULCRUM_DEPS:-$root/.deps}
state=${state:-$FULCRUM_DEPS/quickstart}
build=${build:-$root/build}
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

if [ "${FULCRUM_QUICKSTART_NO_INSTALL:-}" != 1 ]; then
  bash .ci/install-deps
  bash tests/tools/install-interop.sh >/dev/null   # sigstore-js and sigstore-python, pinned
  bash tests/tools/install-rekor-tiles.sh          # Rekor v2: first run only (minutes)
  mkdir -p "$FULCRUM_DEPS"
  blog=$FULCRUM_DEPS/build.log
  if [ ! -f "$build/build.ninja" ] \
    && ! meson setup "$build" --buildtype=release -Dtestable=true >"$blog" 2>&1; then
    tail -30 "$blog" >&2
    echo "quickstart: meson setup failed (see $blog)" >&2
    exit 1
  fi
  if ! ninja -C "$build" >"$blog" 2>&1; then
    grep -E -A5 'FAILED|error' "$blog" | head -40 >&2
    echo "quickstart: the build failed (see $blog)" >&2
    exit 1
  fi
fi
fulcrum=$build/cmd/fulcrum
test_issuer=$build/tests/test-issuer
rekor_tiles=$FULCRUM_DEPS/bin/rekor-tiles
sigstore_py=$FULCRUM_DEPS/venv/bin/sigstore
for exe in "$fulcrum" "$test_issuer"; do
  [ -x "$exe" ] || { echo "quickstart: $exe is missing (build first, or set FULCRUM_BUILD_DIR)" >&2; exit 1; }
done
[ -x "$rekor_tiles" ] || { echo "quickstart: $rekor_tiles is missing (bash tests/tools/install-rekor-tiles.sh)" >&2; exit 1; }
[ -x "$sigstore_py" ] || { echo "quickstart: $sigstore_py is missing (bash tests/tools/install-interop.sh)" >&2; exit 1; }

# SoftHSM2's module: where Debian puts it, or FULCRUM_SOFTHSM_MODULE.
module=${FULCRUM_SOFTHSM_MODULE:-}
if [ -z "$module" ]; then
  for m in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
    /usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so /usr/local/lib/softhsm/libsofthsm2.so; do
    if [ -r "$m" ]; then module=$m; break; fi
  done
fi
[ -n "$module" ] || { echo "quickstart: SoftHSM2 is not installed (apt-get install softhsm2)" >&2; exit 1; }

# python3 with pyca/cryptography (the system's, or the venv install-interop.sh made).
py=python3
$py -c 'import cryptography' 2>/dev/null || py=$FULCRUM_DEPS/venv/bin/python

# --- the state directory --------------------------------------------------
#   hsm/    softhsm2.conf, tokens/ (the token), user-pin and so-pin (mode 0600)
#   ca/     chain.pem (intermediate, root), root.pem and tsa-chain.pem (the
#           TSA's time-stamping certificate and root), as createca wrote them
#   ctlog/  log.key (0600), log.pub, roots.pem, storage/ (the log itself)
#   rekor/  rekor.key (0600), rekor.pub, storage/ (the Rekor v2 log)
#   run/    this run's logs, ports, trust files, artifact, bundle and
#           certificate (emptied at every start)
mkdir -p "$state"/{hsm/tokens,ca,ctlog/storage,rekor/storage}
exec 9>"$state/.lock"
flock -n 9 || { echo "quickstart: another quickstart is running with $state" >&2; exit 1; }
rm -rf "$state/run"
mkdir -p "$state/run"
run=$state/run
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
  "$state/hsm/tokens" >"$state/hsm/softhsm2.conf"
export SOFTHSM2_CONF=$state/hsm/softhsm2.conf
token=fulcrum-quickstart

# Children are stopped on every way out: TERM, then KILL after 5 s.
pids=()
names=()
cleanup() {
  local rc=$? i pid st
  set +e
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for i in "${!pids[@]}"; do
    pid=${pids[$i]}
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "quickstart: ${names[$i]} (pid $pid) ignored SIGTERM; killing it" >&2
      kill -KILL "$pid" 2>/dev/null
      [ "$rc" -ne 0 ] || rc=1
    fi
    wait "$pid" 2>/dev/null
    st=$?
    # 0: stopped cleanly; 143 = 128 + SIGTERM: stopped by the default action
    if [ "$st" -ne 0 ] && [ "$st" -ne 143 ] && [ "$st" -ne 137 ]; then
      echo "quickstart: ${names[$i]} (pid $pid) exited with status $st; see $run/${names[$i]}.log" >&2
      [ "$rc" -ne 0 ] || rc=1
    fi
  done
  exit "$rc"
}
trap cleanup EXIT
trap 'echo; echo "== stopping"; exit 0' INT TERM

# start NAME READY_PATH ARGS...: runs ARGS in the background with its output
# in run/NAME.log and --port-file run/NAME.port; waits for the port, then
# until READY_PATH answers; sets url to http://127.0.0.1:PORT.
start() {
  local name=$1 ready=$2 pid
  shift 2
  rm -f "$run/$name.port"
  "$@" --port-file "$run/$name.port" >"$run/$name.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  names+=("$name")
  for _ in $(seq 300); do
    [ -s "$run/$name.port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if [ ! -s "$run/$name.port" ]; then
    echo "quickstart: $name did not start:" >&2
    tail -20 "$run/$name.log" >&2
    exit 1
  fi
  url="http://127.0.0.1:$(cat "$run/$name.port")"
  for _ in $(seq 100); do
    curl -fsS -o /dev/null --max-time 2 "$url$ready" 2>/dev/null && break
    sleep 0.1
  done
  if ! curl -fsS -o /dev/null --max-time 2 "$url$ready"; then
    echo "quickstart: $name is not answering $url$ready:" >&2
    tail -20 "$run/$name.log" >&2
    exit 1
  fi
  echo "== $name: $url   (pid $pid, log: $run/$name.log)"
}

fingerprint() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2; }

# --- 1. The CA, in a SoftHSM2 token ----------------------------------------
# The CA exists once createca has written its chain. Anything less (a first
# run stopped half-way) is started over with a fresh token.
if [ -s "$state/ca/chain.pem" ] && ls "$state"/hsm/tokens/*/token.object >/dev/null 2>&1; then
  echo "== CA reused: the token in $state/hsm (made by fulcrum createca on an earlier run;"
  echo "   remove $state to start from scratch)"
else
  rm -rf "$state/hsm/tokens" "$state/ca"
  mkdir -p "$state/hsm/tokens" "$state/ca"
  (
    umask 077
    openssl rand -hex 16 >"$state/hsm/user-pin"
    openssl rand -hex 16 >"$state/hsm/so-pin"
  )
  # softhsm2-util takes PINs only as arguments or from a terminal prompt:
  # this is the one moment they are on a command line. fulcrum reads the
  # user PIN from the file.
  softhsm2-util --init-token --free --label "$token" \
    --so-pin "$(cat "$state/hsm/so-pin")" --pin "$(cat "$state/hsm/user-pin")" >/dev/null
  "$fulcrum" createca --pkcs11-uri "pkcs11:token=$token?module-path=$module" \
    --pkcs11-pin-file "$state/hsm/user-pin" --hsm-caroot-id 99 \
    --org "fulcrum quickstart" --common-name "fulcrum quickstart root" \
    --intermediate --intermediate-common-name "fulcrum quickstart intermediate" \
    --out "$run/chain.pem" >"$run/createca.log" 2>&1 \
    || { cat "$run/createca.log" >&2; exit 1; }
  awk '/BEGIN/{n++} n==2' "$run/chain.pem" >"$state/ca/root.pem"
  mv "$run/chain.pem" "$state/ca/chain.pem"   # last: marks the CA as complete
  echo "== CA created: fulcrum createca made a root and an intermediate inside the SoftHSM2 token"
  echo "   \"$token\" in $state/hsm (keys generated in the token, never extractable)"
fi
# The TSA's root and time-stamping certificate, keys in the same token
# (created once; an older quickstart state gets them on its next run).
if [ ! -s "$state/ca/tsa-chain.pem" ]; then
  "$fulcrum" createca --pkcs11-uri "pkcs11:token=$token?module-path=$module" \
    --pkcs11-pin-file "$state/hsm/user-pin" --hsm-caroot-id 98 --hsm-key-label TSA --tsa \
    --org "fulcrum quickstart" --common-name "fulcrum quickstart TSA root" \
    --out "$run/tsa-chain.pem" >"$run/createca-tsa.log" 2>&1 \
    || { cat "$run/createca-tsa.log" >&2; exit 1; }
  mv "$run/tsa-chain.pem" "$state/ca/tsa-chain.pem"
  echo "== TSA created: fulcrum createca --tsa made a TSA root and time-stamping certificate in the token"
fi
echo "   root: $(openssl x509 -in "$state/ca/root.pem" -noout -subject)"
echo "   root SHA-256 fingerprint: $(fingerprint "$state/ca/root.pem")"
echo "   PIN: in $state/hsm/user-pin (mode $(stat -c %a "$state/hsm/user-pin")), read by fulcrum from the file"

# --- 2. The CT log ---------------------------------------------------------
if [ ! -s "$state/ctlog/log.key" ]; then
  rm -rf "$state/ctlog/storage"   # a new key is a new log
  mkdir -p "$state/ctlog/storage"
  (umask 077; openssl ecparam -name prime256v1 -genkey -noout -out "$state/ctlog/log.key" 2>/dev/null)
  openssl ec -in "$state/ctlog/log.key" -pubout -out "$state/ctlog/log.pub" 2>/dev/null
  echo "== CT log: new log key in $state/ctlog"
else
  echo "== CT log: reusing the log in $state/ctlog (tree size $(sed -n 2p "$state/ctlog/storage/checkpoint" 2>/dev/null || echo 0))"
fi
cp "$state/ca/root.pem" "$state/ctlog/roots.pem"   # the log takes chains ending at our root
# The origin names the log in its signed checkpoint, so it stays the same
# from run to run even though the port does not.
start ctlog /healthz "$fulcrum" ctlog --listen 127.0.0.1:0 --storage-dir "$state/ctlog/storage" \
  --roots "$state/ctlog/roots.pem" --private-key "$state/ctlog/log.key" \
  --origin localhost/fulcrum-quickstart --ext-key-usages CodeSigning --batch-max-age 250ms
log=$url

# --- 3. A local OIDC issuer ------------------------------------------------
start issuer /.well-known/openid-configuration "$test_issuer"
issuer=$url
cat >"$run/config.yaml" <<YAML
# Fulcio's identity configuration format, unchanged.
oidc-issuers:
  $issuer:
    issuer-url: $issuer
    client-id: sigstore
    type: email
YAML

# --- 4. The timestamp authority: fulcrum tsa, its key in the token ----------
# fulcrum tsa refuses to stamp while the kernel says the clock is not
# synchronised (no NTP): then it is restarted with --no-clock-check, and
# says so. On a real server, run NTP instead.
tsa_flags=(--certificate-chain "$state/ca/tsa-chain.pem"
  --private-key "pkcs11:token=$token;object=TSA-tsa?module-path=$module"
  --pkcs11-pin-file "$state/hsm/user-pin")
start tsa /ping "$fulcrum" tsa --listen 127.0.0.1:0 "${tsa_flags[@]}"
tsa=$url
if ! curl -fs -o /dev/null --max-time 2 "$tsa/readyz"; then
  why=$(curl -sS --max-time 2 "$tsa/readyz" | $py -c 'import json,sys; print(json.load(sys.stdin).get("message",""))' 2>/dev/null || true)
  echo "   fulcrum tsa is not ready: $why"
  echo "   restarting it with --no-clock-check (this machine's clock is not NTP-synchronised)"
  kill -TERM "${pids[-1]}"
  wait "${pids[-1]}" 2>/dev/null || true
  unset 'pids[-1]' 'names[-1]'
  start tsa /readyz "$fulcrum" tsa --listen 127.0.0.1:0 "${tsa_flags[@]}" --no-clock-check
  tsa=$url
fi

# --- 5. Rekor v2 (rekor-tiles), its key and log kept -------------------------
# Its checkpoint origin is the host of its URL, 127.0.0.1: that is what
# sigstore-go checks checkpoints against. rekor-tiles takes fixed ports.
if [ ! -s "$state/rekor/rekor.key" ]; then
  rm -rf "$state/rekor/storage"   # a new key is a new log
  mkdir -p "$state/rekor/storage"
  (umask 077; openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$state/rekor/rekor.key" 2>/dev/null)
  openssl pkey -in "$state/rekor/rekor.key" -pubout -out "$state/rekor/rekor.pub"
  echo "== Rekor v2: new log key in $state/rekor"
fi
free_port() { $py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
rekor_port=$(free_port)
"$rekor_tiles" serve --hostname 127.0.0.1 --http-address 127.0.0.1 --http-port "$rekor_port" \
  --grpc-address 127.0.0.1 --grpc-port "$(free_port)" --http-metrics-port "$(free_port)" \
  --storage-dir "$state/rekor/storage" --signer-filepath "$state/rekor/rekor.key" \
  --checkpoint-interval 500ms --batch-max-age 100ms --log-level warn >"$run/rekor.log" 2>&1 &
pids+=("$!")
names+=(rekor)
rekor=http://127.0.0.1:$rekor_port
for _ in $(seq 600); do
  [ -s "$state/rekor/storage/checkpoint" ] && curl -s -o /dev/null --max-time 2 "$rekor/" && break
  kill -0 "${pids[-1]}" 2>/dev/null || break
  sleep 0.1
done
if ! curl -s -o /dev/null --max-time 2 "$rekor/" || [ ! -s "$state/rekor/storage/checkpoint" ]; then
  echo "quickstart: rekor-tiles did not start:" >&2
  tail -20 "$run/rekor.log" >&2
  exit 1
fi
echo "== rekor: $rekor   (pid ${pids[-1]}, log: $run/rekor.log)"

# --- 6. The trust files: fulcrum trust --------------------------------------
# The CA's port is chosen now: its URL goes into the files it serves.
ca_port=$(free_port)
ca=http://127.0.0.1:$ca_port
created() { date -u -r "$1" +%Y-%m-%dT%H:%M:%SZ; }   # a log's key is as old as its log
"$fulcrum" trust --ca "url=$ca,certificate-chain=$state/ca/chain.pem" \
  --ct-log "url=$log,public-key=$state/ctlog/log.pub,start-time=$(created "$state/ctlog/log.key")" \
  --tsa "url=$tsa/api/v1/timestamp,certificate-chain=$state/ca/tsa-chain.pem" \
  --rekor "url=$rekor,api-version=2,public-key=$state/rekor/rekor.pub,checkpoint=$state/rekor/storage/checkpoint,start-time=$(created "$state/rekor/rekor.key")" \
  --oidc "url=$issuer" --out-dir "$run/trust" >"$run/trust.log" 2>&1 \
  || { cat "$run/trust.log" >&2; exit 1; }
echo "== fulcrum trust wrote $run/trust/{trusted_root,signing_config,trust_config}.json:"
$py - "$run/trust/trusted_root.json" "$run/trust/signing_config.json" <<'PY'
import json, sys
root, sc = (json.load(open(p)) for p in sys.argv[1:3])
print(f"   trusted root: {len(root['certificateAuthorities'])} CA chain, {len(root['ctlogs'])} CT log, "
      f"{len(root['timestampAuthorities'])} TSA, {len(root['tlogs'])} Rekor log")
for kind in ("caUrls", "rekorTlogUrls", "tsaUrls", "oidcUrls"):
    for s in sc[kind]:
        print(f"   signing config {kind}: {s['url']} (API v{s['majorApiVersion']})")
PY

# --- 7. fulcrum serve: the CA key in the token, every certificate logged ----
start serve /readyz "$fulcrum" serve --ca pkcs11ca \
  --pkcs11-uri "pkcs11:token=$token;object=PKCS11CA-intermediate?module-path=$module" \
  --pkcs11-pin-file "$state/hsm/user-pin" --hsm-caroot-id 99-intermediate \
  --config-path "$run/config.yaml" --host 127.0.0.1 --port "$ca_port" --metrics-port 0 \
  --ct-log-url "$log" --ct-log-public-key-path "$state/ctlog/log.pub" \
  --trusted-root "$run/trust/trusted_root.json" --signing-config "$run/trust/signing_config.json" \
  --journal-dir "$state/journal"

# --- 8. Sign with sigstore-python, configured from the CA alone ---------------
id_token=$(curl -fsS -H 'Content-Type: application/json' \
  --data '{"key":"ec256","claims":{"sub":"alice","email":"alice@example.com","email_verified":true}}' \
  "$issuer/mint")
echo "== fulcrum token (what the CA decides from this token):"
"$fulcrum" token --config-path "$run/config.yaml" "$id_token"
curl -fsS "$ca/api/v2/trustConfig" -o "$run/client-trust-config.json"
curl -fsS "$ca/api/v2/trustedRoot" -o "$run/client-trusted-root.json"
printf 'an artifact signed on %s through fulcrum\n' "$(date -u +%FT%TZ)" >"$run/artifact.txt"
echo "== sigstore --trust-config <$ca/api/v2/trustConfig> sign $run/artifact.txt"
export HOME="$run/home"   # no Sigstore state of the user's is read or written
mkdir -p "$HOME"
"$sigstore_py" --trust-config "$run/client-trust-config.json" sign --identity-token "$id_token" \
  --bundle "$run/artifact.sigstore.json" "$run/artifact.txt" >"$run/sign.log" 2>&1 \
  || { cat "$run/sign.log" >&2; exit 1; }
$py - "$run/artifact.sigstore.json" "$run/leaf.pem" <<'PY'
import base64, json, sys
b = json.load(open(sys.argv[1]))
vm = b["verificationMaterial"]
e = vm["tlogEntries"][0]
print(f"   bundle {sys.argv[1]}: a certificate, a Rekor v2 {e['kindVersion']['kind']} entry "
      f"(log index {e.get('logIndex', '0')}), {len(vm['timestampVerificationData']['rfc3161Timestamps'])} RFC 3161 timestamp")
der = base64.b64decode(vm["certificate"]["rawBytes"])
pem = base64.encodebytes(der).decode().replace("\n", "")
open(sys.argv[2], "w").write("-----BEGIN CERTIFICATE-----\n"
    + "\n".join(pem[i:i + 64] for i in range(0, len(pem), 64)) + "\n-----END CERTIFICATE-----\n")
PY

# --- 9. Verify it with only the trusted root ----------------------------------
echo "== verifying with only the trusted root the CA serves (GET /api/v2/trustedRoot):"
echo -n "   sigstore-js (@sigstore/verify): "
node tests/interop/js/e2e-verify.mjs "$run/artifact.sigstore.json" "$run/artifact.txt" \
  "$run/client-trusted-root.json" alice@example.com "$issuer"
echo -n "   sigstore-python: "
"$sigstore_py" --trust-config "$run/client-trust-config.json" verify identity \
  --cert-identity alice@example.com --cert-oidc-issuer "$issuer" \
  --bundle "$run/artifact.sigstore.json" "$run/artifact.txt" 2>&1 | tail -1
if [ -x "$FULCRUM_DEPS/bin/cosign" ]; then
  echo -n "   cosign: "
  "$FULCRUM_DEPS/bin/cosign" verify-blob "$run/artifact.txt" --bundle "$run/artifact.sigstore.json" \
    --trusted-root "$run/client-trusted-root.json" \
    --certificate-identity alice@example.com --certificate-oidc-issuer "$issuer" 2>&1 | tail -1
fi
curl -fsS "$ca/api/v2/trustBundle" \
  | $py -c 'import json,sys; print("".join(json.load(sys.stdin)["chains"][0]["certificates"]), end="")' >"$run/bundle.pem"
echo "== the certificate ($run/leaf.pem):"
openssl x509 -in "$run/leaf.pem" -noout -subject -issuer -serial -dates -ext subjectAltName,keyUsage,extendedKeyUsage
echo "    Sigstore extensions (1.3.6.1.4.1.57264.1.x):"
$py - "$run/leaf.pem" <<'PY'
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

# The trust bundle is the intermediate and the root; its root must be the
# one in the token, and the leaf must chain to it.
n=$(grep -c 'BEGIN CERTIFICATE' "$run/bundle.pem")
awk '/BEGIN/{n++} n==2' "$run/bundle.pem" >"$run/bundle-root.pem"
if [ "$n" != 2 ] || [ "$(fingerprint "$run/bundle-root.pem")" != "$(fingerprint "$state/ca/root.pem")" ]; then
  echo "quickstart: the trust bundle is not intermediate + our root:" >&2
  cat "$run/bundle.pem" >&2
  exit 1
fi
echo "== trust bundle: $(openssl x509 -in "$run/bundle.pem" -noout -subject), then the root"
echo -n "== openssl verify (root from the token, intermediate from the trust bundle): "
openssl verify -CAfile "$state/ca/root.pem" -untrusted "$run/bundle.pem" "$run/leaf.pem"

# --- 10. The certificate in the CT log ----------------------------------------
# The SCT embedded in the certificate carries the static-ct-api leaf_index
# extension: type 0, length 5, the entry's 40-bit index in the log.
echo "== the embedded SCT:"
$py - "$run/leaf.pem" "$state/ctlog/log.pub" "$run/leaf-index" <<'PY'
import hashlib, sys
from cryptography import x509
from cryptography.hazmat.primitives import serialization
cert = x509.load_pem_x509_certificate(open(sys.argv[1], "rb").read())
log_key = serialization.load_pem_public_key(open(sys.argv[2], "rb").read())
spki = log_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
scts = cert.extensions.get_extension_for_class(x509.PrecertificateSignedCertificateTimestamps).value
for sct in scts:
    ext = sct.extension_bytes
    ours = sct.log_id == hashlib.sha256(spki).digest()
    print(f"    log id {sct.log_id.hex()[:16]}... ({'our log' if ours else 'another log'}), "
          f"timestamp {sct.timestamp:%Y-%m-%d %H:%M:%S} UTC, extensions {ext.hex()}")
    if ours and len(ext) == 8 and ext[:3] == b"\x00\x00\x05":
        open(sys.argv[3], "w").write(f"{int.from_bytes(ext[3:], 'big')}\n")
        break
else:
    sys.exit("quickstart: no SCT from our log with a leaf_index extension")
PY
leaf_index=$(cat "$run/leaf-index")
echo "== the log's checkpoint ($log/checkpoint):"
curl -fsS "$log/checkpoint" | tee "$run/checkpoint" | sed 's/^/    /'
tree_size=$(sed -n 2p "$run/checkpoint")
if [ "$leaf_index" -lt "$tree_size" ]; then
  echo "== leaf index $leaf_index < tree size $tree_size: the certificate is in the log's signed tree"
else
  echo "quickstart: leaf index $leaf_index is not below the tree size $tree_size" >&2
  exit 1
fi

# The signer process recorded the certificate before and after signing it.
echo "== the issuance journal (fulcrum journal verify $state/journal):"
"$fulcrum" journal verify "$state/journal" | sed 's/^/    /'

# --- 11. A refused token -------------------------------------------------------
echo "== a token minted for another audience is refused, and the client is told why:"
bad=$(curl -fsS -H 'Content-Type: application/json' \
  --data '{"claims":{"sub":"mallory","email":"mallory@example.com","email_verified":true,"aud":"another-app"}}' \
  "$issuer/mint")
node tests/interop/js/request-cert.mjs "$ca" "$bad" 2>&1 | grep -o '(400).*' | head -1 || true

if [ "${FULCRUM_QUICKSTART_ONESHOT:-}" = 1 ]; then
  echo "== done (FULCRUM_QUICKSTART_ONESHOT=1); stopping"
  exit 0
fi
echo "== running; try: curl $ca/api/v2/trustedRoot   or   curl $log/checkpoint"
echo "   sign: TOKEN=\$(curl -s -H 'Content-Type: application/json' -d '{\"claims\":{\"sub\":\"alice\",\"email\":\"alice@example.com\",\"email_verified\":true}}' $issuer/mint)"
echo "         $sigstore_py --trust-config $run/client-trust-config.json sign --identity-token \"\$TOKEN\" FILE"
echo "   (Ctrl-C to stop)"
alive() { local p; for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || return 1; done; }
while alive; do sleep 1; done
echo "quickstart: a service exited:" >&2
for n in "${names[@]}"; do tail -3 "$run/$n.log" >&2; done
exit 1
