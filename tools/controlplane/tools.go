//go:build tools

// Package controlplane pins the Kubernetes control plane that hopper-operator's
// tests and `hopper-operator dev` run. Nothing here is compiled into the product:
// the blank imports keep `go mod tidy` from dropping the commands built by build.sh.
package controlplane

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
