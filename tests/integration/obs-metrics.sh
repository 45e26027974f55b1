#!/usr/bin/env bash
# fulcrum serve's Prometheus metrics, read after real requests (three
# certificates, v2 and v1; three refused signing requests: a bad token, a
# proof of possession over another name, a public key that does not parse;
# an unknown path, a method the path does not take, an unknown method, a
# CORS preflight) with tests/tools/promtext.py, which reads the text with
# the Prometheus project's Python parser (prometheus_client) and with a
# strict reader of its own (self-tested here on broken texts) and wants both
# to agree. Fulcio's families must be there with Fulcio's types, label names
# and label values (exact status code, promhttp's method names), the counts
# must be what was done, and the process_* values what the kernel says of
# the process. Then Fulcio v1.8.8 itself gets the same requests and the two
# are compared programmatically: the same fulcio_*, http_* and process_*
# families, types and label names, the same http_requests_total /
# fulcio_api_latency series and counts, and log lines (--log_type prod) of
# the same shape. Fulcio from $FULCRUM_DEPS/bin/fulcio (FULCIO_BIN
# overrides; tests/tools/install-fulcio.sh), prometheus_client from the test
# venv (tests/tools/install-interop.sh); without them the test is skipped (a
# failure under CI=true).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
repo=$(cd "$here/../.." && pwd)
DEPS=${FULCRUM_DEPS:-$repo/.deps}
FULCIO=${FULCIO_BIN:-$DEPS/bin/fulcio}
PY="$DEPS/venv/bin/python"
PT=("$PY" "$here/../tools/promtext.py")
for tool in jq curl openssl python3; do
  command -v "$tool" >/dev/null || t_skip "$tool not installed"
done
"$PY" -c 'import prometheus_client' 2>/dev/null \
  || t_skip "prometheus_client not installed in $DEPS/venv (tests/tools/install-interop.sh)"
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

# --- the parser refuses what a scraper would ---
bad_text() { # DESC TEXT
  printf '%s' "$2" >"$T_TMP/bad.txt"
  if "${PT[@]}" summary "$T_TMP/bad.txt" >/dev/null 2>"$T_TMP/bad.err"; then
    t_bad "parser accepts $1"
  else
    t_ok "parser refuses $1: $(cat "$T_TMP/bad.err")"
  fi
}
bad_text "a TYPE after its samples" $'a 1\n# TYPE a counter\n'
bad_text "a family split in two" $'# TYPE a counter\na 1\n# TYPE b gauge\nb 1\na{x="1"} 2\n'
bad_text "a duplicate series" $'# TYPE a counter\na{x="1"} 1\na{x="1"} 2\n'
bad_text "a bad escape" $'# TYPE a counter\na{x="\\q"} 1\n'
bad_text "a histogram without +Inf" $'# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n'
bad_text "buckets that go down" $'# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'
bad_text "a _count unlike +Inf" $'# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 1\n'
bad_text "a bad number" $'# TYPE a gauge\na 1,5\n'
bad_text "an unknown type" $'# TYPE a meter\na 1\n'
printf '# HELP a x\n# TYPE a counter\na{x="q\\"\\\\\\n"} 1\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 1\nh_sum 0.5\nh_count 1\n' >"$T_TMP/good.txt"
"${PT[@]}" summary "$T_TMP/good.txt" | jq -e '.a.series == [{"x": "q\"\\\n"}] and .h.type == "histogram"' >/dev/null \
  && t_ok "parser reads escapes and a histogram" || t_bad "parser: $("${PT[@]}" summary "$T_TMP/good.txt" 2>&1)"

# --- one issuer, a key, a token; fulcrum with its metrics listener ---
issuer_start idp
cfg="$T_TMP/config.json"
jq -n --arg u "$idp_URL" '{OIDCIssuers: {($u): {IssuerURL: $u, ClientID: "sigstore", Type: "email"}}}' >"$cfg"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T_TMP/key.pem" 2>/dev/null
tok=$(mint "$idp_URL" '{"claims":{"sub":"alice-sub","email":"alice@example.com","email_verified":true}}')
v2=$(v2_body "$tok" "$T_TMP/key.pem" alice@example.com)
v1=$(jq -n --arg k "$(openssl pkey -in "$T_TMP/key.pem" -pubout -outform DER 2>/dev/null | base64 -w0)" \
  --arg p "$(pop_b64 "$T_TMP/key.pem" alice@example.com)" '{publicKey: {content: $k, algorithm: "ecdsa"}, signedEmailAddress: $p}')
