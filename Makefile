# kube-transcoder: every entry point a developer or CI needs.
# `make test` is exactly what .ci/run runs after installing what a fresh machine lacks.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
export PYTHONPATH := $(CURDIR)

.PHONY: help deps venv test test-unit test-functional test-e2e lint crds demo bench cluster-up cluster-down cluster-bin images images-base test-images manifests

help:
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

deps: ## install the Debian packages a fresh machine lacks (ffmpeg, redis, podman, ...)
	bash .ci/install-deps.sh

$(PY):
	python3 -m venv $(VENV)
	$(PIP) install -q -U pip

venv: $(PY) ## create .venv and install the package with all extras
	$(PIP) install -q -e '.[test]'

cluster-bin: ## build the control-plane, kubelet node, S3 server, Kueue and Helm binaries from pinned Go modules (cached; side by side)
	bash dev/cluster/build-all.sh

crds: venv ## regenerate every generated file: CRD, RBAC, alert rules, the chart's copies, manifests/, the README field reference
	$(PY) -m transcode_api.crdgen --out crds/
	$(PY) -m transcode_operator.app.rbac --out deploy/rbac
	$(PY) -m transcode_api.redisacl --out deploy/redis
	$(PY) -m transcode_api.admission --out deploy/admission
	$(PY) deploy/monitoring/hack/render.py
	$(PY) charts/kube-transcoder/hack/sync.py
	$(PY) manifests/hack/render.py
	$(PY) -m transcode_api.docgen --readme README.md

lint: venv ## ruff, mypy and the import-linter layering contract
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: deps venv ## all three tiers: unit, functional (real Redis/S3/FFmpeg), e2e (real control plane)
	bash dev/cluster/build-all.sh --images  # cluster-bin and the images, side by side
	$(PY) -m pytest tests -n 3 -v --durations=15

test-unit: venv
	$(PY) -m pytest tests/unit -q

test-functional: venv
	$(PY) -m pytest tests/functional -q

test-e2e: venv cluster-bin
	$(PY) -m pytest tests/e2e -v

cluster-up: venv cluster-bin ## start the local control plane + two real kubelet nodes (after `make images`); prints the kubeconfig
	$(PY) -m dev.cluster up

cluster-down: ## stop every process cluster-up started
	$(PY) -m dev.cluster down

demo: deps venv cluster-bin ## the main job end to end on the local control plane (KEEP=1 keeps it running)
	bash deploy/containers/build-images.sh  # the kubelet nodes run these images
	$(PY) -m dev.demo $(if $(KEEP),--keep,)

bench: venv cluster-bin ## side-by-side benchmarks; each prints its ratio
	$(PY) bench/run_all.py

manifests: venv ## render the kustomize base and overlays from the chart
	$(PY) manifests/hack/render.py

images: ## build the local debian:bookworm-slim base (cached) and both images with podman
	bash deploy/containers/build-images.sh

images-base: ## only the local Debian base (debootstrap, cached in ~/.cache/kube-transcoder)
	bash deploy/containers/make-base.sh

test-images: venv ## Dockerfile checks + the images run with real podman (builds them if needed)
	$(PY) -m pytest tests/unit/images tests/e2e/test_images_run.py tests/e2e/test_images_pod.py -v
