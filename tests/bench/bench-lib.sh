# Sourced by the issuance benchmarks (bench-serve.sh, bench-hsm-serve.sh,
# bench-ct.sh).
#
# bench_signing_request IDP_URL DIR: one token (ES256, far-future exp) and
# one P-256 key with its proof of possession for every request (Fulcio binds
# neither to the request, so the measured work is the same as with fresh
# ones: token verification with a warm JWKS cache, PoP verification, the
# signatures); writes DIR/body.json (a v2 signingCert body) and
# DIR/post.lua, a wrk script that POSTs it and reports each non-200 answer
# (status and the start of its message) on standard error.
bench_signing_request() {
  local idp=$1 dir=$2 tok pop pub
  tok=$(curl -fsS -H 'Content-Type: application/json' \
    --data '{"key":"ec256","claims":{"sub":"bench","email":"bench@example.com","email_verified":true,"exp":4102444800}}' \
    "$idp/mint") || return 1
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/k.pem" 2>/dev/null || return 1
  pop=$(printf 'bench@example.com' | openssl dgst -sha256 -sign "$dir/k.pem" | base64 -w0)
  pub=$(openssl pkey -in "$dir/k.pem" -pubout | awk '{printf "%s\\n", $0}')
  printf '{"credentials":{"oidcIdentityToken":"%s"},"publicKeyRequest":{"publicKey":{"content":"%s"},"proofOfPossession":"%s"}}' \
    "$tok" "$pub" "$pop" >"$dir/body.json"
  cat >"$dir/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$dir/body.json", "r")
wrk.body = f:read("*a")
f:close()
response = function(status, headers, body)
  if status ~= 200 then io.stderr:write(status .. " " .. body:sub(1, 160) .. "\n") end
end
LUA
}