bad_token=$(v2_body not-a-jwt "$T_TMP/key.pem" alice@example.com)
bad_pop=$(v2_body "$tok" "$T_TMP/key.pem" mallory@example.com)
bad_key=$(jq -c '.publicKeyRequest.publicKey.content = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"' <<<"$v2")
MP=$(t_free_port)
serve_start ca --ca ephemeralca --config-path "$cfg" --metrics-port "$MP" --log_type prod \
  || { t_bad "fulcrum serve did not start"; t_done; exit 1; }

# scrape NAME URL: the metrics text into $T_TMP/NAME.txt and its summary
# into $T_TMP/NAME.json; false if the text is not valid.
scrape() {
  curl -fsS --max-time 10 "$2/metrics" >"$T_TMP/$1.txt" || return 1
  "${PT[@]}" summary "$T_TMP/$1.txt" >"$T_TMP/$1.json" 2>"$T_TMP/$1.err"
}
# value NAME METRIC [LABEL=VALUE...]: one sample of scrape NAME.
value() { local n=$1; shift; "${PT[@]}" value "$T_TMP/$n.txt" "$@"; }

# requests NAME API: the same requests to either server; their statuses,
# one per line, in $T_TMP/NAME.status.
requests() {
  local name=$1 api=$2 out="$T_TMP/$1.status"
  : >"$out"
  st() { curl -s -o /dev/null -w '%{http_code}\n' --max-time 30 "$@" >>"$out"; }
  post() { st -X POST -H 'Content-Type: application/json' "$@"; }
  post --data-binary "$v2" "$api/api/v2/signingCert"
  post --data-binary "$v2" "$api/api/v2/signingCert"
  post -H "Authorization: Bearer $tok" --data-binary "$v1" "$api/api/v1/signingCert"
  post --data-binary "$bad_token" "$api/api/v2/signingCert"
  post --data-binary "$bad_pop" "$api/api/v2/signingCert"
  post --data-binary "$bad_key" "$api/api/v2/signingCert"
  st "$api/nothing/here"
  st -X PUT "$api/api/v2/signingCert"
  st -X FOO "$api/healthz"
  st "$api/api/v2/configuration"
  st "$api/api/v2/trustBundle"
  st -X OPTIONS -H 'Origin: https://example.com' -H 'Access-Control-Request-Method: POST' "$api/api/v2/signingCert"
}
want_status="200 200 201 400 400 400 404 501 501 200 200 204 "

scrape fulcrum0 "http://127.0.0.1:$MP" || t_bad "fulcrum's first scrape: $(cat "$T_TMP/fulcrum0.err")"
requests fulcrum "$ca_URL"
[ "$(tr '\n' ' ' <"$T_TMP/fulcrum.status")" = "$want_status" ] \
  && t_ok "fulcrum: the requests answered $want_status" \
  || t_bad "fulcrum statuses: $(tr '\n' ' ' <"$T_TMP/fulcrum.status")"
# the kernel's view of the process, read around the scrape
proc_before=$(awk '{print $14 + $15}' "/proc/$ca_PID/stat")
if scrape fulcrum "http://127.0.0.1:$MP"; then
  t_ok "fulcrum's /metrics is valid exposition text for prometheus_client and the strict reader ($(jq length "$T_TMP/fulcrum.json") families)"
else
  t_bad "fulcrum's /metrics: $(cat "$T_TMP/fulcrum.err")"
fi
proc_after=$(awk '{print $14 + $15}' "/proc/$ca_PID/stat")
fds_now=$(ls "/proc/$ca_PID/fd" | wc -l)
F="$T_TMP/fulcrum.json"

