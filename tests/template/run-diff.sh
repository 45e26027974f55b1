#!/usr/bin/env bash
# Differential test of the claim templates: Go's text/template (gorender,
# built here with the local Go toolchain, standard library only) against
# fulcrum's (template_diff). Three sets of cases:
#   cases.json   constructs, Fulcio's shipped templates, edge cases, errors
#   -matrix      printf: each verb and flag over each kind of value
#   -gen         GEN_N random templates from a grammar, fixed seed
# Any difference in outcome (output, parse error, execution error) fails.
#
# Environment (meson sets them): FULCRUM_TEMPLATE_DIFF (the C driver),
# FULCRUM_BUILD_DIR (gorender is built, and cached, under it).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
: "${FULCRUM_TEMPLATE_DIFF:?FULCRUM_TEMPLATE_DIFF must name the template_diff binary}"
: "${FULCRUM_BUILD_DIR:?FULCRUM_BUILD_DIR must name the build directory}"
GEN_N=${GEN_N:-1000}
GEN_SEED=${GEN_SEED:-1}

skip() {
  echo "SKIP: $*"
  if [ "${CI:-}" = "true" ]; then echo "CI=true: a skip is a failure"; exit 1; fi
  exit 77
}

export PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || skip "Go is not installed (needed for the reference renderer)"
export GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-mod=mod CGO_ENABLED=0
out="$FULCRUM_BUILD_DIR/tests/template"
mkdir -p "$out"
[ -n "${HOME:-}" ] || export GOCACHE="$out/gocache"

# Build gorender once per source change and Go version.
bin="$out/gorender"
stamp=$( (go version; cat "$here"/gorender/go.mod "$here"/gorender/*.go) | sha256sum | cut -c1-16)
if [ ! -x "$bin" ] || [ "$(cat "$bin.stamp" 2>/dev/null)" != "$stamp" ]; then
  (cd "$here/gorender" && go build -o "$bin.tmp" .) || { echo "FAIL: go build of gorender"; exit 1; }
  mv "$bin.tmp" "$bin" && echo "$stamp" > "$bin.stamp"
fi
echo "reference: $(go version)"

# The rune tables come from the same generator; say so when Go's differ.
if ! "$bin" -unicode | cmp -s - "$here/../../config/template_unicode.c"; then
  echo "NOTE: config/template_unicode.c differs from this Go's tables;" \
       "regenerate with: gorender -unicode > config/template_unicode.c"
fi

"$bin" -cases "$here/cases.json" > "$out/cases.out.json" || { echo "FAIL: gorender -cases"; exit 1; }
"$bin" -matrix > "$out/matrix.out.json" || { echo "FAIL: gorender -matrix"; exit 1; }
"$bin" -gen "$GEN_N" -seed "$GEN_SEED" > "$out/gen.out.json" || { echo "FAIL: gorender -gen"; exit 1; }

rc=0
for f in cases matrix gen; do
  echo "== $f"
  "$FULCRUM_TEMPLATE_DIFF" "$out/$f.out.json" || rc=1
done
exit $rc
