#!/usr/bin/env bash
# fulcrum serve reads its flags as `fulcio serve` (Fulcio v1.8.8, built by
# tests/tools/install-fulcio.sh) does: the same flag file (--config, YAML
# and JSON), the same FULCIO_SERVE_* variables and the same command line
# start both the same way, one after the other on the same ports: both
# serve the API and the metrics on the ports they name, and both issue
# certificates of the same lifetime. Precedence is command line over
# environment over file; a variable spelled with underscores instead of the
# flag's dashes is read by neither. Then fulcrum alone: --config is never
# taken for --config-path, names are never abbreviated (Fulcio refuses
# --ca-lo too), a gRPC flag gives exactly one start-up line, Fulcio's KMS,
# Tink and Google CA choices are refused naming what fulcrum offers,
# --certificate-lifetime takes Go durations and seconds and names its range,
# an explicit --config-path that does not exist is an error, and the
# passphrase given in the environment is left in no process's environment.
# FULCRUM_BIN / FULCRUM_TEST_ISSUER as for the integration tests; Fulcio
# from $FULCRUM_DEPS/bin/fulcio (FULCIO_BIN overrides).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
repo=$(cd "$here/../.." && pwd)
DEPS=${FULCRUM_DEPS:-$repo/.deps}
FULCIO=${FULCIO_BIN:-$DEPS/bin/fulcio}

for tool in curl openssl jq; do
  command -v "$tool" >/dev/null || t_skip "$tool not installed"
done
[ -x "$FULCIO" ] || t_skip "Fulcio not installed at $FULCIO (run tests/tools/install-fulcio.sh)"
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

# --- one CA (an encrypted fileca key, as Fulcio wants it), one issuer, one
# identity configuration, one request ---
pass="serve-flags-$$-$RANDOM"
FULCRUM_FILECA_KEY_PASSWD=$pass "$FULCRUM_BIN" createca --file --intermediate --org "serve-flags" \
  --out "$T_TMP/chain.pem" --key-out "$T_TMP/int.key" --root-key-out "$T_TMP/root.key" \
  >"$T_TMP/createca.log" 2>&1 || { t_bad "createca: $(cat "$T_TMP/createca.log")"; t_done; exit 1; }
issuer_start idp
cfg="$T_TMP/identity.yaml"
printf 'oidc-issuers:\n  %s:\n    issuer-url: %s\n    client-id: sigstore\n    type: email\n' \
  "$idp_URL" "$idp_URL" >"$cfg"
tok=$(mint "$idp_URL" '{"claims":{"sub":"alice","email":"alice@example.com","email_verified":true}}')
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T_TMP/client.pem" 2>/dev/null
body=$(v2_body "$tok" "$T_TMP/client.pem" alice@example.com)
sock="@fulcrum-test-serve-flags-$$"

# --- starting and stopping either server ---

# start KIND NAME [VAR=VALUE...] -- [ARGS...]: `KIND serve ARGS` (KIND is
# fulcio or fulcrum) with the variables added to the environment, in the
# background, output in $T_TMP/NAME.log; sets PID.
start() {
  local kind=$1 name=$2 bin=$FULCRUM_BIN vars=()
  shift 2
  while [ "$1" != "--" ]; do vars+=("$1"); shift; done
  shift
  [ "$kind" = fulcio ] && bin=$FULCIO
  LAST_KIND=$kind LAST_NAME=$name
  env "${vars[@]}" "$bin" serve "$@" >"$T_TMP/$name.log" 2>&1 &
  PID=$!
  T_PIDS+=("$PID")
}

# stop PID: TERM, then KILL after 10 s; waits for it. A fulcrum that did
# not exit 0 is remembered in BAD_STOPS.
BAD_STOPS=""
stop() {
  local rc
  kill -TERM "$1" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null
  wait "$1" 2>/dev/null
  rc=$?
  [ "$LAST_KIND" = fulcrum ] && [ "$rc" != 0 ] && BAD_STOPS+=" $LAST_NAME:exit-$rc"
  return 0
}

# up PORT: the API answers /healthz on PORT (within 30 s).
up() { t_wait_http "http://127.0.0.1:$1/healthz" 30 2>/dev/null; }
# silent PORT: nothing answers HTTP on PORT.
silent() { ! curl -sS -o /dev/null --max-time 2 "http://127.0.0.1:$1/" 2>/dev/null; }
# metrics PORT: Prometheus text on PORT (within 10 s: Fulcio starts its
# metrics listener beside the API, not before it).
metrics() {
  for _ in $(seq 50); do
    curl -fsS --max-time 5 "http://127.0.0.1:$1/metrics" 2>/dev/null | grep -q '^# TYPE ' && return 0
    sleep 0.2
  done
  return 1
}

