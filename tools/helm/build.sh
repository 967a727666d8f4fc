#!/usr/bin/env bash
# Builds helm at the version pinned in go.mod (cached; see ../build-go-tool.sh) and prints its path.
set -euo pipefail
tools="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="$("$tools/build-go-tool.sh" --module-version helm helm.sh/helm/v3)"
# The Kubernetes version helm assumes (`helm template`'s .Capabilities, lint's deprecation
# checks) is the one of the client-go it links, as helm's own Makefile sets it.
client_go="$("$tools/build-go-tool.sh" --module-version helm k8s.io/client-go)"
k8s_minor="$(echo "$client_go" | cut -d. -f2)"
exec "$tools/build-go-tool.sh" helm helm helm.sh/helm/v3/cmd/helm \
  "-X helm.sh/helm/v3/internal/version.version=$version" \
  "-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1" \
  "-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$k8s_minor" \
  "-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1" \
  "-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$k8s_minor"
