# Helpers for the fulcrum ctlog tests: a CA made with openssl, leaf
# certificates and precertificates, add-(pre-)chain bodies, starting and
# stopping the log, and the Go reader. Sourced after lib.sh.
# shellcheck shell=bash

CT_ORIGIN=localhost/fulcrum-ctlog-test
CT_READER=${FULCRUM_DEPS:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/.deps}/bin/ctlog-reader
POISON_OID=1.3.6.1.4.1.11129.2.4.3

# ct_make_ca DIR: DIR/root.{key,pem}, DIR/inter.{key,pem} (EC P-256), and
# the log key DIR/log.key (SEC1) with its public half DIR/log.pub.
ct_make_ca() {
  local d=$1
  mkdir -p "$d"
  openssl ecparam -name prime256v1 -genkey -noout -out "$d/root.key" 2>/dev/null
  openssl req -new -x509 -key "$d/root.key" -subj "/O=fulcrum test/CN=ct test root" -days 30 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$d/root.pem" 2>/dev/null
  openssl ecparam -name prime256v1 -genkey -noout -out "$d/inter.key" 2>/dev/null
  openssl req -new -key "$d/inter.key" -subj "/O=fulcrum test/CN=ct test intermediate" \
    -out "$d/inter.csr" 2>/dev/null
  printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' >"$d/inter.ext"
  openssl x509 -req -in "$d/inter.csr" -CA "$d/root.pem" -CAkey "$d/root.key" -CAcreateserial \
    -days 30 -extfile "$d/inter.ext" -out "$d/inter.pem" 2>/dev/null
  openssl ecparam -name prime256v1 -genkey -noout -out "$d/log.key" 2>/dev/null
  openssl ec -in "$d/log.key" -pubout -out "$d/log.pub" 2>/dev/null
}

# ct_make_leaf DIR NAME KIND [ISSUER]: DIR/NAME.pem signed by DIR/ISSUER
# (default inter). KIND: cert, precert, poison-noncritical, poison-value.
ct_make_leaf() {
  local d=$1 name=$2 kind=$3 issuer=${4:-inter}
  openssl ecparam -name prime256v1 -genkey -noout -out "$d/$name.key" 2>/dev/null
  openssl req -new -key "$d/$name.key" -subj "/CN=$name" -out "$d/$name.csr" 2>/dev/null
  {
    printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n'
    printf 'extendedKeyUsage=codeSigning\nsubjectAltName=email:%s@example.com\n' "$name"
    printf 'authorityKeyIdentifier=keyid\n'
    case $kind in
      precert) printf '%s=critical,ASN1:NULL\n' "$POISON_OID" ;;
      poison-noncritical) printf '%s=ASN1:NULL\n' "$POISON_OID" ;;
      poison-value) printf '%s=critical,ASN1:INTEGER:1\n' "$POISON_OID" ;;
    esac
  } >"$d/$name.ext"
  openssl x509 -req -in "$d/$name.csr" -CA "$d/$issuer.pem" -CAkey "$d/$issuer.key" \
    -set_serial "0x$(openssl rand -hex 12)" -days 1 -extfile "$d/$name.ext" \
    -out "$d/$name.pem" 2>/dev/null
}

# ct_b64 PEM: base64 DER of a certificate on one line.
ct_b64() { openssl x509 -in "$1" -outform DER | base64 -w0; }

# ct_body PEM...: an add-(pre-)chain body.
ct_body() {
  local first=1 f
  printf '{"chain":['
  for f in "$@"; do
    [ $first -eq 1 ] || printf ','
    first=0
    printf '"%s"' "$(ct_b64 "$f")"
  done
  printf ']}'
}

# ct_start NAME STORAGE ROOTS LOGKEY [ARGS...]: starts fulcrum ctlog on a
# free loopback port; sets ${NAME}_URL and ${NAME}_PID.
ct_start() {
  local name=$1 store=$2 roots=$3 key=$4 pf="$T_TMP/$1.ctlog.port" i pid
  shift 4
  rm -f "$pf"
  "$FULCRUM_BIN" ctlog --listen 127.0.0.1:0 --port-file "$pf" --storage-dir "$store" \
    --roots "$roots" --private-key "$key" --origin "$CT_ORIGIN" "$@" \
    >>"$T_TMP/$name.ctlog.log" 2>&1 &
  pid=$!
  T_PIDS+=("$pid")
  printf -v "${name}_PID" '%s' "$pid"
  for i in $(seq 200); do
    [ -s "$pf" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if [ ! -s "$pf" ]; then
    echo "fulcrum ctlog ($name) did not start:"
    tail -20 "$T_TMP/$name.ctlog.log"
    return 1
  fi
  printf -v "${name}_URL" 'http://127.0.0.1:%s' "$(tr -d '\n' <"$pf")"
  local url_var="${name}_URL"
  t_wait_http "${!url_var}/healthz" 10
}

# ct_stop PID: TERM, then KILL after 5 s.
ct_stop() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}

# ct_tree_size URL: the size line of the checkpoint.
ct_tree_size() { curl -fsS --max-time 5 "$1/checkpoint" | sed -n 2p; }

# ct_need_reader: build the Go reader (idempotent) or skip.
ct_need_reader() {
  local here
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  if ! command -v go >/dev/null && [ ! -x /usr/local/go/bin/go ]; then
    t_skip "Go is needed for the ctlog reader"
  fi
  "$here/tools/install-ctlog-reader.sh" >"$T_TMP/install-reader.log" 2>&1 || {
    cat "$T_TMP/install-reader.log"
    echo "cannot build the ctlog reader"
    exit 1
  }
}

# ct_submit_lines BODIES PRECERT(true|false) URL PARALLEL OUT: posts each
# line of BODIES with PARALLEL curl loops; appends one JSON line per
# acknowledged submission to OUT: {"precert":..,"body":..,"sct":..}.
ct_submit_lines() {
  local f=$1 pc=$2 url=$3 par=$4 out=$5 ep=add-chain part pids=()
  [ "$pc" = true ] && ep=add-pre-chain
  split -n "l/$par" -d -a 3 "$f" "$T_TMP/split."
  for part in "$T_TMP"/split.[0-9][0-9][0-9]; do
    (
      while IFS= read -r line; do
        resp=$(curl -sS -f --max-time 30 --data-binary "$line" "$url/ct/v1/$ep" 2>/dev/null) || continue
        printf '{"precert":%s,"body":%s,"sct":%s}\n' "$pc" "$line" "$resp"
      done <"$part" >"$part.out"
    ) &
    pids+=($!)
  done
  wait "${pids[@]}"
  cat "$T_TMP"/split.[0-9][0-9][0-9].out >>"$out"
  rm -f "$T_TMP"/split.[0-9][0-9][0-9] "$T_TMP"/split.[0-9][0-9][0-9].out
}

# ct_submit_one PEMS... : posts one chain (add-pre-chain if the leaf has
# the poison); sets H_STATUS and H_BODY; on 200 appends to $CT_SUBS.
ct_submit_one() {
  local ep=add-chain pc=false body
  if openssl x509 -in "$1" -noout -text 2>/dev/null | grep -q 'CT Precertificate Poison'; then
    ep=add-pre-chain
    pc=true
  fi
  body=$(ct_body "$@")
  http POST "$CT_URL/ct/v1/$ep" "$body"
  if [ "$H_STATUS" = 200 ] && [ -n "${CT_SUBS:-}" ]; then
    printf '{"precert":%s,"body":%s,"sct":%s}\n' "$pc" "$body" "$H_BODY" >>"$CT_SUBS"
  fi
}