# lifetime PORT: NotAfter - NotBefore, in seconds, of a certificate issued
# on PORT (empty if none).
lifetime() {
  local pem nb na
  pem=$(curl -sS --max-time 30 -H 'Content-Type: application/json' --data-binary "$body" \
    "http://127.0.0.1:$1/api/v2/signingCert" \
    | jq -r '(.signedCertificateEmbeddedSct // .signedCertificateDetachedSct).chain.certificates[0] // empty' 2>/dev/null)
  [ -n "$pem" ] || return 0
  nb=$(openssl x509 -noout -startdate <<<"$pem" | cut -d= -f2)
  na=$(openssl x509 -noout -enddate <<<"$pem" | cut -d= -f2)
  echo $(($(date -d "$na" +%s) - $(date -d "$nb" +%s)))
}

# grpc_lines NAME: how many lines of NAME's log say gRPC is not served.
grpc_lines() { grep -c 'gRPC is not served' "$T_TMP/$1.log"; }

# --- the flag file, in YAML and in JSON ---
PF=$(t_free_port) MF=$(t_free_port) GF=$(t_free_port)
cat >"$T_TMP/f.yaml" <<EOF
# Fulcio's flags
ca: fileca
fileca-cert: $T_TMP/chain.pem
fileca-key: $T_TMP/int.key
fileca-key-passwd: "$pass"
fileca-watch: false
config-path: $cfg
ct-log-url: ""
host: 127.0.0.1
port: $PF
metrics-port: $MF
grpc-host: 127.0.0.1
grpc-port: $GF
legacy-unix-domain-socket: "$sock"
log_type: prod
# fulcrum's (Fulcio reads no name that is not one of its flags)
journal-dir: $T_TMP/journal
EOF
jq -n --arg cert "$T_TMP/chain.pem" --arg key "$T_TMP/int.key" --arg pass "$pass" --arg cfg "$cfg" \
  --argjson port "$PF" --argjson mport "$MF" --argjson gport "$GF" --arg sock "$sock" \
  --arg journal "$T_TMP/journal" \
  '{ca: "fileca", "fileca-cert": $cert, "fileca-key": $key, "fileca-key-passwd": $pass,
    "fileca-watch": false, "config-path": $cfg, "ct-log-url": "", host: "127.0.0.1",
    port: $port, "metrics-port": $mport, "grpc-host": "127.0.0.1", "grpc-port": $gport,
    "legacy-unix-domain-socket": $sock, log_type: "prod", "journal-dir": $journal}' >"$T_TMP/f.json"

# 1. --config f.yaml alone: both on the file's ports, 10-minute certificates.
for kind in fulcio fulcrum; do
  start "$kind" "file-$kind" -- --config "$T_TMP/f.yaml"
  if up "$PF"; then
    t_ok "$kind serve --config f.yaml: API on the file's port $PF"
    metrics "$MF" && t_ok "$kind: metrics on the file's metrics-port $MF" \
      || t_bad "$kind: no metrics on $MF"
    lt=$(lifetime "$PF")
    [ "$lt" = 600 ] && t_ok "$kind: certificate lifetime 600 s" \
      || t_bad "$kind: certificate lifetime '$lt', want 600: $(tail -3 "$T_TMP/file-$kind.log")"
  else
    t_bad "$kind serve --config f.yaml: no API on $PF: $(tail -5 "$T_TMP/file-$kind.log")"
  fi
  stop "$PID"
done
n=$(grpc_lines file-fulcrum)
[ "$n" = 1 ] && t_ok "fulcrum: one line says gRPC is not served: $(grep 'gRPC is not served' "$T_TMP/file-fulcrum.log")" \
  || t_bad "fulcrum: $n lines about gRPC, want 1"

# 2. --config f.json, FULCIO_SERVE_PORT and FULCIO_SERVE_METRICS-PORT: the
# environment wins over the file; FULCIO_SERVE_METRICS_PORT is read by
# neither.
PE=$(t_free_port) ME=$(t_free_port) MX=$(t_free_port)
for kind in fulcio fulcrum; do
  start "$kind" "env-$kind" FULCIO_SERVE_PORT="$PE" FULCIO_SERVE_METRICS-PORT="$ME" \
    FULCIO_SERVE_METRICS_PORT="$MX" -- --config "$T_TMP/f.json"
  if up "$PE"; then
    t_ok "$kind serve --config f.json with FULCIO_SERVE_PORT: API on $PE (environment over file)"
    silent "$PF" && t_ok "$kind: nothing on the file's port" || t_bad "$kind: the file's port $PF answers"
    metrics "$ME" && silent "$MX" && t_ok "$kind: metrics on FULCIO_SERVE_METRICS-PORT, none on FULCIO_SERVE_METRICS_PORT" \
      || t_bad "$kind: metrics not on $ME only (FULCIO_SERVE_METRICS_PORT=$MX)"
  else
    t_bad "$kind: no API on $PE: $(tail -5 "$T_TMP/env-$kind.log")"
  fi
  stop "$PID"
