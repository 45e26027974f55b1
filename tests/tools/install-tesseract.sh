#!/usr/bin/env bash
# Builds TesseraCT POSIX (a real static-ct-api Certificate Transparency log,
# github.com/transparency-dev/tesseract, cmd/tesseract/posix) by Go module
# name into $FULCRUM_DEPS/bin/tesseract-posix (FULCRUM_DEPS defaults to
# <repo>/.deps). Test-only: the CT tests (tests/integration/ct-tesseract.sh,
# tests/bench/bench-ct.sh) submit fulcrum's precertificates to it on loopback.
#
# Pinned to TesseraCT v0.1.2 (7271283, the newest release tag). Why not a
# plain `go install github.com/transparency-dev/tesseract/cmd/tesseract/posix@v0.1.2`:
# v0.1.2's go.mod requires two untagged pseudo-versions,
#   github.com/transparency-dev/tessera v1.0.3-0.20260708122718-d7b88fdfe3c0
#   github.com/transparency-dev/formats v0.1.2-0.20260629100010-fa283eb7462a
# which the module proxy reachable from this project's machines refuses
# ("403 This module version is not available"), and `go install pkg@version`
# honours no replace. So it is built as the tool of a throwaway module kept
# outside the repository ($FULCRUM_DEPS/tesseract-build) that requires
# tesseract v0.1.2 and replaces those two with the nearest tagged releases,
# tessera v1.0.3 (2026-07-14) and formats v0.1.1 (2026-06-02). Every module
# is fetched by name and checked against the checksum database.
#
# tessera v1.0.3 (a release-branch tag) lacks two fields of
# antispam.AntispamOpts that v0.1.2's cmd/tesseract/posix/main.go sets
# (CompactionInterval and BadgerOptions: BadgerDB tuning of the anti-spam
# index, added on tessera's main branch after v1.0.2). So the v0.1.2 source is
# copied out of the module cache, main.go is checked by SHA-256, and exactly
# those two struct fields are left unset (the anti-spam index then runs with
# tessera v1.0.3's BadgerDB defaults; the --antispam_compaction_interval,
# _num_compactors, _mem_table_size, _base_table_size, _index_cache_size and
# _block_cache_size flags are accepted and ignored). Chain validation, SCT
# signing, sequencing, checkpoints and storage are TesseraCT's and Tessera's
# code, unmodified.
#
# Idempotent: nothing is done while the binary and its version stamp match.
# Needs Go >= 1.25.8 (GOTOOLCHAIN=local: no toolchain download) and python3.
# A cold build (empty module and build caches) takes about two minutes on 2 cores.
set -euo pipefail

TESSERACT_VERSION=v0.1.2
TESSERA_VERSION=v1.0.3
FORMATS_VERSION=v0.1.1
MAIN_SHA256=3cee26c91682321d4e3ffc04a8b29b93b7817d1003b436ca840ff28c5f165ea0
STAMP="tesseract $TESSERACT_VERSION tessera $TESSERA_VERSION formats $FORMATS_VERSION edit 1"

deps=${FULCRUM_DEPS:-$(cd "$(dirname "$0")/../.." && pwd)/.deps}
bin="$deps/bin/tesseract-posix"
stamp="$deps/bin/tesseract-posix.version"
fail() { echo "install-tesseract: $*" >&2; exit 1; }

if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$STAMP" ]; then
  echo "install-tesseract: TesseraCT $TESSERACT_VERSION up to date ($bin)"
  exit 0
fi
export PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || fail "Go (>= 1.25.8) is required to build TesseraCT"
command -v python3 >/dev/null || fail "python3 is required to prepare the build"
export GOTOOLCHAIN=local CGO_ENABLED=0
work="$deps/tesseract-build"
rm -rf "$work"
mkdir -p "$deps/bin" "$work"
cd "$work" || fail "cannot enter $work"
log="$work/go.log"
: >"$log"
echo "install-tesseract: building TesseraCT POSIX $TESSERACT_VERSION (first time only, about two minutes)"
start=$(date +%s)

# 1. The v0.1.2 source, fetched by name, copied out of the read-only cache.
go mod download -json "github.com/transparency-dev/tesseract@$TESSERACT_VERSION" >"$work/dl.json" 2>>"$log" || true
dir=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get("Dir","")); sys.exit(1 if d.get("Error") or not d.get("Dir") else 0)' \
  "$work/dl.json") || { cat "$log" "$work/dl.json" >&2; fail "go mod download of tesseract $TESSERACT_VERSION failed"; }
cp -r "$dir" "$work/tesseract"
chmod -R u+w "$work/tesseract"

# 2. main.go without the two AntispamOpts fields tessera v1.0.3 lacks.
main="$work/tesseract/cmd/tesseract/posix/main.go"
echo "$MAIN_SHA256  $main" | sha256sum -c --quiet - \
  || fail "$main is not the $TESSERACT_VERSION file the edit was written for"
cat >"$work/edit.py" <<'EOF'
import sys
path = sys.argv[1]
src = open(path).read()
edits = [
    # default of --antispam_compaction_interval (the flag is then ignored)
    ("tposix_as.DefaultCompactionInterval,", "0 /* not in tessera v1.0.3: ignored */,"),
    # end the AntispamOpts literal before the two fields v1.0.3 lacks; keep
    # the BadgerDB options function (unused) so that imports and locals stay used
    ("\t\tCompactionInterval: *antispamCompactionInterval,\n"
     "\t\tBadgerOptions: func(o badger.Options) badger.Options {\n",
     "\t}\n"
     "\t_ = func(o badger.Options) badger.Options { // not in tessera v1.0.3: its defaults apply\n"),
    ("\t\t\t\tWithBlockCacheSize(int64(antispamBlockCacheBytes))\n\t\t},\n\t}\n",
     "\t\t\t\tWithBlockCacheSize(int64(antispamBlockCacheBytes))\n\t}\n"),
]
for old, new in edits:
    if src.count(old) != 1:
        sys.exit("edit not applicable: %r" % old)
    src = src.replace(old, new)
open(path, "w").write(src)
EOF
python3 "$work/edit.py" "$main" || fail "could not edit $main"

# 3. The throwaway module and the build.
cat >"$work/go.mod" <<EOF
module tesseractbuild.invalid

go 1.25.8

require github.com/transparency-dev/tesseract $TESSERACT_VERSION

tool github.com/transparency-dev/tesseract/cmd/tesseract/posix

replace (
	github.com/transparency-dev/tesseract => ./tesseract
	github.com/transparency-dev/tessera => github.com/transparency-dev/tessera $TESSERA_VERSION
	github.com/transparency-dev/formats => github.com/transparency-dev/formats $FORMATS_VERSION
)
EOF
go mod tidy >>"$log" 2>&1 || { grep -v '^go: downloading' "$log" >&2; fail "go mod tidy failed"; }
go build -trimpath -o "$bin.tmp" github.com/transparency-dev/tesseract/cmd/tesseract/posix >>"$log" 2>&1 \
  || { grep -v '^go: downloading' "$log" >&2; fail "go build failed"; }
mv -f "$bin.tmp" "$bin"
echo "$STAMP" >"$stamp"
echo "install-tesseract: built $bin in $(($(date +%s) - start)) s"
