//go:build tools

// Package promtool pins the promtool command that unit-tests the chart's alert rules
// (`promtool test rules`). Nothing here is compiled into the product: the blank import keeps
// `go mod tidy` from dropping the command built by tools/build-go-tool.sh.
package promtool

import (
	_ "github.com/prometheus/prometheus/cmd/promtool"
)
