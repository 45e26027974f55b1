#!/usr/bin/env bash
# The TLS certificate reloaded on SIGHUP under load (docs/http.md, "TLS"):
# fulcrum serve with leaf a, while wrk (HTTPS, keep-alive, no certificate
# check) and tls-reload-client.py (long-lived keep-alive connections and
# connections opened for every request, trusting only the test root) send
# GET /healthz for RELOAD_SECS seconds:
#   t=3s  the files now hold leaf b: SIGHUP -> reloaded
#   t=6s  b's chain with c's key: SIGHUP -> refused, b still served
#   t=8s  garbage in place of the chain: SIGHUP -> refused, b still served
#   t=10s leaf c: SIGHUP -> reloaded
# Checks: no failed request (wrk: no socket error, no non-2xx; the Python
# client: no failure, no reconnection); each new connection saw the leaf
# current when it was made (a if its handshake ended before the first
# reload, b if it began 0.5 s after it and ended before the last, c if it
# began 0.5 s after the last); the long-lived connections
# kept leaf a to the end and were answered after the last reload; the log
# says each reload and each refusal; the server stops with exit 0 and no
# sanitizer report; a burst of 100 SIGHUPs leaves it serving (a thread
# that did not block the signal would die of it, and the process with it).
# Run as root (the network process then becomes nobody),
# a key only root reads is served and the log warns that SIGHUP cannot
# reload it. Then fulcrum ctlog and fulcrum tsa: a SIGHUP after the
# files changed serves the new leaf.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/tls-lib.sh"
. "$here/tsa-lib.sh"

for tool in curl openssl jq python3 wrk; do
  command -v "$tool" >/dev/null || t_skip "$tool not installed"
done
SECS=${RELOAD_SECS:-14}

P="$T_TMP/pki"
tls_make_pki "$P" || { t_bad "cannot make the test PKI"; t_done; exit 1; }
ROOT="$P/root.pem"
declare -A serial
for n in a b c; do serial[$n]=$(tls_serial_of "$P/$n.pem"); done
# use NAME CHAIN KEY: the files the server reads now hold CHAIN and KEY
# (readable by the user its network process becomes).
use() {
  cp "$2" "$T_TMP/$1.cert.pem"
  cp "$3" "$T_TMP/$1.key.pem"
  tls_service_files "$T_TMP/$1.cert.pem" "$T_TMP/$1.key.pem"
}
use srv "$P/a.chain.pem" "$P/a.key"
issuer_start idp
CFG="$T_TMP/config.json"
jq -n --arg u "$idp_URL" '{OIDCIssuers: {($u): {IssuerURL: $u, ClientID: "sigstore", Type: "email"}}}' >"$CFG"
tls_start ca /healthz "$ROOT" serve --host 127.0.0.1 --port 0 --metrics-port 0 --ct-log-url "" \
  --ca ephemeralca --config-path "$CFG" --tls-cert "$T_TMP/srv.cert.pem" --tls-key "$T_TMP/srv.key.pem" \
  || { t_bad "fulcrum serve with TLS did not start"; t_done; exit 1; }
t_ok "fulcrum serve up at $ca_URL with leaf a (serial ${serial[a]})"

# --- the load, and the reloads under it ---
now() { date +%s.%N; }
wrk -t1 -c16 -d"${SECS}s" --timeout 5s "https://127.0.0.1:$ca_PORT/healthz" >"$T_TMP/wrk.out" 2>&1 &
wrk_pid=$!
python3 "$here/tls-reload-client.py" --port "$ca_PORT" --ca "$ROOT" --seconds "$SECS" \
  --long 8 --fresh 4 >"$T_TMP/client.json" 2>"$T_TMP/client.err" &
py_pid=$!
t0=$(now)
at() { sleep "$(python3 -c "import sys,time; print(max(0, $t0 + $1 - time.time()))")"; }
at 3
use srv "$P/b.chain.pem" "$P/b.key"
t_b=$(now)
kill -HUP "$ca_PID"
at 6
use srv "$P/b.chain.pem" "$P/c.key"
kill -HUP "$ca_PID"
at 8
printf 'not a certificate\n' >"$T_TMP/srv.cert.pem"
kill -HUP "$ca_PID"
sleep 0.5
got_bad=$(tls_served_serial "127.0.0.1:$ca_PORT")
at 10
use srv "$P/c.chain.pem" "$P/c.key"
t_c=$(now)
kill -HUP "$ca_PID"
wait "$wrk_pid"
wait "$py_pid"

# --- wrk ---
reqs=$(awk '/requests in/ {print $1}' "$T_TMP/wrk.out")
if [ "${reqs:-0}" -gt 0 ] && ! grep -Eq 'Socket errors|Non-2xx' "$T_TMP/wrk.out"; then
  t_ok "wrk, 16 keep-alive HTTPS connections for ${SECS}s across 4 SIGHUPs: $reqs requests, no socket error, no non-2xx ($(awk '/Requests\/sec/ {print $2}' "$T_TMP/wrk.out") requests/s)"
