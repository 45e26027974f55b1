#!/usr/bin/env bash
# The C sources follow the checked-in .clang-format: clang-format 14 (as
# Debian 12 ships it; other versions lay some constructs out differently)
# in --dry-run --Werror mode over every .c and .h file git tracks, or, in a
# tree without git, every .c and .h file below the source root. With
# --self-test it first shows that a misformatted file is caught.
#
# Usage: check_format.sh [--self-test] SOURCE_ROOT
set -uo pipefail
self=0
[ "${1:-}" = --self-test ] && { self=1; shift; }
root=${1:?usage: check_format.sh [--self-test] SOURCE_ROOT}
cd "$root" || exit 2

cf=
for c in clang-format-14 clang-format; do
  if command -v "$c" >/dev/null && "$c" --version | grep -q 'version 14\.'; then cf=$c; break; fi
done
if [ -z "$cf" ]; then
  echo "format: clang-format 14 is not installed (apt-get install clang-format on Debian 12)"
  [ "${CI:-}" = true ] && exit 1
  exit 77
fi

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files '*.c' '*.h')
else
  mapfile -t files < <(find . -name node_modules -prune -o -name '.deps' -prune -o \
    -name 'build*' -prune -o \( -name '*.c' -o -name '*.h' \) -print | sed 's|^\./||' | sort)
fi

if [ "$self" = 1 ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  cp .clang-format "$tmp/"
  printf 'int f(int a){return a+1;}\n' >"$tmp/bad.c"
  if "$cf" --dry-run --Werror "$tmp/bad.c" >/dev/null 2>&1; then
    echo "format: self-test: a misformatted file was not caught"
    exit 1
  fi
  echo "format: self-test: a misformatted file is caught"
fi

bad=0
for f in "${files[@]}"; do
  if ! "$cf" --dry-run --Werror "$f" >/dev/null 2>&1; then
    echo "format: $f does not follow .clang-format (run: $cf -i $f)"
    bad=$((bad + 1))
  fi
done
echo "format: ${#files[@]} files checked with $($cf --version | head -1), $bad not formatted"
[ "$bad" = 0 ]
