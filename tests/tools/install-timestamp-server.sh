#!/usr/bin/env bash
# Builds sigstore's timestamp-server (github.com/sigstore/timestamp-authority,
# the RFC 3161 TSA whose HTTP API fulcrum tsa implements) by Go module name
# into $FULCRUM_DEPS/bin/timestamp-server, for tests/bench/bench-tsa.sh (the
# side-by-side figures) and tests/integration/tsa-refusals.sh (the answers
# compared request by request). Pinned to v2.1.3:
# `go install github.com/sigstore/timestamp-authority/v2/cmd/timestamp-server@v2.1.3`
# through the Go module proxy; its go.mod (module .../v2) has no replace
# line, so `go install pkg@version` works as is. Newer tags need a newer Go
# than Debian 12 machines here have.
#
# Idempotent: nothing is done while the binary and its version stamp match
# and the binary's embedded module version is the pinned one.
# Needs Go (GOTOOLCHAIN=local: no toolchain download). A cold build takes
# a few minutes on 2 cores (about 40 s with a warm module cache).
set -euo pipefail

TSA_MODULE=github.com/sigstore/timestamp-authority/v2
TSA_VERSION=v2.1.3
STAMP="timestamp-server $TSA_VERSION"

deps=${FULCRUM_DEPS:-$(cd "$(dirname "$0")/../.." && pwd)/.deps}
bin="$deps/bin/timestamp-server"
stamp="$deps/bin/timestamp-server.version"
fail() { echo "install-timestamp-server: $*" >&2; exit 1; }
export PATH="$PATH:/usr/local/go/bin"

embedded_version() { go version -m "$1" 2>/dev/null | awk '$1 == "mod" { print $3; exit }'; }

if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$STAMP" ] \
   && { ! command -v go >/dev/null || [ "$(embedded_version "$bin")" = "$TSA_VERSION" ]; }; then
  echo "install-timestamp-server: timestamp-server $TSA_VERSION up to date ($bin)"
  exit 0
fi
command -v go >/dev/null || fail "Go is required to build timestamp-server"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod GOBIN="$deps/bin.timestamp-server-tmp"
mkdir -p "$deps/bin"
rm -rf "$GOBIN"
log="$deps/timestamp-server-build.log"
: >"$log"
echo "install-timestamp-server: building timestamp-server $TSA_VERSION (first time only)"
start=$(date +%s)
go install -trimpath "$TSA_MODULE/cmd/timestamp-server@$TSA_VERSION" >>"$log" 2>&1 \
  || { grep -v '^go: downloading' "$log" >&2; rm -rf "$GOBIN"; fail "go install $TSA_MODULE/cmd/timestamp-server@$TSA_VERSION failed"; }
got=$(embedded_version "$GOBIN/timestamp-server")
[ "$got" = "$TSA_VERSION" ] || { rm -rf "$GOBIN"; fail "built timestamp-server reports module version '$got', want $TSA_VERSION"; }
mv -f "$GOBIN/timestamp-server" "$bin"
rm -rf "$GOBIN"
echo "$STAMP" >"$stamp"
echo "install-timestamp-server: built $bin in $(($(date +%s) - start)) s"