else
  t_bad "wrk: $(tr '\n' ' ' <"$T_TMP/wrk.out" | tr -s ' ')"
fi

# --- the Python client ---
if ! jq -e . "$T_TMP/client.json" >/dev/null 2>&1; then
  t_bad "tls-reload-client.py: $(cat "$T_TMP/client.err")"
else
  res=$(python3 - "$T_TMP/client.json" "$t_b" "$t_c" "${serial[a]}" "${serial[b]}" "${serial[c]}" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
tb, tc = float(sys.argv[2]), float(sys.argv[3])
a, b, c = sys.argv[4:7]
bad, win = [], {"a": 0, "b": 0, "c": 0}
# A handshake over before a signal saw the old leaf; one begun 0.5 s after
# it, the new one; one in between, either.
for t0, t1, s in d["fresh"]:
    if t1 < tb:
        want = (a,)
    elif t0 >= tb + 0.5 and t1 < tc:
        want = (b,)
    elif t0 >= tc + 0.5:
        want = (c,)
    else:
        want = (a, b) if t1 < tc else (b, c)
    if s not in want:
        bad.append((round(t0 - tb, 3), round(t1 - tb, 3), s))
    elif len(want) == 1:
        win["a" if s == a else "b" if s == b else "c"] += 1
lng = d["long"]
long_ok = (len(lng) == 8 and all(x["serial"] == a and x["failures"] == 0 and x["reconnects"] == 0
                                 and x["last"] > tc + 0.5 for x in lng))
print(json.dumps({"failures": d["failures"], "errors": d["errors"], "requests": d["requests"],
                  "fresh": len(d["fresh"]), "windows": win, "bad": bad[:5], "long_ok": long_ok,
                  "long_requests": sum(x["requests"] for x in lng)}))
EOF
)
  if jq -e '.failures == 0 and .requests > 0' >/dev/null <<<"$res"; then
    t_ok "Python client: $(jq -r .requests <<<"$res") requests, none failed"
  else
    t_bad "Python client: failures: $res"
  fi
  if jq -e '.bad == [] and .windows.a > 0 and .windows.b > 0 and .windows.c > 0' >/dev/null <<<"$res"; then
    t_ok "new connections saw the current leaf: $(jq -c .windows <<<"$res") handshakes with a, b, c in their windows"
  else
    t_bad "new connections: windows $(jq -c .windows <<<"$res"), wrong leaf at (begin, end: s after the first SIGHUP; serial): $(jq -c .bad <<<"$res")"
  fi
  if jq -e '.long_ok' >/dev/null <<<"$res"; then
    t_ok "8 long-lived connections kept leaf a through both reloads, no reconnection, answered after the last ($(jq -r .long_requests <<<"$res") requests)"
  else
    t_bad "long-lived connections: $(jq -c .long "$T_TMP/client.json" | head -c 600)"
  fi
fi

# --- the log ---
[ "$got_bad" = "${serial[b]}" ] && t_ok "after two refused reloads a new connection still gets leaf b" \
  || t_bad "after the refused reloads: served '$got_bad', want ${serial[b]}"
if grep -q "reloaded: now serving certificate serial=${serial[b]}" "$T_TMP/ca.log" \
   && grep -q "reloaded: now serving certificate serial=${serial[c]}" "$T_TMP/ca.log" \
   && grep -q "reload refused, still serving serial=${serial[b]}: --tls-key $T_TMP/srv.key.pem does not match" "$T_TMP/ca.log" \
   && grep -q "reload refused, still serving serial=${serial[b]}: --tls-cert $T_TMP/srv.cert.pem: " "$T_TMP/ca.log"; then
  t_ok "the log: two reloads, two refusals: $(grep -m1 'does not match' "$T_TMP/ca.log" | sed 's/.*httpd: tls: //' | head -c 160)"
else
  t_bad "the log: $(grep 'httpd: tls' "$T_TMP/ca.log")"
fi
# burst PID PORT: 100 SIGHUPs at once; true if the process still serves.
burst() {
  local i
  for i in $(seq 100); do kill -HUP "$1" 2>/dev/null; done
  sleep 1
  kill -0 "$1" 2>/dev/null && [ -n "$(tls_served_serial "127.0.0.1:$2")" ]
}
if burst "$ca_PID" "$ca_PORT"; then
  t_ok "100 SIGHUPs at once: fulcrum serve still serves ($(grep -c 'reloaded: now serving' "$T_TMP/ca.log") reloads in all)"
else
  t_bad "a burst of SIGHUPs ended fulcrum serve: $(tail -3 "$T_TMP/ca.log")"
