# The browser playground: nanollm on MicroPython's WebAssembly port (npm, pinned in
# web/package-lock.json), as a static site in build/web/.
#   make playground   build the site (npm ci on first use)
#   make serve        serve it on http://127.0.0.1:$(WEB_PORT)/
# The page's test (tests/test_web.py) drives Debian's chromium with playwright-core.
APT_PACKAGES += chromium
TEST_DEPS += playground

WEB_OUT := build/web
WEB_PORT ?= 8000
WEB_NPM_STAMP := web/node_modules/.installed
# The default model; until it exists, a q8_0 conversion of the trained test fixture.
WEB_FIXTURE_MODEL := build/web-fixture/gpt2_trained.q8_0.gguf
WEB_MODEL ?= $(if $(wildcard $(MODEL)),$(MODEL),$(WEB_FIXTURE_MODEL))
WEB_SOURCES := $(wildcard web/*.html web/*.js web/*.css web/*.py lib/nanollm/*.py boards/*.json)

.PHONY: playground serve

$(WEB_NPM_STAMP): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(WEB_FIXTURE_MODEL): $(STAMP) $(STAMP_PATHS) host_tools/convert.py
	@mkdir -p $(dir $@)
	$(PY) host_tools/convert.py tests/fixtures/gpt2_trained $@ --outtype q8_0

$(WEB_OUT)/manifest.json: $(WEB_NPM_STAMP) $(STAMP_PATHS) $(WEB_SOURCES) $(WEB_MODEL) web/build.py
	$(PY) web/build.py $(WEB_OUT) --model $(WEB_MODEL)

##@ Browser playground

playground: $(STAMP) $(STAMP_PATHS) $(WEB_OUT)/manifest.json ## build the static site into build/web (npm ci on first use)

serve: playground ## serve the playground on http://127.0.0.1:8000/ (WEB_PORT=)
	@echo "nanollm playground on http://127.0.0.1:$(WEB_PORT)/ (Ctrl-C stops)"
	cd $(WEB_OUT) && ../../$(PY) -m http.server --bind 127.0.0.1 $(WEB_PORT)
