#!/usr/bin/env bash
# Builds promtool at the Prometheus version pinned in go.mod (cached; see ../build-go-tool.sh)
# and prints its path.
set -euo pipefail
tools="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="$("$tools/build-go-tool.sh" --module-version promtool github.com/prometheus/prometheus)"
exec "$tools/build-go-tool.sh" promtool promtool github.com/prometheus/prometheus/cmd/promtool \
  "-X github.com/prometheus/common/version.Version=$version"
