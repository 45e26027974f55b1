# Helpers for the tests that run fulcrum against a real CT log, TesseraCT
# POSIX (built by tests/tools/install-tesseract.sh), on loopback.
# Source after tests/integration/lib.sh (uses T_TMP, T_PIDS, t_free_port,
# t_wait_http); tests/bench/bench-ct.sh provides the same names itself.
# shellcheck shell=bash

ct_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CT_DEPS=${FULCRUM_DEPS:-$ct_repo/.deps}
TESSERACT_BIN=${TESSERACT_BIN:-$CT_DEPS/bin/tesseract-posix}

# ct_have_tesseract: true when the TesseraCT binary is installed.
ct_have_tesseract() { [ -x "$TESSERACT_BIN" ]; }

# ct_make_ca DIR: a CA made with the openssl CLI before any server starts, so
# that the CT log can trust its root from the start (with ephemeralca the
# root only exists once fulcrum runs): root.pem (P-384, self-signed),
# int.pem + int.key (P-256 issuing CA, EKU codeSigning, unencrypted key) and
# chain.pem (intermediate then root) for `fulcrum serve --ca fileca`.
ct_make_ca() {
  local d=$1
  mkdir -p "$d"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$d/root.key" 2>/dev/null || return 1
  openssl req -new -key "$d/root.key" -subj "/O=fulcrum test/CN=CT Test Root $(basename "$d")" -out "$d/root.csr" || return 1
  printf 'basicConstraints=critical,CA:TRUE,pathlen:1\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n' >"$d/root.ext"
  openssl x509 -req -in "$d/root.csr" -signkey "$d/root.key" -days 3650 -extfile "$d/root.ext" \
    -out "$d/root.pem" 2>/dev/null || return 1
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/int.key" 2>/dev/null || return 1
  openssl req -new -key "$d/int.key" -subj "/O=fulcrum test/CN=CT Test Intermediate $(basename "$d")" -out "$d/int.csr" || return 1
  printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nextendedKeyUsage=codeSigning\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' >"$d/int.ext"
  openssl x509 -req -in "$d/int.csr" -CA "$d/root.pem" -CAkey "$d/root.key" -CAcreateserial -days 365 \
    -extfile "$d/int.ext" -out "$d/int.pem" 2>/dev/null || return 1
  cat "$d/int.pem" "$d/root.pem" >"$d/chain.pem"
}

# ct_log_key DIR: a P-256 CT log key as TesseraCT wants it (SEC1 "EC PRIVATE
# KEY"; PKCS#8 is refused) in DIR/log.key, its public key in DIR/log.pub.
ct_log_key() {
  local d=$1
  mkdir -p "$d"
  openssl ecparam -name prime256v1 -genkey -noout -out "$d/log.key" 2>/dev/null || return 1
  openssl ec -in "$d/log.key" -pubout -out "$d/log.pub" 2>/dev/null
}

