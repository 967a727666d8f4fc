//go:build tools

// Package helm pins the helm command that hopper-operator's chart tests, `make manifests` and
// `make release` run. Nothing here is compiled into the product: the blank import keeps
// `go mod tidy` from dropping the command built by tools/build-go-tool.sh.
package helm

import (
	_ "helm.sh/helm/v3/cmd/helm"
)
