module github.com/hopper-dev/hopper-operator/tools/monitoring-crds

go 1.26.0

// Not compiled: the module's example/prometheus-operator-crd/ holds the upstream
// ServiceMonitor and PrometheusRule CRDs the chart tests install (see crds.sh).
require github.com/prometheus-operator/prometheus-operator v0.85.0
