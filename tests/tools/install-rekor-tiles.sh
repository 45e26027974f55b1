#!/usr/bin/env bash
# Builds Rekor v2 (github.com/sigstore/rekor-tiles, the tile-backed Rekor
# transparency log, POSIX storage driver) by Go module name into
# $FULCRUM_DEPS/bin/rekor-tiles (FULCRUM_DEPS defaults to <repo>/.deps), for
# the end-to-end tests (tests/interop/e2e-*.sh) and examples/quickstart.sh.
#
# Pinned to v2.3.0:
#   go install github.com/sigstore/rekor-tiles/v2/cmd/rekor-server/posix@v2.3.0
# v2.1.0 is the first tag with cmd/rekor-server/posix (v2.0.x only has the
# GCP server); v2.3.0 is the newest tag whose go.mod (go 1.25.8) builds with
# this project's Go 1.26 without a toolchain download (v2.4.x needs Go
# 1.27). Its go.mod has no replace line, so `go install pkg@version` works
# as is. The binary is called `posix` after its package; it is installed as
# `rekor-tiles`.
#
# Idempotent: nothing is done while the binary and its version stamp match
# and the binary's embedded module version is the pinned one.
# Needs Go >= 1.25.8 (GOTOOLCHAIN=local). On 2 cores a cold build (empty Go
# module and build caches) took 7.5 minutes, most of it downloading
# modules; with the module cache filled, about 2 minutes.
set -euo pipefail

REKOR_MODULE=github.com/sigstore/rekor-tiles/v2
REKOR_VERSION=v2.3.0
STAMP="rekor-tiles $REKOR_VERSION"

deps=${FULCRUM_DEPS:-$(cd "$(dirname "$0")/../.." && pwd)/.deps}
bin="$deps/bin/rekor-tiles"
stamp="$deps/bin/rekor-tiles.version"
fail() { echo "install-rekor-tiles: $*" >&2; exit 1; }
export PATH="$PATH:/usr/local/go/bin"

embedded_version() { go version -m "$1" 2>/dev/null | awk '$1 == "mod" { print $3; exit }'; }

if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$STAMP" ] \
   && { ! command -v go >/dev/null || [ "$(embedded_version "$bin")" = "$REKOR_VERSION" ]; }; then
  echo "install-rekor-tiles: rekor-tiles $REKOR_VERSION up to date ($bin)"
  exit 0
fi
command -v go >/dev/null || fail "Go (>= 1.25.8) is required to build rekor-tiles"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod GOBIN="$deps/bin.rekor-tiles-tmp"
mkdir -p "$deps/bin"
rm -rf "$GOBIN"
log="$deps/rekor-tiles-build.log"
: >"$log"
echo "install-rekor-tiles: building rekor-tiles $REKOR_VERSION (first time only, a few minutes)"
start=$(date +%s)
go install -trimpath "$REKOR_MODULE/cmd/rekor-server/posix@$REKOR_VERSION" >>"$log" 2>&1 \
  || { grep -v '^go: downloading' "$log" >&2; rm -rf "$GOBIN"; fail "go install $REKOR_MODULE/cmd/rekor-server/posix@$REKOR_VERSION failed"; }
got=$(embedded_version "$GOBIN/posix")
[ "$got" = "$REKOR_VERSION" ] || { rm -rf "$GOBIN"; fail "built rekor-tiles reports module version '$got', want $REKOR_VERSION"; }
mv -f "$GOBIN/posix" "$bin"
rm -rf "$GOBIN"
echo "$STAMP" >"$stamp"
echo "install-rekor-tiles: built $bin in $(($(date +%s) - start)) s"
