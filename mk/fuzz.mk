# Hardening: long fuzz runs (the test suite runs 10,000 CPython and 1,000 MicroPython cases).
#   make fuzz             100,000 GGUF mutants on CPython and 20,000 under MicroPython
#   make fuzz-atheris     coverage-guided fuzzing of the reader with atheris (FUZZ_SECONDS)
#   make errors-doc       regenerate docs/errors.md from the tests' case tables
FUZZ_CASES ?= 100000
FUZZ_MP_CASES ?= 20000
FUZZ_SEED ?= 1
FUZZ_SECONDS ?= 600

.PHONY: fuzz fuzz-atheris errors-doc

##@ Hardening

fuzz: $(STAMP) $(STAMP_PATHS) ## 100,000 GGUF mutants on CPython and 20,000 under MicroPython
	$(PY) host_tools/harness/fuzz.py gguf --cases $(FUZZ_CASES) --seed $(FUZZ_SEED)
	$(PY) host_tools/harness/fuzz.py gguf --cases $(FUZZ_MP_CASES) --seed $(FUZZ_SEED) --micropython

fuzz-atheris: $(STAMP) $(STAMP_PATHS) ## coverage-guided fuzzing of the reader with atheris (FUZZ_SECONDS)
	@$(PY) -c "import atheris" 2>/dev/null || $(PY) -m pip install -q atheris==2.3.0
	$(PY) host_tools/harness/fuzz.py atheris --seconds $(FUZZ_SECONDS)

errors-doc: $(STAMP) $(STAMP_PATHS) ## regenerate docs/errors.md from the tests' case tables
	$(PY) host_tools/gen/gen_error_table.py
