#!/usr/bin/env bash
# Builds cosign (github.com/sigstore/cosign, the Sigstore CLI in Go) by Go
# module name into $FULCRUM_DEPS/bin/cosign for tests/interop/cosign.sh.
# Pinned to v3.1.3: `go install github.com/sigstore/cosign/v3/cmd/cosign@v3.1.3`
# through the Go module proxy (release binaries are not downloadable from
# the project's machines). Its go.mod (module github.com/sigstore/cosign/v3,
# go 1.26.0) has no replace or exclude line, so `go install pkg@version`
# works as is, with cosign's own go.sum.
#
# Idempotent: nothing is done while the binary and its version stamp match
# and the binary's embedded module version is the pinned one.
# Needs Go >= 1.26.0 (GOTOOLCHAIN=local: no toolchain download).
# A cold build takes about five and a half minutes on 2 cores: 5 min 25 s
# measured with empty module and build caches (about 1.8 GB of modules are
# downloaded, 1.3 GB of build cache written); 4 min 12 s of it is compiling
# (warm module cache, empty build cache). Once built, this script returns at
# once.
set -euo pipefail

COSIGN_MODULE=github.com/sigstore/cosign/v3
COSIGN_VERSION=v3.1.3
STAMP="cosign $COSIGN_VERSION"

deps=${FULCRUM_DEPS:-$(cd "$(dirname "$0")/../.." && pwd)/.deps}
bin="$deps/bin/cosign"
stamp="$deps/bin/cosign.version"
fail() { echo "install-cosign: $*" >&2; exit 1; }
export PATH="$PATH:/usr/local/go/bin"

# embedded_version FILE: the main module version recorded in a Go binary.
embedded_version() { go version -m "$1" 2>/dev/null | awk '$1 == "mod" { print $3; exit }'; }

if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$STAMP" ] \
   && { ! command -v go >/dev/null || [ "$(embedded_version "$bin")" = "$COSIGN_VERSION" ]; }; then
  echo "install-cosign: cosign $COSIGN_VERSION up to date ($bin)"
  exit 0
fi
command -v go >/dev/null || fail "Go (>= 1.26.0) is required to build cosign"
# GOFLAGS=-mod=mod: `go install pkg@version` ignores any go.work and vendor
# directory anyway; set explicitly so a GOFLAGS from the environment (e.g.
# -mod=vendor) cannot break the build. GOTOOLCHAIN=local: no toolchain
# download (cosign declares go 1.26.0; an older local Go fails clearly).
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod GOBIN="$deps/bin.cosign-tmp"
mkdir -p "$deps/bin"
rm -rf "$GOBIN"
log="$deps/cosign-build.log"
: >"$log"
echo "install-cosign: building cosign $COSIGN_VERSION (first time only, about five minutes)"
start=$(date +%s)
go install -trimpath "$COSIGN_MODULE/cmd/cosign@$COSIGN_VERSION" >>"$log" 2>&1 \
  || { grep -v '^go: downloading' "$log" >&2; rm -rf "$GOBIN"; fail "go install $COSIGN_MODULE/cmd/cosign@$COSIGN_VERSION failed"; }
got=$(embedded_version "$GOBIN/cosign")
[ "$got" = "$COSIGN_VERSION" ] || { rm -rf "$GOBIN"; fail "built cosign reports module version '$got', want $COSIGN_VERSION"; }
mv -f "$GOBIN/cosign" "$bin"
rm -rf "$GOBIN"
echo "$STAMP" >"$stamp"
echo "install-cosign: built $bin in $(($(date +%s) - start)) s"
