#!/usr/bin/env bash
# The README's run command. Installs what fulcrum needs, builds it, and runs
# the whole stack on loopback:
#   - a local OIDC issuer (tests/tools/test_issuer.c: discovery, JWKS, tokens)
#   - a SoftHSM2 token holding the CA (root and intermediate, made by
#     `fulcrum createca` on the first run, reused on the next ones)
#   - `fulcrum ctlog`, a Certificate Transparency log (its key and its
#     entries are kept too, so the tree grows from run to run)
#   - `fulcrum serve --ca pkcs11ca`, which logs every certificate and embeds
#     the log's verified SCT (its key behind a signer process that journals
#     every certificate, docs/signer.md)
# then requests a real certificate through sigstore-js's own Fulcio client,
# prints it decoded, checks it with `openssl verify`, shows where it sits in
# the log, shows what fulcrum says about a refused token, and keeps the
# services running until Ctrl-C.
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
  bash tests/tools/install-interop.sh >/dev/null   # sigstore-js, pinned
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
for exe in "$fulcrum" "$test_issuer"; do
  [ -x "$exe" ] || { echo "quickstart: $exe is missing (build first, or set FULCRUM_BUILD_DIR)" >&2; exit 1; }
done

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
#   ca/     chain.pem (intermediate, root) and root.pem, as createca wrote them
#   ctlog/  log.key (0600), log.pub, roots.pem, storage/ (the log itself)
#   run/    this run's logs, ports and certificate (emptied at every start)
mkdir -p "$state"/{hsm/tokens,ca,ctlog/storage}
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

# --- 4. fulcrum serve: the CA key in the token, every certificate logged ----
start serve /readyz "$fulcrum" serve --ca pkcs11ca \
  --pkcs11-uri "pkcs11:token=$token;object=PKCS11CA-intermediate?module-path=$module" \
  --pkcs11-pin-file "$state/hsm/user-pin" --hsm-caroot-id 99-intermediate \
  --config-path "$run/config.yaml" --host 127.0.0.1 --port 0 --metrics-port 0 \
  --ct-log-url "$log" --ct-log-public-key-path "$state/ctlog/log.pub" \
  --journal-dir "$state/journal"
ca=$url

# --- 5. A token for alice@example.com, and a certificate through sigstore-js
id_token=$(curl -fsS -H 'Content-Type: application/json' \
  --data '{"key":"ec256","claims":{"sub":"alice","email":"alice@example.com","email_verified":true}}' \
  "$issuer/mint")
echo "== fulcrum token (what the CA decides from this token):"
"$fulcrum" token --config-path "$run/config.yaml" "$id_token"
echo "== requesting a certificate with sigstore-js (@sigstore/sign's FulcioSigner)"
node tests/interop/js/request-cert.mjs "$ca" "$id_token" >"$run/chain.json"
$py -c 'import json,sys; print(json.load(open(sys.argv[1]))["chain"][0])' "$run/chain.json" >"$run/leaf.pem"
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

# --- 6. The certificate in the CT log ----------------------------------------
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

# --- 7. A refused token --------------------------------------------------------
echo "== a token minted for another audience is refused, and the client is told why:"
bad=$(curl -fsS -H 'Content-Type: application/json' \
  --data '{"claims":{"sub":"mallory","email":"mallory@example.com","email_verified":true,"aud":"another-app"}}' \
  "$issuer/mint")
node tests/interop/js/request-cert.mjs "$ca" "$bad" 2>&1 | grep -o '(400).*' | head -1 || true

if [ "${FULCRUM_QUICKSTART_ONESHOT:-}" = 1 ]; then
  echo "== done (FULCRUM_QUICKSTART_ONESHOT=1); stopping"
  exit 0
fi
echo "== running; try: curl $ca/api/v2/configuration   or   curl $log/checkpoint   (Ctrl-C to stop)"
while kill -0 "${pids[0]}" 2>/dev/null && kill -0 "${pids[2]}" 2>/dev/null; do sleep 1; done
echo "quickstart: a service exited:" >&2
tail -5 "$run/ctlog.log" "$run/serve.log" >&2
exit 1