fi
if tls_stop "$ca_PID" && tls_sanitizer_clean "$T_TMP/ca.log"; then
  t_ok "fulcrum serve stopped: exit 0, no sanitizer report"
else
  t_bad "fulcrum serve: exit status or sanitizer report: $(grep -E -m3 'ERROR|runtime error' "$T_TMP/ca.log")"
fi

# --- started as root, a key its network process cannot read again ---
if [ "$(id -u)" = 0 ]; then
  cp "$P/a.chain.pem" "$T_TMP/root.cert.pem"
  install -m 0600 "$P/a.key" "$T_TMP/root.key.pem"
  tls_start rootkey /healthz "$ROOT" serve --host 127.0.0.1 --port 0 --metrics-port 0 --ct-log-url "" \
    --ca ephemeralca --config-path "$CFG" --tls-cert "$T_TMP/root.cert.pem" --tls-key "$T_TMP/root.key.pem" \
    || t_bad "fulcrum serve with a root-only key did not start"
  for _ in $(seq 50); do grep -q 'SIGHUP cannot reload it' "$T_TMP/rootkey.log" && break; sleep 0.1; done
  if grep -q "runs as nobody" "$T_TMP/rootkey.log" \
     && grep -q -- "--tls-key $T_TMP/root.key.pem: Permission denied for this user: SIGHUP cannot reload it" "$T_TMP/rootkey.log" \
     && ! grep -q -- "--tls-cert .*SIGHUP cannot" "$T_TMP/rootkey.log"; then
    t_ok "started as root with a key only root reads: served, and the log warns: $(grep -m1 'SIGHUP cannot' "$T_TMP/rootkey.log" | sed 's/.*httpd: tls: //')"
  else
    t_bad "root-only key: no warning: $(grep -E 'runs as|httpd: tls' "$T_TMP/rootkey.log")"
  fi
  tls_stop "$rootkey_PID" || t_bad "fulcrum serve (root-only key): exit status $?"
  grep -q 'SIGHUP cannot reload it' "$T_TMP/ca.log" && t_bad "a warning for files its user can read: $(grep -m1 'SIGHUP cannot' "$T_TMP/ca.log")"
else
  t_ok "not root: no privilege drop, nothing to check for a root-only key"
fi

# --- fulcrum ctlog and fulcrum tsa reload too ---
openssl ecparam -name prime256v1 -genkey -noout -out "$T_TMP/log.key" 2>/dev/null
mkdir -p "$T_TMP/storage"
use log "$P/a.chain.pem" "$P/a.key"
tls_start log /healthz "$ROOT" ctlog --listen 127.0.0.1:0 --storage-dir "$T_TMP/storage" --roots "$P/root.pem" \
  --private-key "$T_TMP/log.key" --origin localhost/tls-reload \
  --tls-cert "$T_TMP/log.cert.pem" --tls-key "$T_TMP/log.key.pem" || t_bad "fulcrum ctlog did not start"
tsa_make_chain "$T_TMP/tsa" || t_bad "cannot make a TSA chain"
use tsa "$P/a.chain.pem" "$P/a.key"
tls_start tsa /ping "$ROOT" tsa --listen 127.0.0.1:0 --certificate-chain "$T_TMP/tsa/chain.pem" \
  --private-key "$T_TMP/tsa/tsa.key" --no-clock-check \
  --tls-cert "$T_TMP/tsa.cert.pem" --tls-key "$T_TMP/tsa.key.pem" || t_bad "fulcrum tsa did not start"
for n in log tsa; do
  pid_var="${n}_PID" port_var="${n}_PORT"
  before=$(tls_served_serial "127.0.0.1:${!port_var}")
  use "$n" "$P/b.chain.pem" "$P/b.key"
  kill -HUP "${!pid_var}"
  after=""
  for _ in $(seq 50); do
    after=$(tls_served_serial "127.0.0.1:${!port_var}")
    [ "$after" = "${serial[b]}" ] && break
    sleep 0.1
  done
  if [ "$before" = "${serial[a]}" ] && [ "$after" = "${serial[b]}" ] && kill -0 "${!pid_var}" 2>/dev/null; then
    t_ok "fulcrum $([ $n = log ] && echo ctlog || echo tsa): SIGHUP serves the new leaf (a -> b)"
  else
    t_bad "fulcrum $n: before '$before' after '$after'"
  fi
  burst "${!pid_var}" "${!port_var}" && t_ok "$n: 100 SIGHUPs at once, still serving" \
    || t_bad "$n: a burst of SIGHUPs ended it: $(tail -3 "$T_TMP/$n.log")"
  if tls_stop "${!pid_var}" && tls_sanitizer_clean "$T_TMP/$n.log"; then
    t_ok "$n stopped: exit 0, no sanitizer report"
  else
    t_bad "$n: exit status or sanitizer report: $(grep -E -m3 'ERROR|runtime error' "$T_TMP/$n.log")"
  fi
done
t_done
