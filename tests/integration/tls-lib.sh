# Helpers for the TLS tests (tls-*.sh): a test PKI made with openssl, the
# servers started with --tls-cert/--tls-key and waited for over HTTPS, and
# what openssl s_client sees of a listener. Source after lib.sh.
# shellcheck shell=bash

# tls_make_pki DIR: a root (DIR/root.pem, the only file clients trust), an
# intermediate, and leaves for localhost and 127.0.0.1 issued by the
# intermediate: DIR/NAME.key with DIR/NAME.chain.pem (leaf, intermediate)
# for NAME in a (P-256), b (RSA 2048), c (P-384); DIR/a.enc.key, a's key
# encrypted (PKCS#8, AES-256) with the passphrase "tls test passphrase".
tls_make_pki() {
  local d=$1 n
  mkdir -p "$d"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/root.key" 2>/dev/null || return 1
  openssl req -new -x509 -key "$d/root.key" -subj "/O=fulcrum test/CN=TLS Test Root" -days 30 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$d/root.pem" 2>/dev/null || return 1
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/int.key" 2>/dev/null || return 1
  openssl req -new -key "$d/int.key" -subj "/O=fulcrum test/CN=TLS Test Intermediate" \
    -out "$d/int.csr" 2>/dev/null || return 1
  printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' >"$d/int.ext"
  openssl x509 -req -in "$d/int.csr" -CA "$d/root.pem" -CAkey "$d/root.key" -CAcreateserial \
    -days 30 -extfile "$d/int.ext" -out "$d/int.pem" 2>/dev/null || return 1
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\nauthorityKeyIdentifier=keyid\n' >"$d/leaf.ext"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/a.key" 2>/dev/null || return 1
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$d/b.key" 2>/dev/null || return 1
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$d/c.key" 2>/dev/null || return 1
  for n in a b c; do
    openssl req -new -key "$d/$n.key" -subj "/O=fulcrum test/CN=localhost $n" -out "$d/$n.csr" 2>/dev/null || return 1
    openssl x509 -req -in "$d/$n.csr" -CA "$d/int.pem" -CAkey "$d/int.key" \
      -set_serial "0x$(openssl rand -hex 16)" -days 2 -extfile "$d/leaf.ext" -out "$d/$n.pem" 2>/dev/null || return 1
    cat "$d/$n.pem" "$d/int.pem" >"$d/$n.chain.pem"
  done
  openssl pkcs8 -topk8 -in "$d/a.key" -v2 aes-256-cbc -passout "pass:tls test passphrase" \
    -out "$d/a.enc.key" 2>/dev/null || return 1
}

# tls_service_files FILE...: run as root, fulcrum serve and fulcrum ctlog
# drop their network process to nobody (--user's default) once listening:
# give it the files it reads again on SIGHUP, as an operator gives them to
# the service's user. Nothing when not root (nothing is dropped).
tls_service_files() {
  [ "$(id -u)" = 0 ] || return 0
  chown nobody "$@"
}

# tls_serial_of PEM: the serial of a certificate, lower-case hex.
tls_serial_of() {
  openssl x509 -in "$1" -noout -serial | sed 's/^serial=//' | tr 'A-F' 'a-f'
}

# tls_served_serial HOST:PORT [s_client args...]: the serial of the leaf the
# listener serves to a new connection (empty if the handshake fails).
tls_served_serial() {
  local hp=$1
  shift
  echo | timeout 10 openssl s_client -connect "$hp" -servername localhost "$@" 2>/dev/null \
    | openssl x509 -noout -serial 2>/dev/null | sed 's/^serial=//' | tr 'A-F' 'a-f'
}

# tls_handshake HOST:PORT ARGS...: true when openssl s_client ARGS completes
# a handshake with the listener (the output is in $T_TMP/s_client.out).
# OPENSSL_CONF=/dev/null: the machine's openssl.cnf (Debian: MinProtocol
# TLSv1.2, SECLEVEL=2) must not refuse for the server.
tls_handshake() {
  local hp=$1
  shift
  echo | OPENSSL_CONF=/dev/null timeout 10 openssl s_client -connect "$hp" -servername localhost \
    "$@" >"$T_TMP/s_client.out" 2>&1 \
    && grep -Eq '^(New|Reused), TLSv1' "$T_TMP/s_client.out" \
    && ! grep -q 'Cipher is (NONE)' "$T_TMP/s_client.out"
}

# tls_wait URL CAFILE [SECONDS]: until URL answers 2xx over HTTPS.
tls_wait() {
  local url=$1 ca=$2 secs=${3:-30} i
  for i in $(seq $((secs * 10))); do
    curl -fsS -o /dev/null --max-time 2 --cacert "$ca" "$url" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "timed out waiting for $url" >&2
  return 1
}

# tls_start NAME WAITPATH CAFILE CMD ARGS...: starts `fulcrum CMD ARGS
# --port-file ...` (ARGS give the listen address as port 0 on 127.0.0.1 and
# the TLS flags; fulcrum serve keeps its issuance journal in
# $T_TMP/NAME.journal); sets ${NAME}_URL (https://localhost:PORT),
# ${NAME}_PORT and ${NAME}_PID; waits for WAITPATH over HTTPS trusting
# CAFILE. The log is $T_TMP/NAME.log. Returns 1 (log shown) if it does not
# start.
tls_start() {
  local name=$1 path=$2 ca=$3 cmd=$4 pf="$T_TMP/$1.port" i pid extra=()
  shift 4
  rm -f "$pf"
  [ "$cmd" = serve ] && extra=(--journal-dir "$T_TMP/$name.journal")
  "$FULCRUM_BIN" "$cmd" --port-file "$pf" "${extra[@]}" "$@" >>"$T_TMP/$name.log" 2>&1 &
  pid=$!
  T_PIDS+=("$pid")
  printf -v "${name}_PID" '%s' "$pid"
  for i in $(seq 200); do
    [ -s "$pf" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if [ ! -s "$pf" ]; then
    echo "fulcrum $cmd ($name) did not start:"
    tail -20 "$T_TMP/$name.log"
    return 1
  fi
  printf -v "${name}_PORT" '%s' "$(tr -d '\n' <"$pf")"
  printf -v "${name}_URL" 'https://localhost:%s' "$(tr -d '\n' <"$pf")"
  local url_var="${name}_URL"
  tls_wait "${!url_var}$path" "$ca" 15 || { tail -20 "$T_TMP/$name.log"; return 1; }
}

# tls_stop PID: TERM, then KILL after 10 s; true if it exited 0.
tls_stop() {
  local pid=$1 i rc
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  rc=$?
  return $rc
}

# sanitizer_clean LOG: no AddressSanitizer / UBSan report in LOG.
tls_sanitizer_clean() {
  ! grep -Eq 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|SUMMARY: UndefinedBehaviorSanitizer' "$1"
}