# --- Fulcio's families, labels and the counts of what was done ---
jq -e '.fulcio_new_certs == {type: "counter", help: "The total number of certificates generated", labels: [], series: [{}]}' "$F" >/dev/null \
  && [ "$(value fulcrum fulcio_new_certs)" = 3 ] \
  && t_ok "fulcio_new_certs: a counter without labels, 3 after three certificates" \
  || t_bad "fulcio_new_certs: $(jq -c .fulcio_new_certs "$F") = $(value fulcrum fulcio_new_certs)"
jq -e '.http_requests_total.type == "counter" and .http_requests_total.labels == ["code", "method"]
  and .fulcio_api_latency.type == "histogram" and .fulcio_api_latency.labels == ["code", "method"]' "$F" >/dev/null \
  && t_ok "http_requests_total (counter) and fulcio_api_latency (histogram) labelled code and method" \
  || t_bad "http families: $(jq -c '{http_requests_total, fulcio_api_latency}' "$F")"
want_series='[{"code":"200","method":"get"},{"code":"200","method":"post"},{"code":"201","method":"post"},{"code":"400","method":"post"},{"code":"404","method":"get"},{"code":"501","method":"put"},{"code":"501","method":"unknown"}]'
jq -e --argjson w "$want_series" '(.http_requests_total.series | sort) == ($w | sort)
  and (.fulcio_api_latency.series | sort) == ($w | sort)' "$F" >/dev/null \
  && t_ok "series by exact code and promhttp's method names (FOO is \"unknown\"; the preflight not counted)" \
  || t_bad "series: $(jq -c '.http_requests_total.series' "$F")"
# POSTs: none before the requests; GETs: the start-up probe came before.
counts=""
for cm in 200,post,2 201,post,1 400,post,3 404,get,1 501,put,1 501,unknown,1 200,get,2; do
  IFS=, read -r code method want <<<"$cm"
  for fam in http_requests_total fulcio_api_latency_count; do
    got=$(value fulcrum "$fam" "code=$code" "method=$method")
    before=$(value fulcrum0 "$fam" "code=$code" "method=$method" || echo 0)
    [ "$((got - before))" = "$want" ] || counts="$counts $fam{$code,$method}=$got-$before (want $want)"
  done
done
[ -z "$counts" ] \
  && t_ok "http_requests_total and fulcio_api_latency_count: 3 refused POSTs under code=\"400\", 2 \"200\" and 1 \"201\" POSTs, one per other request" \
  || t_bad "request counts:$counts"
[ "$(value fulcrum fulcio_api_latency_sum code=400 method=post)" != 0 ] \
  && grep -q '^fulcio_api_latency_bucket{code="201",method="post",le="0.005"} ' "$T_TMP/fulcrum.txt" \
  && [ "$(grep -c '^fulcio_api_latency_bucket{code="201",method="post",' "$T_TMP/fulcrum.txt")" = 12 ] \
  && t_ok "fulcio_api_latency: client_golang's 11 default buckets and +Inf, a latency sum" \
  || t_bad "latency buckets: $(grep 'code="201"' "$T_TMP/fulcrum.txt")"
jq -e '.fulcio_build_info.type == "gauge" and .fulcio_build_info.labels == ["build_date", "goversion", "revision", "version"]
  and (.fulcio_build_info.series[0] | (.version | length > 0) and (.goversion | test("^(gcc|clang) ")))' "$F" >/dev/null \
  && grep -q '^fulcio_build_info{.*} 1$' "$T_TMP/fulcrum.txt" \
  && t_ok "fulcio_build_info: Fulcio's labels ($(jq -c '.fulcio_build_info.series[0]' "$F"))" \
  || t_bad "fulcio_build_info: $(jq -c .fulcio_build_info "$F")"
[ "$(value fulcrum fulcrum_refusals_total reason=identity)" = 1 ] \
  && [ "$(value fulcrum fulcrum_refusals_total reason=proof)" = 1 ] \
  && [ "$(value fulcrum fulcrum_refusals_total reason=key)" = 1 ] \
  && jq -e '.fulcrum_identity_config_reloads_total.labels == ["result"]' "$F" >/dev/null \
  && t_ok "fulcrum's own families beside them (fulcrum_refusals_total: identity 1, proof 1, key 1)" \
  || t_bad "fulcrum families: $(grep '^fulcrum_' "$T_TMP/fulcrum.txt")"

# --- process_*: present, and what the kernel says of the process ---
process_families='["process_cpu_seconds_total","process_max_fds","process_network_receive_bytes_total","process_network_transmit_bytes_total","process_open_fds","process_resident_memory_bytes","process_start_time_seconds","process_virtual_memory_bytes","process_virtual_memory_max_bytes"]'
jq -e --argjson p "$process_families" '[keys[] | select(startswith("process_"))] == $p' "$F" >/dev/null \
  && t_ok "the process collector's nine families" || t_bad "process families: $(jq -c '[keys[] | select(startswith("process_"))]' "$F")"
"$PY" - "$T_TMP/fulcrum.txt" "$ca_PID" "$proc_before" "$proc_after" "$fds_now" >"$T_TMP/process.out" 2>&1 <<'EOF2'
import os, sys, time
from prometheus_client.parser import text_string_to_metric_families
text, pid, t0, t1, fds = open(sys.argv[1]).read(), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
v = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}
hz = os.sysconf("SC_CLK_TCK")
status = dict(l.split(":", 1) for l in open("/proc/%s/status" % pid))
kb = lambda k: int(status[k].split()[0]) * 1024
limits = [l for l in open("/proc/%s/limits" % pid) if l.startswith("Max open files")][0].split()
btime = [int(l.split()[1]) for l in open("/proc/stat") if l.startswith("btime")][0]
start = btime + int(open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()[19]) / hz
bad = 0
def check(ok, what):
    global bad
    print(("ok   " if ok else "FAIL ") + what)
    bad += not ok
