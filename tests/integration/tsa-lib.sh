# Helpers for the tests of fulcrum tsa: a TSA chain made by fulcrum createca
# --tsa, the server on a free loopback port, and time-stamp queries.
# Source after lib.sh (uses T_TMP, T_PIDS, t_wait_http).
# shellcheck shell=bash

# tsa_make_chain DIR [createca flags...]: a root and a time-stamping
# certificate as files (fulcrum createca --file --tsa): DIR/chain.pem
# (signing certificate, root), DIR/leaf.pem, DIR/root.pem, DIR/tsa.key,
# DIR/root.key.
tsa_make_chain() {
  local d=$1
  shift
  mkdir -p "$d"
  "$FULCRUM_BIN" createca --file --tsa --out "$d/chain.pem" --key-out "$d/tsa.key" \
    --root-key-out "$d/root.key" --org "fulcrum test" --common-name "TSA Test Root $(basename "$d")" \
    "$@" >"$d/createca.log" 2>&1 || { cat "$d/createca.log"; return 1; }
  tsa_split_chain "$d"
}

# tsa_split_chain DIR: DIR/leaf.pem and DIR/root.pem from DIR/chain.pem.
tsa_split_chain() {
  awk -v d="$1" '/BEGIN CERT/ {n++} {print > (d "/cert" n ".pem")}' "$1/chain.pem"
  mv "$1/cert1.pem" "$1/leaf.pem"
  mv "$1/cert2.pem" "$1/root.pem"
}

# tsa_start NAME ARGS...: fulcrum tsa on a free loopback port (ARGS: its
# flags: --certificate-chain, --private-key, ...); sets ${NAME}_URL and
# ${NAME}_PID; waits for /ping. Returns 1 (log shown) if it does not start.
tsa_start() {
  local name=$1 pf="$T_TMP/$1.tsa.port" i pid
  shift
  rm -f "$pf"
  "$FULCRUM_BIN" tsa --listen 127.0.0.1:0 --port-file "$pf" "$@" >"$T_TMP/$name.tsa.log" 2>&1 &
  pid=$!
  T_PIDS+=("$pid")
  printf -v "${name}_PID" '%s' "$pid"
  for i in $(seq 200); do
    [ -s "$pf" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if [ ! -s "$pf" ]; then
    echo "fulcrum tsa ($name) did not start:"
    tail -20 "$T_TMP/$name.tsa.log"
    return 1
  fi
  printf -v "${name}_URL" 'http://127.0.0.1:%s' "$(tr -d '\n' <"$pf")"
  local url_var="${name}_URL"
  t_wait_http "${!url_var}/ping" 10
}

# tsa_stop PID: TERM, then KILL after 5 s.
tsa_stop() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
}

# tsa_post URL FILE [CONTENT_TYPE] [OUT]: POST FILE to URL/api/v1/timestamp;
# sets H_STATUS, H_TYPE and H_BODY (the body is also in OUT, default
# $T_TMP/reply.tsr).
tsa_post() {
  local url=$1 file=$2 ct=${3:-application/timestamp-query} out=${4:-$T_TMP/reply.tsr}
  H_STATUS=$(curl -sS -o "$out" -D "$T_TMP/reply.hdr" -w '%{http_code}' --max-time 30 \
    -H "Content-Type: $ct" --data-binary @"$file" "$url/api/v1/timestamp")
  H_TYPE=$(grep -i '^content-type:' "$T_TMP/reply.hdr" | head -1 | cut -d' ' -f2- | tr -d '\r')
  H_BODY=$(tr -d '\0' <"$out" | head -c 2000)
}
