#!/usr/bin/env bash
# Builds Fulcio (github.com/sigstore/fulcio, the Sigstore code-signing CA in
# Go) by Go module name into $FULCRUM_DEPS/bin/fulcio (FULCRUM_DEPS defaults
# to <repo>/.deps). Test-only: tests/interop/fulcio-diff.sh runs it beside
# fulcrum serve and compares their answers; tests/bench/bench-vs-fulcio.sh
# measures both.
#
# Pinned to v1.8.8: `go install github.com/sigstore/fulcio@v1.8.8` through
# the Go module proxy. Its go.mod (module github.com/sigstore/fulcio, go
# 1.26.0) has no replace or exclude line, so `go install pkg@version` works
# as is, with Fulcio's own go.sum. CGO_ENABLED=0: the pkcs11ca backend is
# then refused at run time ("built with no cgo support"), which the tests do
# not use (they run --ca fileca).
#
# Idempotent: nothing is done while the binary and its version stamp match
# and the binary's embedded module version is the pinned one.
# Needs Go >= 1.26.0 (GOTOOLCHAIN=local: no toolchain download).
# A cold build (empty module and build caches) took 8 min 31 s on 2 cores
# shared with other work (load average 8 to 17; 2 min 45 s of CPU), about
# 770 MB of modules downloaded and 470 MB of build cache written; with the
# module cache cosign's build leaves, 2 min 22 s. Once built, this script
# returns at once.
set -euo pipefail

FULCIO_MODULE=github.com/sigstore/fulcio
FULCIO_VERSION=v1.8.8
STAMP="fulcio $FULCIO_VERSION"

deps=${FULCRUM_DEPS:-$(cd "$(dirname "$0")/../.." && pwd)/.deps}
bin="$deps/bin/fulcio"
stamp="$deps/bin/fulcio.version"
fail() { echo "install-fulcio: $*" >&2; exit 1; }
export PATH="$PATH:/usr/local/go/bin"

# embedded_version FILE: the main module version recorded in a Go binary.
embedded_version() { go version -m "$1" 2>/dev/null | awk '$1 == "mod" { print $3; exit }'; }

if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$STAMP" ] \
   && { ! command -v go >/dev/null || [ "$(embedded_version "$bin")" = "$FULCIO_VERSION" ]; }; then
  echo "install-fulcio: Fulcio $FULCIO_VERSION up to date ($bin)"
  exit 0
fi
command -v go >/dev/null || fail "Go (>= 1.26.0) is required to build Fulcio"
# GOFLAGS=-mod=mod so that a GOFLAGS from the environment (e.g. -mod=vendor)
# cannot break the build; GOTOOLCHAIN=local: no toolchain download.
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod GOBIN="$deps/bin.fulcio-tmp"
mkdir -p "$deps/bin"
rm -rf "$GOBIN"
log="$deps/fulcio-build.log"
: >"$log"
echo "install-fulcio: building Fulcio $FULCIO_VERSION (first time only, 3 to 9 minutes)"
start=$(date +%s)
go install -trimpath "$FULCIO_MODULE@$FULCIO_VERSION" >>"$log" 2>&1 \
  || { grep -v '^go: downloading' "$log" >&2; rm -rf "$GOBIN"; fail "go install $FULCIO_MODULE@$FULCIO_VERSION failed"; }
got=$(embedded_version "$GOBIN/fulcio")
[ "$got" = "$FULCIO_VERSION" ] || { rm -rf "$GOBIN"; fail "built fulcio reports module version '$got', want $FULCIO_VERSION"; }
mv -f "$GOBIN/fulcio" "$bin"
rm -rf "$GOBIN"
echo "$STAMP" >"$stamp"
echo "install-fulcio: built $bin in $(($(date +%s) - start)) s"
