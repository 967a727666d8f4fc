#!/usr/bin/env bash
# Usage: tools/build-go-tool.sh DIR BINARY PACKAGE [LDFLAGS...]
#    or: tools/build-go-tool.sh --module-version DIR MODULE   (prints the version go.mod pins)
# Builds PACKAGE (a main package pinned by the Go module in tools/DIR) as BINARY into a cache
# outside the checkout keyed by that module's go.mod, go.sum, Go files and the link flags, and prints the binary's path as
# the last line of stdout. A binary already in the cache is not rebuilt, so only the first run
# on a machine pays for the build (helm and promtool are several minutes each on 2 cores).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ "$1" == --module-version ]]; then
  # A direct requirement is either `require M vX` or a line `M vX` inside a require block.
  awk -v m="$3" '{ for (i = 1; i < NF; i++) if ($i == m && $(i + 1) ~ /^v/) { print $(i + 1); exit } }' \
    "$here/$2/go.mod"
  exit 0
fi
dir="$1" binary="$2" package="$3"
shift 3
cd "$here/$dir"

sum="$( (cat go.mod go.sum ./*.go; echo "$*") | sha256sum | cut -c1-16)"
cache_root="${HOPPER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hopper-operator}"
out="$cache_root/tools/$binary-$sum"
mkdir -p "$out"

if [[ ! -x "$out/$binary" ]]; then
  echo "building $binary into $out (a cold build takes several minutes; log: $out/$binary.build.log)" >&2
  started=$SECONDS
  log="$out/$binary.build.log"
  # -v names each package as it compiles: the progress a person waiting wants to see.
  if ! CGO_ENABLED=0 go build -trimpath -v -ldflags "-s -w $*" -o "$out/$binary.partial" \
      "$package" >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "go build of $binary failed; full log: $log" >&2
    exit 1
  fi
  mv "$out/$binary.partial" "$out/$binary"
  echo "built $binary in $((SECONDS - started)) s" >&2
fi
echo "$out/$binary"
