# hopper-operator: the two commands are `make dev` (run it) and `make test` (test it).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_BINARIES := kubelet kube-proxy kube-scheduler

.PHONY: dev test unit integration e2e node images lint controlplane chart-tools manifests release bench run kind-e2e docker-build krew clean

# The operator with its dev extra, and beside it the local cluster (tooling, never shipped).
$(STAMP): pyproject.toml localcluster/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]' -e ./localcluster
	touch $(STAMP)

## controlplane: build (once per machine) etcd, kube-apiserver, kube-controller-manager, kubectl
controlplane:
	tools/controlplane/build.sh >/dev/null

## chart-tools: build (once per machine) helm and promtool from their pinned Go modules
chart-tools:
	tools/helm/build.sh >/dev/null
	tools/promtool/build.sh >/dev/null

## dev: local control plane + CRD + samples + operator (webhooks registered) + REST API in the foreground; Ctrl-C stops all
dev: $(STAMP) controlplane
	$(BIN)/hopper-localcluster dev $(DEV_ARGS)

## run: the operator against the current kubeconfig
run: $(STAMP)
	$(BIN)/hopper-operator run

## test: lint, then every test (unit, integration on a real control plane, and, as root,
## e2e on a real node; not root, it says so and skips the e2e tier)
test: $(STAMP) controlplane chart-tools node lint
	$(BIN)/pytest

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP) controlplane chart-tools
	$(BIN)/pytest tests/integration

## e2e: as root, a real node (containerd, kubelet, kube-proxy, scheduler), the image built
## from the Dockerfile, the operator installed with `kubectl apply -k manifests/`, scenarios
e2e: $(STAMP) controlplane node
	@if [ "$$(id -u)" != 0 ]; then echo "make e2e: the node tier needs root (containerd, a kubelet, iptables); run it as root" >&2; exit 1; fi
	$(BIN)/pytest tests/e2e

## node: as root, what the node tier needs: Debian's packages, kubelet/kube-proxy/kube-scheduler, images
node:
	@if [ "$$(id -u)" = 0 ]; then \
		scripts/node-deps.sh && tools/controlplane/build.sh $(NODE_BINARIES) >/dev/null && $(MAKE) --no-print-directory images; \
	else \
		echo "node tier: not root, so not prepared; the e2e tests (a real kubelet) will be skipped. They run as root: make e2e"; \
	fi

## images: the operator image from the Dockerfile, the pause and workload images (cached per content)
images:
	scripts/images/build.sh >/dev/null

lint: $(STAMP)
	$(BIN)/ruff check operator localcluster tests scripts bench tools/krew
	$(BIN)/ruff format --check operator localcluster tests scripts bench tools/krew
	$(BIN)/mypy
	$(BIN)/mypy scripts/chart.py
	$(BIN)/mypy bench tools/krew
	$(BIN)/lint-imports

## manifests: the CRD from the pydantic models (into the chart's crds/), then manifests/ and docs/install.md's values table from the chart
manifests: $(STAMP) chart-tools
	$(BIN)/hopper-operator crd > charts/hopper-operator/crds/hopperinstances.hopper.dev.yaml
	$(BIN)/python -m scripts.chart manifests

## release: VERSION=x.y.z -> dist/hopper-operator-x.y.z.yaml (one file for kubectl apply) and dist/hopper-operator-x.y.z.tgz (the chart), image pinned to x.y.z
release: $(STAMP) chart-tools
	@test -n "$(VERSION)" || { echo "usage: make release VERSION=x.y.z" >&2; exit 2; }
	$(BIN)/python -m scripts.chart release $(VERSION)

bench: $(STAMP) controlplane
	$(BIN)/python bench/run.py $(BENCH_ARGS)
	$(BIN)/python bench/rest.py $(REST_BENCH_ARGS)
	$(BIN)/python bench/stream.py $(STREAM_BENCH_ARGS)

## kind-e2e: on a machine with Docker + kind: cluster, image, manifests, samples Ready (KIND_E2E_ARGS=--keep keeps it)
kind-e2e:
	scripts/kind-e2e.sh $(KIND_E2E_ARGS)

## krew: the `kubectl hopper` plugin as a krew archive and manifest in dist/ (KREW_URI=where it will be published)
krew: $(STAMP)
	$(BIN)/python tools/krew/build.py $(if $(KREW_URI),--uri $(KREW_URI))

docker-build:
	docker build -t ghcr.io/hopper-dev/hopper-operator:0.1.0 .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
