# nanollm: two commands on a fresh clone
#   make demo   set up, then generate text with the real MicroPython interpreter
#   make test   the whole test suite (pytest; CPython and the unix micropython)
# Everything installs into .venv (pinned in requirements.txt); data is fetched into .cache.
# Each area has its own fragment in mk/; `make help` lists every target, by area.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
MICROPYTHON := $(VENV)/bin/micropython
STAMP := $(VENV)/.installed
STAMP_DEV := $(VENV)/.installed-dev
# the one bootstrap of the host code's imports (see the rule below)
STAMP_PATHS := $(VENV)/.paths
PROMPT ?= Once upon a time
MODEL ?= lib/nanollm/model.gguf
PYTEST_ARGS ?=

# Areas add to these from their own makefile fragments (mk/*.mk):
#   APT_PACKAGES  Debian packages their builds and tests need (installed by `make sysdeps`)
#   TEST_DEPS     targets to build before the test suite runs (cached builds)
APT_PACKAGES := make gcc
TEST_DEPS :=

# The fragments come before any rule: make expands a rule's prerequisites when it reads
# the rule, so TEST_DEPS must be complete by then.
.DEFAULT_GOAL := help
-include $(sort $(wildcard mk/*.mk))

.PHONY: setup sysdeps demo test test-fast clean help

##@ Getting started

help: ## this list: every target, by area
	@echo "usage: make TARGET [VAR=value ...]"
	@awk 'BEGIN { FS = ":[^#]*## " } \
		/^##@ / { printf "\n%s\n", substr($$0, 5); next } \
		/^[a-zA-Z0-9_.-]+:[^=]*## / { printf "  make %-20s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

# The host tools need Python 3.11 or newer (numpy 2.4.6 requires it): said before the venv
# is made, not after pip has failed to find a numpy for an older Python.
$(STAMP): requirements.txt
	@if [ ! -x $(PY) ]; then \
		if ! $(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then \
			echo "error: the host tools need Python 3.11 or newer (numpy 2.4.6 does); $(PYTHON) is" \
				"$$(v=$$($(PYTHON) --version 2>&1) && echo "$$v" || echo "not found"). Name another: make $(or $(MAKECMDGOALS),setup) PYTHON=python3.12" >&2; \
			exit 1; \
		fi; \
		$(PYTHON) -m venv $(VENV); \
	fi
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	@touch $@

$(STAMP_DEV): $(STAMP) requirements-dev.txt
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@touch $@

# The host tools import their shared package (host_tools/nanollm_host) and the runtime
# (lib/nanollm) by name. A .pth file in the venv's site-packages puts host_tools/ and lib/
# on the path, relative to the venv, so no script inserts paths of its own.
$(STAMP_PATHS): $(STAMP)
	$(PY) -c "import os, sysconfig; sp = sysconfig.get_paths()['purelib']; \
	open(os.path.join(sp, 'nanollm-paths.pth'), 'w').write(''.join(os.path.relpath(os.path.abspath(d), sp) + '\n' for d in ('host_tools', 'lib')))"
	@touch $@

setup: $(STAMP) $(STAMP_PATHS) ## install the pinned host tools and MicroPython into .venv

# The prompt and the model path reach the command through the environment, never through
# the shell's quoting: any text is a prompt ($(value) keeps make from expanding a $ in it).
demo: export NANOLLM_DEMO_PROMPT = $(value PROMPT)
demo: export NANOLLM_DEMO_MODEL = $(value MODEL)
demo: $(STAMP) $(STAMP_PATHS) ## generate text with MicroPython from the default model (PROMPT=..., MODEL=...)
	@$(PY) host_tools/generate.py "$$NANOLLM_DEMO_MODEL" "$$NANOLLM_DEMO_PROMPT" -n 80 --seed 42

# sysdeps first: the builds in TEST_DEPS need the Debian packages (compilers, qemu, chromium)
test: sysdeps $(STAMP) $(STAMP_DEV) $(STAMP_PATHS) data $(TEST_DEPS) ## run every test (installs Debian packages: needs root, see sysdeps)
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-fast: sysdeps $(STAMP) $(STAMP_DEV) $(STAMP_PATHS) data ## the tests not marked slow, without the cached builds
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

clean: ## remove build/ (cached builds) and pytest's cache
	rm -rf .pytest_cache build

# Install missing Debian packages (as root; CI runs as root; as another user it stops and
# says what to install). npm is checked by .ci/run as a command: the machine image may
# carry a Node.js of its own.
sysdeps: ## install the Debian packages the builds and tests need (needs root: apt-get)
	@missing=$$(for p in $(sort $(APT_PACKAGES)); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ] && [ "$$(id -u)" != 0 ]; then \
		echo "error: these Debian packages are missing:" $$missing >&2; \
		echo "installing them needs root: run \`sudo make sysdeps\` (or sudo apt-get install" $$missing")," \
			"then make $(or $(MAKECMDGOALS),sysdeps) again" >&2; \
		exit 1; \
	fi; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
