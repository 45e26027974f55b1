#!/usr/bin/env bash
# The HTTP front refuses malformed requests at once: each case below, sent
# byte for byte over a raw socket, is answered 400 (414 for an over-long
# target) in well under a second, in Fulcio's error shape where the front
# answers itself, and the connection is closed. Well-formed neighbours of
# the same requests still get 200. Against fulcrum serve and fulcrum ctlog.
. "$(dirname "$0")/http-lib.sh"
. "$(dirname "$0")/ctlog-lib.sh"
command -v jq >/dev/null || t_skip "jq not installed"

# The front's flags: Go durations, counts; bad values are usage errors.
for bad in "--read-header-timeout 10" "--idle-connection-timeout 1x" "--read-timeout -1s" \
  "--shutdown-timeout 25h" "--max-connections 0" "--max-requests-in-flight x"; do
  # shellcheck disable=SC2086
  "$FULCRUM_BIN" serve --ca ephemeralca --port 0 --metrics-port 0 --ct-log-url "" $bad \
    >/dev/null 2>"$T_TMP/flag.err"
  rc=$?
  [ "$rc" = 2 ] && grep -q 'bad value' "$T_TMP/flag.err" && t_ok "serve $bad: refused (exit 2)" \
    || t_bad "serve $bad: exit $rc, $(cat "$T_TMP/flag.err")"
done
"$FULCRUM_BIN" ctlog --read-header-timeout 5 >/dev/null 2>"$T_TMP/flag.err"
[ $? = 2 ] && t_ok "ctlog --read-header-timeout 5: refused (exit 2)" || t_bad "ctlog: $(cat "$T_TMP/flag.err")"
"$FULCRUM_BIN" serve --help >"$T_TMP/help.txt"
grep -q -- '--read-header-timeout D' "$T_TMP/help.txt" && t_ok "serve --help lists the front's flags" \
  || t_bad "serve --help: no --read-header-timeout"
serve_start flags --ca ephemeralca --read-header-timeout 1m30s --read-timeout 2m --write-timeout 1h \
  --idle-connection-timeout 500ms --shutdown-timeout 1.5s --max-connections 100 \
  --max-connections-per-ip 0 --max-requests-in-flight 10 \
  && t_ok "serve starts with every front flag in Go syntax (1m30s, 500ms, 1.5s, 1h)" \
  || t_bad "serve with the front's flags: $(cat "$T_TMP/flags.serve.log")"

serve_start ca --ca ephemeralca || exit 1
P=$(port_of "$ca_URL")

# expect DESC STATUS BYTES (printf format, sent to PORT=$P)
expect() {
  local desc=$1 want=$2 fmt=$3 out st ms closed wait=3
  [ "$want" = 200 ] && wait=1 # a kept-alive connection: no close to wait for
  out=$($HC raw 127.0.0.1 "${PORT:-$P}" "$(printf "$fmt" | xxd -p | tr -d '\n')" --timeout "$wait")
  st=$(jq -r .status <<<"$out")
  ms=$(jq -r '.ms_answer // 99999' <<<"$out")
  closed=$(jq -r .closed <<<"$out")
  if [ "$want" = 200 ]; then
    [ "$st" = 200 ] && t_ok "$desc: 200" || t_bad "$desc: want 200, got $out"
    return
  fi
  if [ "$st" = "$want" ] && [ "$closed" = true ] && awk -v m="$ms" 'BEGIN {exit !(m < 1000)}'; then
    t_ok "$desc: $st in ${ms} ms, connection closed: $(jq -r .body <<<"$out" | head -c 100)"
  else
    t_bad "$desc: want $want at once and a close, got $out"
  fi
}
# fulcio_shape DESC BYTES: the front's own 400 is {"code":3,"message":...,"details":[]}
fulcio_shape() {
  local out
  out=$($HC raw 127.0.0.1 "$P" "$(printf "$2" | xxd -p | tr -d '\n')" --timeout 3)
  jq -e '.body | fromjson | .code == 3 and (.message | length > 0) and .details == []' \
    <<<"$out" >/dev/null && t_ok "$1: Fulcio's error shape" || t_bad "$1: body $out"
}

H='Host: x\r\n'
expect "well-formed GET /healthz" 200 "GET /healthz HTTP/1.1\r\n$H\r\n"
expect "%00 in the path (/healthz%00.txt)" 400 "GET /healthz%%00.txt HTTP/1.1\r\n$H\r\n"
expect "%00 in the query" 400 "GET /healthz?a=%%00 HTTP/1.1\r\n$H\r\n"
expect "raw NUL in the path" 400 "GET /heal\x00thz HTTP/1.1\r\n$H\r\n"
expect "raw NUL in the method" 400 "G\x00ET /healthz HTTP/1.1\r\n$H\r\n"
expect "control byte in the path" 400 "GET /heal\x01thz HTTP/1.1\r\n$H\r\n"
expect "HTTP/1.1 without Host" 400 "GET /healthz HTTP/1.1\r\n\r\n"
expect "HTTP/1.1 with two Host fields" 400 "GET /healthz HTTP/1.1\r\n${H}Host: y\r\n\r\n"
expect "HTTP/1.0 without Host is fine" 200 "GET /healthz HTTP/1.0\r\n\r\n"
expect "NUL inside a header value" 400 "GET /healthz HTTP/1.1\r\n${H}X-A: ab\x00cd\r\n\r\n"
expect "NUL at the end of a header value" 400 "GET /healthz HTTP/1.1\r\n${H}X-A: ab\x00\r\n\r\n"
expect "NUL in the Authorization value" 400 \
  "POST /api/v2/signingCert HTTP/1.1\r\n${H}Authorization: Bearer a\x00b\r\nContent-Length: 2\r\n\r\n{}"
