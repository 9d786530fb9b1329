# The browser playground: nanollm on MicroPython's WebAssembly port, as a static site in
# build/web/. Two builds of the port go in: MicroPython 1.25 built here with Debian's
# Emscripten and nanollm_native (the C kernels) built in, and, as the fallback, npm's
# @micropython/micropython-webassembly-pyscript (pinned in web/package-lock.json) with the
# plain Python kernels.
#   make playground   build the site (the wasm port once, npm ci on first use)
#   make wasm         only the port with the kernels: build/wasm/micropython.mjs + .wasm
#   make serve        serve it on http://127.0.0.1:$(WEB_PORT)/
#   make bench-playground   tokens/s in the page beside the unix port (a table; not in make test)
# The page's test (tests/test_web.py) drives Debian's chromium with playwright-core;
# tests/test_wasm.py runs the kernel tests on the wasm build under node.
APT_PACKAGES += chromium emscripten
TEST_DEPS += playground

WASM_OUT := build/wasm
WASM_PORT := $(WASM_OUT)/port
WASM_MJS := $(WASM_OUT)/micropython.mjs
WASM_SRCS := firmware/wasm/prepare_port.py $(wildcard firmware/wasm/variant/*)
# Debian's emscripten runs its JS optimizer with the system node, whose module path lacks
# Debian's node-acorn (a dependency of the package, installed under /usr/share/nodejs)
WASM_ENV := NODE_PATH=/usr/share/nodejs

WEB_OUT := build/web
WEB_PORT ?= 8000
WEB_NPM_STAMP := web/node_modules/.installed
# The default model; until it exists, a q8_0 conversion of the trained test fixture.
WEB_FIXTURE_MODEL := build/web-fixture/gpt2_trained.q8_0.gguf
WEB_MODEL ?= $(if $(wildcard $(MODEL)),$(MODEL),$(WEB_FIXTURE_MODEL))
WEB_SOURCES := $(wildcard web/*.html web/*.js web/*.css web/*.py lib/nanollm/*.py lib/nanollm/*.bin boards/*.json)

.PHONY: playground serve wasm screenshot bench-playground

##@ Browser playground

screenshot: playground ## run the browser test and save its screenshot as docs/playground.png
	NANOLLM_SCREENSHOT=$(abspath docs/playground.png) $(PY) -m pytest -q tests/test_web.py

bench-playground: playground firmware-unix data ## tokens/s of the page (Chromium) beside the unix port's viper and native
	$(PY) host_tools/harness/bench_playground.py

wasm: $(WASM_MJS) ## MicroPython's webassembly port with the C kernels built in -> build/wasm

$(WASM_MJS): $(FW_SRC_STAMP) $(FW_MPY_CROSS) $(FW_MODULE_SRCS) $(WASM_SRCS) mk/web.mk \
		$(FW_OUT)/no-micropython-lib/README.md
	@command -v emcc >/dev/null || { echo "emcc is missing: make sysdeps (Debian's emscripten)"; exit 1; }
	@echo "building MicroPython's webassembly port with nanollm_native (Emscripten $$(emcc -dumpversion))"
	$(FW_PY) firmware/wasm/prepare_port.py $(FW_MPY) $(WASM_PORT)
	$(FW_ENV) $(WASM_ENV) $(MAKE) -s -j$(FW_JOBS) -C $(WASM_PORT)/ports/webassembly \
		VARIANT_DIR=$(abspath firmware/wasm/variant) BUILD=$(abspath $(WASM_OUT)/obj) \
		USER_C_MODULES=$(abspath firmware) MPY_LIB_DIR=$(abspath $(FW_OUT)/no-micropython-lib) \
		PYTHON=$(abspath $(FW_PY))
	cp $(WASM_OUT)/obj/micropython.wasm $(WASM_OUT)/micropython.wasm.tmp
	mv $(WASM_OUT)/micropython.wasm.tmp $(WASM_OUT)/micropython.wasm
	cp $(WASM_OUT)/obj/micropython.mjs $@.tmp && mv $@.tmp $@

$(WEB_NPM_STAMP): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(WEB_FIXTURE_MODEL): $(STAMP) $(STAMP_PATHS) host_tools/convert.py
	@mkdir -p $(dir $@)
	$(PY) host_tools/convert.py tests/fixtures/gpt2_trained $@ --outtype q8_0

$(WEB_OUT)/manifest.json: $(WEB_NPM_STAMP) $(STAMP_PATHS) $(WEB_SOURCES) $(WEB_MODEL) web/build.py $(WASM_MJS)
	$(PY) web/build.py $(WEB_OUT) --model $(WEB_MODEL) --kernels-port $(WASM_OUT)

playground: $(STAMP) $(STAMP_PATHS) $(WEB_OUT)/manifest.json ## build the static site into build/web (make wasm and npm ci on first use)

serve: playground ## serve the playground on http://127.0.0.1:8000/ (WEB_PORT=)
	@echo "nanollm playground on http://127.0.0.1:$(WEB_PORT)/ (Ctrl-C stops)"
	cd $(WEB_OUT) && ../../$(PY) -m http.server --bind 127.0.0.1 $(WEB_PORT)
