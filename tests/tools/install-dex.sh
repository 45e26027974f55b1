#!/usr/bin/env bash
# Builds Dex (a real OpenID provider, github.com/dexidp/dex) by Go module
# name into $FULCRUM_DEPS/bin/dex. `go install ...@v2.x` cannot work for Dex
# (its module path lacks /v2 and its go.mod has replace lines), so it is
# built as a dependency of a throwaway module kept outside the repository.
# Pinned to v2.45.1 (commit 11d2eeb52b42).
set -euo pipefail

DEX_VERSION=v0.0.0-20260303133905-11d2eeb52b42
deps=${FULCRUM_DEPS:-$(cd "$(dirname "$0")/../.." && pwd)/.deps}
bin="$deps/bin/dex"
stamp="$deps/bin/dex.version"

if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$DEX_VERSION" ]; then
  exit 0
fi
export PATH="$PATH:/usr/local/go/bin"
if ! command -v go >/dev/null; then
  echo "install-dex: Go (>= 1.25) is required to build Dex" >&2
  exit 1
fi
mkdir -p "$deps/bin" "$deps/dexbuild"
cd "$deps/dexbuild"
[ -f go.mod ] || go mod init dexbuild.invalid >/dev/null 2>&1
echo "install-dex: building Dex $DEX_VERSION (first time only, about two minutes)"
CGO_ENABLED=0 go get "github.com/dexidp/dex/cmd/dex@$DEX_VERSION" >/dev/null 2>&1
CGO_ENABLED=0 go build -o "$bin" github.com/dexidp/dex/cmd/dex
echo "$DEX_VERSION" > "$stamp"
