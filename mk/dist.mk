# Installing as MicroPython users do (issue 11): per-architecture folders to copy with
# mpremote, and the package.json files mip reads.
#   make dist            build/dist/ARCH: lib/nanollm as .mpy for ARCH, the native module where
#                        built, the default model, INSTALL.txt with the mpremote line
#   make package-json    rewrite package.json / package-code.json from lib/nanollm

.PHONY: dist package-json

##@ Install

dist: $(STAMP) $(STAMP_PATHS) native-all ## build/dist/ARCH per architecture: .mpy package, native module, model
	$(PY) host_tools/dist.py

package-json: $(STAMP) $(STAMP_PATHS) ## package.json and package-code.json (mip) from lib/nanollm
	$(PY) host_tools/gen/gen_package_json.py