expect "NUL in a header name" 400 "GET /healthz HTTP/1.1\r\n${H}X-\x00A: b\r\n\r\n"
expect "control byte (0x01) in a header value" 400 "GET /healthz HTTP/1.1\r\n${H}X-A: a\x01b\r\n\r\n"
expect "DEL (0x7f) in a header value" 400 "GET /healthz HTTP/1.1\r\n${H}X-A: a\x7fb\r\n\r\n"
expect "tab in a header value is fine" 200 "GET /healthz HTTP/1.1\r\n${H}X-A: a\tb\r\n\r\n"
expect "space before the colon" 400 "GET /healthz HTTP/1.1\r\n${H}X-A : b\r\n\r\n"
expect "obsolete line folding" 400 "GET /healthz HTTP/1.1\r\n${H}X-A: a\r\n  b\r\n\r\n"
params=$(python3 -c "print('&'.join('a%d=1' % i for i in range(3000)))")
expect "3000 query parameters (over 8 KiB)" 414 "GET /healthz?$params HTTP/1.1\r\n$H\r\n"
params=$(python3 -c "print('a&' * 3000)")
expect "3000 short query parameters" 400 "GET /healthz?$params HTTP/1.1\r\n$H\r\n"
params=$(python3 -c "print('&'.join('a%d=1' % i for i in range(100)))")
expect "100 query parameters are fine" 200 "GET /healthz?$params HTTP/1.1\r\n$H\r\n"
hdrs=$(python3 -c "print(''.join('X-H%d: 1\\\\r\\\\n' % i for i in range(150)))")
expect "150 header fields" 400 "GET /healthz HTTP/1.1\r\n$H$hdrs\r\n"
expect "Transfer-Encoding: identity" 400 \
  "POST /api/v2/signingCert HTTP/1.1\r\n${H}Transfer-Encoding: identity\r\n\r\n{}"
expect "Transfer-Encoding: gzip" 400 \
  "POST /api/v2/signingCert HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\n{}"
expect "Transfer-Encoding: gzip, chunked" 400 \
  "POST /api/v2/signingCert HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n{}"
expect "Transfer-Encoding and Content-Length" 400 \
  "POST /api/v2/signingCert HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n0\r\n\r\n"
expect "two different Content-Length fields" 400 \
  "POST /api/v2/signingCert HTTP/1.1\r\n${H}Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}"
expect "a chunked body passes the front (the API refuses the empty request)" 400 \
  "POST /api/v2/signingCert HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
fulcio_shape "%00 refusal" "GET /healthz%%00.txt HTTP/1.1\r\n$H\r\n"
fulcio_shape "Transfer-Encoding refusal" "POST /x HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\n"

# The server still answers, and each refusal was logged by the front.
http GET "$ca_URL/healthz"
[ "$H_STATUS" = 200 ] && t_ok "serve still answers after the malformed requests" || t_bad "healthz: $H_STATUS"
n=$(grep -c 'httpd: api: 127.0.0.1: ' "$T_TMP/ca.serve.log")
[ "$n" -ge 10 ] && t_ok "the front logged its refusals ($n lines)" || t_bad "refusal lines: $n"

# fulcrum ctlog: the checkpoint must not be served for /checkpoint%00.bak.
ct_make_ca "$T_TMP/ct"
ct_start log "$T_TMP/ct/store" "$T_TMP/ct/root.pem" "$T_TMP/ct/log.key" || exit 1
PORT=$(port_of "$log_URL")
expect "ctlog: /checkpoint is served" 200 "GET /checkpoint HTTP/1.1\r\n$H\r\n"
expect "ctlog: /checkpoint%00.bak" 400 "GET /checkpoint%%00.bak HTTP/1.1\r\n$H\r\n"
expect "ctlog: HTTP/1.1 without Host" 400 "GET /checkpoint HTTP/1.1\r\n\r\n"
expect "ctlog: NUL in a header" 400 "GET /checkpoint HTTP/1.1\r\n${H}X-A: a\x00b\r\n\r\n"
expect "ctlog: Transfer-Encoding: identity" 400 \
  "POST /ct/v1/add-chain HTTP/1.1\r\n${H}Transfer-Encoding: identity\r\n\r\n{}"
t_done