# tesseract_start NAME ROOTS_PEM INTERVAL [FLAGS...]: TesseraCT POSIX on a free
# loopback port with a fresh storage directory and a fresh P-256 key,
# trusting ROOTS_PEM, accepting only codeSigning leaves, publishing a
# checkpoint every INTERVAL (e.g. 1s, 250ms; SCTs are answered once a
# checkpoint covers the entry). Waits for /healthz and the first checkpoint.
# Sets ${NAME}_URL (submission prefix, no trailing slash), ${NAME}_PUB (log
# public key PEM), ${NAME}_KEY, ${NAME}_STORAGE, ${NAME}_PID, ${NAME}_LOG and
# ${NAME}_ORIGIN ($CT_ORIGIN, default 127.0.0.1).
tesseract_start() {
  local name=$1 roots=$2 interval=$3 d port pid i origin
  shift 3
  d="$T_TMP/$name"
  rm -rf "$d"
  mkdir -p "$d/storage"
  ct_log_key "$d" || { echo "tesseract_start: cannot make a log key" >&2; return 1; }
  port=$(t_free_port)
  # The origin (checkpoint name, = submission prefix without scheme) must
  # parse as a scheme-less URL, so it cannot be "127.0.0.1:PORT". TesseraCT
  # compares it with the request's host name (port dropped) + path and only
  # logs a warning on a mismatch; "127.0.0.1" matches requests sent to the
  # URL itself. CT_ORIGIN overrides it (e.g. to test --ct-log-origin).
  origin=${CT_ORIGIN:-127.0.0.1}
  # GOMEMLIMIT: TesseraCT's README advises it (BadgerDB compactions).
  GOMEMLIMIT=${GOMEMLIMIT:-1GiB} "$TESSERACT_BIN" \
    --http_endpoint="127.0.0.1:$port" \
    --storage_dir="$d/storage" \
    --origin="$origin" \
    --private_key="$d/log.key" \
    --roots_pem_file="$roots" \
    --roots_remote_fetch_interval=0s \
    --ext_key_usages=CodeSigning \
    --checkpoint_interval="$interval" \
    "$@" >"$d/tesseract.log" 2>&1 &
  pid=$!
  T_PIDS+=("$pid")
  printf -v "${name}_PID" '%s' "$pid"
  printf -v "${name}_URL" 'http://127.0.0.1:%s' "$port"
  printf -v "${name}_PUB" '%s' "$d/log.pub"
  printf -v "${name}_KEY" '%s' "$d/log.key"
  printf -v "${name}_STORAGE" '%s' "$d/storage"
  printf -v "${name}_LOG" '%s' "$d/tesseract.log"
  printf -v "${name}_ORIGIN" '%s' "$origin"
  for i in $(seq 300); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "TesseraCT ($name) exited:" >&2; tail -20 "$d/tesseract.log" >&2; return 1
    fi
    if [ -s "$d/storage/checkpoint" ] \
       && curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$port/healthz" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "TesseraCT ($name) not ready after 30 s:" >&2; tail -20 "$d/tesseract.log" >&2
  return 1
}

# ct_log_id_b64 PUB_PEM: base64 of SHA-256(DER SPKI), the RFC 6962 log ID.
ct_log_id_b64() {
  openssl pkey -pubin -in "$1" -outform DER 2>/dev/null | openssl dgst -sha256 -binary | base64 -w0
}

# fulcrum_ct_start NAME CT_URL CT_PUB ARGS...: `fulcrum serve` on a free
# loopback port, metrics off, submitting to the CT log at CT_URL whose public
# key is CT_PUB; ARGS are more serve flags (--ca, --config-path, ...). Sets
# ${NAME}_URL and ${NAME}_PID; waits for /healthz. Its issuance journal is
# $T_TMP/NAME.journal.
fulcrum_ct_start() {
  local name=$1 ct_url=$2 ct_pub=$3 pf i
  shift 3
  pf="$T_TMP/$name.serve.port"
  rm -f "$pf"
  "$FULCRUM_BIN" serve --host 127.0.0.1 --port 0 --port-file "$pf" --metrics-port 0 \
    --journal-dir "$T_TMP/$name.journal" --ct-log-url "$ct_url" --ct-log-public-key-path "$ct_pub" "$@" \
    >"$T_TMP/$name.serve.log" 2>&1 &
  T_PIDS+=($!)
  printf -v "${name}_PID" '%s' "$!"
  for i in $(seq 200); do [ -s "$pf" ] && break; kill -0 "$!" 2>/dev/null || break; sleep 0.05; done
  [ -s "$pf" ] || { echo "fulcrum serve ($name) did not start:"; cat "$T_TMP/$name.serve.log"; return 1; }
  printf -v "${name}_URL" 'http://127.0.0.1:%s' "$(tr -d '\n' <"$pf")"
  local url_var="${name}_URL"
  t_wait_http "${!url_var}/healthz" 10
}

# threads_of PID: the Threads: line of /proc/PID/status.
threads_of() { awk '/^Threads:/ {print $2}' "/proc/$1/status" 2>/dev/null; }
