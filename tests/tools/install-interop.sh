#!/usr/bin/env bash
# Installs the real third-party Sigstore clients that tests/interop drives
# against fulcrum (test-only; nothing here is shipped or linked):
#   * sigstore-js (@sigstore/sign 4.1.1, @sigstore/verify 3.1.1, @sigstore/mock
#     0.12.1, ...; the newest line that declares Node 20) with `npm ci` from
#     tests/interop/js/package-lock.json into tests/interop/js/node_modules;
#   * sigstore-python 4.5.1 and pyca/cryptography, pinned with all their
#     dependencies in tests/interop/py/requirements.txt, into a venv at
#     $FULCRUM_DEPS/venv (FULCRUM_DEPS defaults to <repo>/.deps), with
#     prometheus-client, whose parser reads /metrics in the obs-* tests.
# Idempotent: each step is skipped while its lock file is unchanged.
# Prints one line per step; exits non-zero with the reason on failure.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
deps=${FULCRUM_DEPS:-$root/.deps}
js="$root/tests/interop/js"
req="$root/tests/interop/py/requirements.txt"
venv="$deps/venv"

fail() { echo "install-interop: $*" >&2; exit 1; }
sum() { sha256sum "$@" | sha256sum | cut -c1-64; }

# --- sigstore-js -------------------------------------------------------------
command -v node >/dev/null || fail "node (>= 20.17) is required for the sigstore-js interop tests"
command -v npm >/dev/null || fail "npm is required for the sigstore-js interop tests"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=17)?0:1)' \
  || fail "node $(node --version) is too old: sigstore-js 4.1.1 needs ^20.17.0 || >=22.9.0"
stamp="$js/node_modules/.fulcrum-interop.stamp"
want=$(sum "$js/package.json" "$js/package-lock.json")
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  echo "install-interop: sigstore-js up to date ($js/node_modules)"
else
  echo "install-interop: npm ci in tests/interop/js"
  log=$(mktemp)
  if ! (cd "$js" && npm ci --no-audit --no-fund --loglevel=error >"$log" 2>&1); then
    cat "$log" >&2; rm -f "$log"
    fail "npm ci failed in $js"
  fi
  rm -f "$log"
  echo "$want" >"$stamp"
fi
(cd "$js" && node -e 'require("@sigstore/sign").FulcioSigner' ) \
  || fail "@sigstore/sign does not load from $js/node_modules"

# --- sigstore-python -----------------------------------------------------------
py=${PYTHON:-python3}
command -v "$py" >/dev/null || fail "python3 (>= 3.10) is required for the sigstore-python interop tests"
"$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
  || fail "$("$py" --version 2>&1) is too old: sigstore 4.5 needs Python >= 3.10"
stamp="$venv/.fulcrum-interop.stamp"
want=$(sum "$req")
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  echo "install-interop: sigstore-python up to date ($venv)"
else
  echo "install-interop: pip install -r tests/interop/py/requirements.txt into $venv"
  mkdir -p "$deps"
  if [ ! -x "$venv/bin/python" ]; then
    "$py" -m venv "$venv" || fail "cannot create a venv at $venv (python3-venv missing?)"
  fi
  log=$(mktemp)
  if ! "$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$req" >"$log" 2>&1; then
    cat "$log" >&2; rm -f "$log"
    fail "pip install failed into $venv"
  fi
  rm -f "$log"
  echo "$want" >"$stamp"
fi
"$venv/bin/python" -c 'import sigstore._internal.fulcio.client, sigstore.sign, cryptography, prometheus_client' \
  || fail "sigstore-python does not import from $venv"
echo "install-interop: ready (node $(node --version), sigstore $("$venv/bin/python" -c 'from importlib.metadata import version as v; print(v("sigstore"), "/ cryptography", v("cryptography"))'))"