cpu = v["process_cpu_seconds_total"]
check(t0 / hz - 0.02 <= cpu <= t1 / hz + 0.02, "cpu %.2f s, the kernel's utime+stime %.2f..%.2f s" % (cpu, t0 / hz, t1 / hz))
rss = v["process_resident_memory_bytes"]
check(0.5 * kb("VmRSS") <= rss <= 2 * kb("VmRSS"), "resident %d bytes, VmRSS %d" % (rss, kb("VmRSS")))
vm = v["process_virtual_memory_bytes"]
check(0.9 * kb("VmSize") <= vm <= 1.1 * kb("VmSize") and vm >= rss, "virtual %d bytes, VmSize %d" % (vm, kb("VmSize")))
check(v["process_max_fds"] == int(limits[3]), "max fds %d, the soft limit %s" % (v["process_max_fds"], limits[3]))
check(3 < v["process_open_fds"] <= v["process_max_fds"] and abs(v["process_open_fds"] - fds) <= 3,
      "open fds %d, /proc/PID/fd has %d" % (v["process_open_fds"], fds))
check(abs(v["process_start_time_seconds"] - start) <= 1.5 and start <= time.time(),
      "start time %.2f, the kernel's %.2f" % (v["process_start_time_seconds"], start))
check(v["process_network_receive_bytes_total"] > 0 and v["process_network_transmit_bytes_total"] > 0,
      "network bytes counted")
sys.exit(1 if bad else 0)
EOF2
rc=$?
cat "$T_TMP/process.out"
[ "$rc" = 0 ] && t_ok "process_* values match /proc: CPU, memory, fds, start time" || t_bad "process_* values (above)"

# --- the start-up line ---
start_line=$(jq -c 'select(.message | startswith("ca: fulcrum "))' "$T_TMP/ca.serve.log")
[ "$(jq -r .metricsPort <<<"$start_line")" = "$MP" ] \
  && grep -qF "(metrics on http at 127.0.0.1:$MP)" <<<"$start_line" \
  && t_ok "the start-up line names the metrics port ($(jq -r .message <<<"$start_line"))" \
  || t_bad "start-up line: $start_line"
