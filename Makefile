# hopper-operator: the two commands are `make dev` (run it) and `make test` (test it).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev test unit integration lint controlplane manifests bench run kind-e2e docker-build clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## controlplane: build (once per machine) etcd, kube-apiserver, kube-controller-manager, kubectl
controlplane:
	tools/controlplane/build.sh >/dev/null

## dev: local control plane + CRD + samples + operator in the foreground; Ctrl-C stops all
dev: $(STAMP) controlplane
	$(BIN)/hopper-operator dev

## run: the operator against the current kubeconfig
run: $(STAMP)
	$(BIN)/hopper-operator run

## test: lint, then every test (unit and integration on a real control plane)
test: $(STAMP) controlplane lint
	$(BIN)/pytest

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP) controlplane
	$(BIN)/pytest tests/integration

lint: $(STAMP)
	$(BIN)/ruff check operator tests
	$(BIN)/ruff format --check operator tests
	$(BIN)/mypy
	$(BIN)/lint-imports

## manifests: regenerate the CRD from the pydantic models
manifests: $(STAMP)
	$(BIN)/hopper-operator crd > crds/hopperinstances.hopper.dev.yaml

bench: $(STAMP) controlplane
	$(BIN)/python bench/run.py $(BENCH_ARGS)

## kind-e2e: on a machine with Docker + kind: cluster, image, manifests, samples Ready (KIND_E2E_ARGS=--keep keeps it)
kind-e2e:
	scripts/kind-e2e.sh $(KIND_E2E_ARGS)

docker-build:
	docker build -t ghcr.io/hopper-dev/hopper-operator:0.1.0 .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
