#!/usr/bin/env bash
# A body over the cap (4 MiB for fulcrum serve) is answered 413 in a way
# every client reads: Node's fetch and Python's http.client send the whole
# body without Expect and read the answer afterwards; the front reads and
# drops the body (up to a bound) before answering, then closes. 20 tries
# each, every one a 413. curl (Expect: 100-continue) gets it at once,
# without sending the body.
. "$(dirname "$0")/http-lib.sh"
command -v node >/dev/null || t_skip "node not installed"
command -v jq >/dev/null || t_skip "jq not installed"

serve_start ca --ca ephemeralca || exit 1
P=$(port_of "$ca_URL")
SIZE=$((5 * 1024 * 1024))

cat >"$T_TMP/fetch.mjs" <<EOF
const body = Buffer.alloc($SIZE, 0x61);
const got = {};
for (let i = 0; i < 20; i++) {
  let k;
  try {
    const r = await fetch("http://127.0.0.1:$P/api/v2/signingCert",
      {method: "POST", body, headers: {"Content-Type": "application/json"}});
    const j = await r.json();
    k = r.status + (j.code === 3 && /larger than/.test(j.message) ? "" : " (body " + JSON.stringify(j) + ")");
  } catch (e) { k = String(e.cause ? e.cause.code || e.cause : e); }
  got[k] = (got[k] || 0) + 1;
}
console.log(JSON.stringify(got));
EOF
out=$(timeout 120 node "$T_TMP/fetch.mjs")
[ "$(jq -r '."413" // 0' <<<"$out")" = 20 ] && t_ok "Node $(node --version) fetch, no Expect: 20 of 20 saw the 413" \
  || t_bad "Node fetch: $out"

out=$(timeout 120 python3 - "$P" "$SIZE" <<'EOF'
import http.client, json, sys
port, size = int(sys.argv[1]), int(sys.argv[2])
body, got = b"a" * size, {}
for _ in range(20):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request("POST", "/api/v2/signingCert", body=body,
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        k = str(r.status) if json.loads(r.read()).get("code") == 3 else "bad body"
    except Exception as e:
        k = type(e).__name__
    c.close()
    got[k] = got.get(k, 0) + 1
print(json.dumps(got))
EOF
)
[ "$(jq -r '."413" // 0' <<<"$out")" = 20 ] && t_ok "Python http.client, no Expect: 20 of 20 saw the 413" \
  || t_bad "Python http.client: $out"

# A chunked body over the cap: the same, drained then 413.
out=$(timeout 60 python3 - "$P" "$SIZE" <<'EOF'
import http.client, sys
port, size = int(sys.argv[1]), int(sys.argv[2])
def gen():
    for _ in range(size // 65536):
        yield b"a" * 65536
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
c.request("POST", "/api/v2/signingCert", body=gen(), encode_chunked=True,
          headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
r = c.getresponse()
print(r.status, r.getheader("Connection"))
EOF
)
[ "$out" = "413 close" ] && t_ok "chunked body over the cap: 413, Connection: close" || t_bad "chunked: $out"

# curl sends Expect: 100-continue: answered before the body is sent.
head -c "$SIZE" /dev/zero | tr '\0' a >"$T_TMP/big.json"
res=$(curl -sS -o "$T_TMP/curl.out" -w '%{http_code} %{size_upload} %{time_total}' \
  -H 'Content-Type: application/json' --data-binary @"$T_TMP/big.json" "$ca_URL/api/v2/signingCert")
read -r code up secs <<<"$res"
if [ "$code" = 413 ] && [ "$up" -lt "$SIZE" ] && awk -v s="$secs" 'BEGIN {exit !(s < 1)}'; then
  t_ok "curl (Expect: 100-continue): 413 in ${secs}s, $up of $SIZE bytes sent"
else
  t_bad "curl: $res $(cat "$T_TMP/curl.out")"
fi

# Just under the cap is read and parsed (the API's 400: not JSON).
head -c $((4 * 1024 * 1024 - 16)) /dev/zero | tr '\0' a >"$T_TMP/under.json"
code=$(curl -sS -o /dev/null -w '%{http_code}' -H 'Expect:' -H 'Content-Type: application/json' \
  --data-binary @"$T_TMP/under.json" "$ca_URL/api/v2/signingCert")
[ "$code" = 400 ] && t_ok "a body just under the cap reaches the API (400, not JSON)" || t_bad "under the cap: $code"

http GET "$ca_URL/healthz"
[ "$H_STATUS" = 200 ] && t_ok "the server still answers" || t_bad "healthz: $H_STATUS"
t_done