# the lines up to the start-up line: warnings other than "no CT log"
startup_warn=$(jq -sc '(map(.message | startswith("ca: fulcrum ")) | index(true)) as $i
  | .[:$i + 1][] | select(.severity != "info" and .severity != "debug") | .message' "$T_TMP/ca.serve.log" | grep -v 'no CT log')
jq -e . "$T_TMP/ca.serve.log" >/dev/null && [ -z "$startup_warn" ] \
  && ! grep -Eiq 'libmicrohttpd|thread.?pool|MHD' "$T_TMP/ca.serve.log" \
  && t_ok "no warning at start with metrics on but the missing CT log (no libmicrohttpd thread-pool line)" \
  || t_bad "warnings: $startup_warn $(grep -Ei 'libmicrohttpd|thread.?pool|MHD' "$T_TMP/ca.serve.log")"

# --- Fulcio v1.8.8 with the same requests ---
if [ ! -x "$FULCIO" ]; then
  kill -TERM "$ca_PID"
  t_done || exit 1
  t_skip "Fulcio not installed at $FULCIO (tests/tools/install-fulcio.sh): fulcrum checked alone"
fi
fport=$(t_free_port)
fmport=$(t_free_port)
"$FULCIO" serve --ca ephemeralca --ct-log-url "" --config-path "$cfg" --log_type prod \
  --host 127.0.0.1 --port "$fport" --grpc-host 127.0.0.1 --grpc-port "$(t_free_port)" \
  --metrics-port "$fmport" --legacy-unix-domain-socket "@fulcrum-test-metrics-$$" \
  >"$T_TMP/fulcio.log" 2>&1 &
T_PIDS+=($!)
if ! t_wait_http "http://127.0.0.1:$fport/healthz" 60 || ! t_wait_http "http://127.0.0.1:$fmport/metrics" 10; then
  t_bad "Fulcio did not start: $(tail -5 "$T_TMP/fulcio.log")"
  t_done
  exit 1
fi
scrape fulcio0 "http://127.0.0.1:$fmport" || t_bad "Fulcio's first scrape: $(cat "$T_TMP/fulcio0.err")"
requests fulcio "http://127.0.0.1:$fport"
[ "$(tr '\n' ' ' <"$T_TMP/fulcio.status")" = "$(tr '\n' ' ' <"$T_TMP/fulcrum.status")" ] \
  && t_ok "Fulcio answered the same statuses" \
  || t_bad "statuses: Fulcio $(tr '\n' ' ' <"$T_TMP/fulcio.status"), fulcrum $(tr '\n' ' ' <"$T_TMP/fulcrum.status")"
scrape fulcio "http://127.0.0.1:$fmport" && t_ok "the parser reads Fulcio's /metrics ($(jq length "$T_TMP/fulcio.json") families)" \
  || t_bad "Fulcio's /metrics: $(cat "$T_TMP/fulcio.err")"

# compare: families, types, label names; then the request series and how
# much each grew during the requests (the scrapes before take out the
# start-up probes).
PT_DIR="$here/../tools" "$PY" - "$T_TMP" >"$T_TMP/compare.out" 2>&1 <<'EOF'
import json, os, sys
sys.path.insert(0, os.environ["PT_DIR"])
import promtext
d = sys.argv[1]
summ = {n: json.load(open(os.path.join(d, n + ".json"))) for n in ("fulcrum", "fulcio")}
def counts(name):
    fams = promtext.parse(open(os.path.join(d, name + ".txt")).read())
    out = {}
    for fam in ("http_requests_total", "fulcio_api_latency", "fulcio_new_certs"):
        for sname, labels, value in fams.get(fam, {"samples": []})["samples"]:
            if sname.endswith("_bucket") or sname.endswith("_sum"):
                continue
            out[(sname, tuple(sorted(labels.items())))] = value
    return out
bad = 0
def check(ok, what):
    global bad
    print(("ok   " if ok else "DIFF ") + what)
    bad += not ok
mine = {k for k in summ["fulcio"] if k.startswith(("fulcio_", "http_", "process_"))}
theirs = {k for k in summ["fulcrum"] if k.startswith(("fulcio_", "http_", "process_"))}
check(mine == theirs, "families: Fulcio %s, fulcrum %s" % (sorted(mine), sorted(theirs)))
for fam in sorted(mine & theirs):
    a, b = summ["fulcio"][fam], summ["fulcrum"][fam]
    check(a["type"] == b["type"] and a["labels"] == b["labels"],
          "%s: Fulcio %s %s, fulcrum %s %s" % (fam, a["type"], a["labels"], b["type"], b["labels"]))
for fam in ("http_requests_total", "fulcio_api_latency"):
    a = sorted(json.dumps(s, sort_keys=True) for s in summ["fulcio"][fam]["series"])
    b = sorted(json.dumps(s, sort_keys=True) for s in summ["fulcrum"][fam]["series"])
    check(a == b, "%s series: Fulcio %s, fulcrum %s" % (fam, a, b))
grown = {}
for name in ("fulcrum", "fulcio"):
    after, before = counts(name), counts(name + "0")
    grown[name] = {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}
check(grown["fulcio"] == grown["fulcrum"],
      "what the requests added: Fulcio %s, fulcrum %s" % (sorted(grown["fulcio"].items()), sorted(grown["fulcrum"].items())))
sys.exit(1 if bad else 0)
EOF
rc=$?
cat "$T_TMP/compare.out"
[ "$rc" = 0 ] && t_ok "fulcrum and Fulcio v1.8.8 expose the same fulcio_*, http_* and process_* families, types, labels and request series" \
  || t_bad "fulcrum and Fulcio differ (above)"

# the log lines (--log_type prod): zap's keys in zap's order with the same
# types; the refused signing requests at warn with Fulcio's fields.
python3 - "$T_TMP/fulcio.log" "$T_TMP/ca.serve.log" >"$T_TMP/logs.out" 2>&1 <<'EOF'
import json, sys
bad = 0
def check(ok, what):
    global bad
    print(("ok   " if ok else "DIFF ") + what)
    bad += not ok
def lines(path, strict):
    out = []
    for line in open(path, encoding="utf-8"):
        try:
            out.append(json.loads(line))
        except ValueError:
            check(not strict, "%s: not JSON: %r" % (path, line[:120]))
    return out
fulcio, fulcrum = lines(sys.argv[1], False), lines(sys.argv[2], True)
shape = lambda o: [(k, type(o[k]).__name__) for k in list(o)[:4]]
for name, objs in (("Fulcio", fulcio), ("fulcrum", fulcrum)):
    shapes = {json.dumps(shape(o)) for o in objs}
    check(shapes == {json.dumps(shape(fulcio[0]))},
          "%s: %d lines, each begins %s" % (name, len(objs), sorted(shapes)))
levels = lambda objs: {o["severity"] for o in objs}
check(levels(fulcrum) <= {"debug", "info", "warn", "error"} and levels(fulcio) <= {"debug", "info", "warn", "error"},
      "severities: Fulcio %s, fulcrum %s" % (sorted(levels(fulcio)), sorted(levels(fulcrum))))
def refusals(objs):
    return sorted((o["severity"], o["code"], o["clientMessage"].split(":")[0], bool(o.get("requestID")))
                  for o in objs if "clientMessage" in o and o.get("method", "POST") == "POST")
check(len(refusals(fulcio)) == 3 and refusals(fulcio) == refusals(fulcrum),
      "refused signing requests (severity, code, clientMessage, requestID): Fulcio %s, fulcrum %s"
      % (refusals(fulcio), refusals(fulcrum)))
sys.exit(1 if bad else 0)
EOF
rc=$?
cat "$T_TMP/logs.out"
[ "$rc" = 0 ] && t_ok "fulcrum's and Fulcio's --log_type prod lines have the same keys, types and refusal fields" \
  || t_bad "the log lines differ (above)"

kill -TERM "$ca_PID"
for _ in $(seq 100); do kill -0 "$ca_PID" 2>/dev/null || break; sleep 0.1; done
wait "$ca_PID"
[ $? = 0 ] && t_ok "fulcrum stops cleanly" || t_bad "fulcrum exit status"
t_done
