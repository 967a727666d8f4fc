#!/usr/bin/env bash
# Builds the kstatus helper (sigs.k8s.io/cli-utils' status.Compute over live objects; main.go
# here) into a cache outside the checkout (see ../build-go-tool.sh) and prints its path.
exec "$(dirname "${BASH_SOURCE[0]}")/../build-go-tool.sh" kstatus kstatus .
