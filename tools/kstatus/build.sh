#!/usr/bin/env bash
# Builds the kstatus helper (sigs.k8s.io/cli-utils' status.Compute over live objects) into a
# cache outside the checkout keyed by go.sum, and prints the binary's path as the last line
# of stdout. A binary already in the cache is not rebuilt.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

sum="$(cat go.mod go.sum main.go | sha256sum | cut -c1-16)"
cache_root="${HOPPER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hopper-operator}"
out="$cache_root/tools/kstatus-$sum"
mkdir -p "$out"

if [[ ! -x "$out/kstatus" ]]; then
  echo "building kstatus into $out (a cold build takes a few minutes)" >&2
  started=$SECONDS
  log="$out/kstatus.build.log"
  if ! CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/kstatus.partial" . >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "go build of kstatus failed; full log: $log" >&2
    exit 1
  fi
  mv "$out/kstatus.partial" "$out/kstatus"
  echo "built kstatus in $((SECONDS - started)) s" >&2
fi
echo "$out/kstatus"
