#!/usr/bin/env bash
# Builds the independent Static CT API reader used by the fulcrum ctlog
# tests (tests/tools/ctlog_reader, our program over golang.org/x/mod's
# sumdb/tlog and sumdb/note) into $FULCRUM_DEPS/bin/ctlog-reader
# (FULCRUM_DEPS defaults to <repo>/.deps). Versions are pinned by the
# committed go.mod and go.sum; modules come from the Go module proxy.
# Idempotent: nothing is done while the binary is newer than its sources.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src="$here/ctlog_reader"
deps=${FULCRUM_DEPS:-$(cd "$here/../.." && pwd)/.deps}
bin="$deps/bin/ctlog-reader"

if [ -x "$bin" ] && [ -z "$(find "$src" -newer "$bin" -type f 2>/dev/null)" ]; then
  echo "install-ctlog-reader: up to date ($bin)"
  exit 0
fi
export PATH="$PATH:/usr/local/go/bin"
if ! command -v go >/dev/null; then
  echo "install-ctlog-reader: Go (>= 1.24) is required" >&2
  exit 1
fi
mkdir -p "$deps/bin"
# GOTOOLCHAIN=local: never download another toolchain; -mod=readonly: the
# committed go.sum must already pin every module.
(cd "$src" && GOTOOLCHAIN=local CGO_ENABLED=0 go build -mod=readonly -trimpath -o "$bin.tmp" .)
mv -f "$bin.tmp" "$bin"
echo "install-ctlog-reader: built $bin"