done
grep -q 'FULCIO_SERVE_METRICS_PORT is not read.*FULCIO_SERVE_METRICS-PORT' "$T_TMP/env-fulcrum.log" \
  && t_ok "fulcrum names the variable it reads for --metrics-port" \
  || t_bad "fulcrum: no warning about FULCIO_SERVE_METRICS_PORT"

# 3. The command line (Fulcio's alias --http-port) wins over both.
PA=$(t_free_port)
for kind in fulcio fulcrum; do
  start "$kind" "arg-$kind" FULCIO_SERVE_PORT="$PE" -- --config "$T_TMP/f.yaml" --http-port "$PA"
  if up "$PA"; then
    silent "$PE" && t_ok "$kind: --http-port $PA wins over FULCIO_SERVE_PORT and the file" \
      || t_bad "$kind: FULCIO_SERVE_PORT's $PE answers too"
  else
    t_bad "$kind: no API on $PA: $(tail -5 "$T_TMP/arg-$kind.log")"
  fi
  stop "$PID"
done

# 4. The environment alone (and --ct-log-url= on the command line: an empty
# variable counts as unset).
PD=$(t_free_port) MD=$(t_free_port) GD=$(t_free_port)
envs=(FULCIO_SERVE_CA=fileca "FULCIO_SERVE_FILECA-CERT=$T_TMP/chain.pem"
  "FULCIO_SERVE_FILECA-KEY=$T_TMP/int.key" "FULCIO_SERVE_FILECA-KEY-PASSWD=$pass"
  FULCIO_SERVE_FILECA-WATCH=false "FULCIO_SERVE_CONFIG-PATH=$cfg" FULCIO_SERVE_HOST=127.0.0.1
  FULCIO_SERVE_PORT="$PD" FULCIO_SERVE_METRICS-PORT="$MD" FULCIO_SERVE_GRPC-HOST=127.0.0.1
  FULCIO_SERVE_GRPC-PORT="$GD" "FULCIO_SERVE_LEGACY-UNIX-DOMAIN-SOCKET=$sock-env"
  FULCIO_SERVE_LOG_TYPE=prod "FULCIO_SERVE_JOURNAL-DIR=$T_TMP/journal")
for kind in fulcio fulcrum; do
  start "$kind" "envonly-$kind" "${envs[@]}" -- --ct-log-url=
  if up "$PD"; then
    metrics "$MD" && t_ok "$kind serve with FULCIO_SERVE_* only: API on $PD, metrics on $MD" \
      || t_bad "$kind: no metrics on $MD"
    lt=$(lifetime "$PD")
    [ "$lt" = 600 ] && t_ok "$kind: certificate lifetime 600 s" || t_bad "$kind: lifetime '$lt'"
    if [ "$kind" = fulcrum ]; then
      leak=""
      for p in "$PID" $(pgrep -P "$PID") $(pgrep -P "$(pgrep -P "$PID" | head -1)" 2>/dev/null); do
        tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qF "$pass" && leak+=" $p"
      done
      [ -z "$leak" ] && t_ok "fulcrum: FULCIO_SERVE_FILECA-KEY-PASSWD's value is in no process's environment" \
        || t_bad "fulcrum: the passphrase is in the environment of$leak"
    fi
  else
    t_bad "$kind: no API on $PD: $(tail -5 "$T_TMP/envonly-$kind.log")"
  fi
  stop "$PID"
done

# 5. fulcrum's own flags: --certificate-lifetime 10m, no gRPC flag and no
# gRPC line; then 1200 seconds from FULCIO_SERVE_CERTIFICATE-LIFETIME with
# the flag file and one more gRPC flag: still one line.
start fulcrum life1 FULCRUM_FILECA_KEY_PASSWD="$pass" -- --ca fileca --fileca-cert "$T_TMP/chain.pem" \
  --fileca-key "$T_TMP/int.key" --fileca-watch=false --config-path "$cfg" --ct-log-url "" \
  --host 127.0.0.1 --port "$PF" --metrics-port 0 --journal-dir "$T_TMP/journal" \
  --certificate-lifetime 10m
if up "$PF"; then
  lt=$(lifetime "$PF")
  [ "$lt" = 600 ] && t_ok "--certificate-lifetime 10m: 600 s" || t_bad "--certificate-lifetime 10m: '$lt'"
else
  t_bad "--certificate-lifetime 10m: no API: $(tail -5 "$T_TMP/life1.log")"
