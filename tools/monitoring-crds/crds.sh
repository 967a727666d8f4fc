#!/usr/bin/env bash
# Prints the directory of prometheus-operator's own CustomResourceDefinitions (ServiceMonitor,
# PrometheusRule, ...) at the version pinned in go.mod, fetched with `go mod download` into the
# Go module cache and verified against go.sum. The chart tests install the ServiceMonitor and
# PrometheusRule CRDs from there, so the API server validates the chart's objects against the
# real schemas (not a copy kept here that could drift from upstream).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
dir="$(go mod download -json github.com/prometheus-operator/prometheus-operator \
  | awk -F'"' '$2 == "Dir" { print $4 }')"
test -d "$dir/example/prometheus-operator-crd"
echo "$dir/example/prometheus-operator-crd"