fi
stop "$PID"
n=$(grpc_lines life1)
[ "$n" = 0 ] && t_ok "no gRPC flag, no gRPC line" || t_bad "no gRPC flag given, yet $n gRPC lines"
start fulcrum life2 FULCIO_SERVE_CERTIFICATE-LIFETIME=1200 -- --config "$T_TMP/f.yaml" \
  --grpc-tls-key /nonexistent
if up "$PF"; then
  lt=$(lifetime "$PF")
  [ "$lt" = 1200 ] && t_ok "FULCIO_SERVE_CERTIFICATE-LIFETIME=1200 (seconds): 1200 s" \
    || t_bad "FULCIO_SERVE_CERTIFICATE-LIFETIME=1200: '$lt'"
else
  t_bad "lifetime from the environment: no API: $(tail -5 "$T_TMP/life2.log")"
fi
stop "$PID"
n=$(grpc_lines life2)
[ "$n" = 1 ] && grep 'gRPC is not served' "$T_TMP/life2.log" | grep -q -- '--grpc-tls-key' \
  && t_ok "gRPC flags from the file and the command line: one line naming them all" \
  || t_bad "$n gRPC lines: $(grep 'gRPC' "$T_TMP/life2.log")"

# --- refusals: exit status and message, nothing started ---

# refused DESC REGEX [VAR=VALUE...] -- ARGS...: fulcrum serve exits 2 and
# says REGEX (extended) on stderr.
refused() {
  local desc=$1 re=$2 vars=() out rc
  shift 2
  while [ "$1" != "--" ]; do vars+=("$1"); shift; done
  shift
  out=$(env "${vars[@]}" timeout 20 "$FULCRUM_BIN" serve --ct-log-url "" --host 127.0.0.1 --port 0 \
    --metrics-port 0 --journal-dir "$T_TMP/journal" "$@" 2>&1)
  rc=$?
  if [ "$rc" = 2 ] && grep -Eq -- "$re" <<<"$out"; then
    t_ok "$desc: $(grep -E -- "$re" <<<"$out" | head -1 | head -c 220)"
  else
    t_bad "$desc: exit $rc, $out (want 2 and /$re/)"
  fi
}
refused "--config FILE is a flag file, never --config-path" "identity configuration.*--config-path" \
  -- --ca ephemeralca --config "$cfg"
refused "--ca-lo is no abbreviation of --ca" "unknown flag: --ca-lo" -- --ca-lo ephemeralca
refused "--config-pa is no abbreviation of --config-path" "unknown flag: --config-pa" \
  -- --ca ephemeralca --config-pa "$cfg"
out=$("$FULCIO" serve --ca-lo ephemeralca 2>&1)
rc=$?
[ "$rc" != 0 ] && grep -q 'unknown flag: --ca-lo' <<<"$out" && t_ok "Fulcio refuses --ca-lo too" \
  || t_bad "Fulcio --ca-lo: exit $rc, $(head -3 <<<"$out")"
for ca in kmsca tinkca googleca; do
  refused "--ca $ca names what fulcrum offers" "--ca.*$ca.*pkcs11ca.*fileca.*ephemeralca" -- --ca "$ca"
done
refused "FULCIO_SERVE_CA=googleca too, naming the variable" "FULCIO_SERVE_CA.*pkcs11ca.*fileca.*ephemeralca" \
  FULCIO_SERVE_CA=googleca --
refused "--kms-resource is refused" "--kms-resource: .*kmsca.*pkcs11ca.*fileca.*ephemeralca" \
  -- --ca ephemeralca --kms-resource gcpkms://projects/p/keys/k
refused "--tink-keyset-path is refused" "--tink-keyset-path: .*tinkca.*pkcs11ca" \
  -- --ca ephemeralca --tink-keyset-path k.json
printf 'gcp_private_ca_parent: projects/p/locations/l/caPools/c\n' >"$T_TMP/google.yaml"
refused "gcp_private_ca_parent in a flag file is refused" "--gcp_private_ca_parent \(in .*googleca.*pkcs11ca" \
  -- --ca ephemeralca --config "$T_TMP/google.yaml"
refused "--certificate-lifetime 5s names the range" "--certificate-lifetime: .*from 1m to 168h" \
  -- --ca ephemeralca --certificate-lifetime 5s
refused "--certificate-lifetime 169h too" "from 1m to 168h" -- --ca ephemeralca --certificate-lifetime 169h
refused "an explicit --config-path that does not exist" "/nonexistent/identity.yaml" \
  -- --ca ephemeralca --config-path /nonexistent/identity.yaml

san=$(grep -lE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$T_TMP"/*.log 2>/dev/null)
[ -z "$BAD_STOPS$san" ] && t_ok "every fulcrum stopped on SIGTERM with exit 0, no sanitizer report" \
  || t_bad "stops:$BAD_STOPS; sanitizer reports in: $san"
t_done
