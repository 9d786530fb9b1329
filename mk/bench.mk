# llama.cpp beside nanollm (host_tools/nanollm_host/llamacpp.py, host_tools/harness/bench.py, tests/test_llamacpp.py).
#   make llamacpp   fetch the llama-cpp-python sdist into .cache/llamacpp and build its vendored
#                   llama.cpp (static libllama, -DGGML_NATIVE=OFF) + host_tools/harness/llama_run.c into
#                   build/llama.cpp/ ; skipped when up to date (a stamp holds the inputs)
#   make bench      the side-by-side benchmark -> docs/bench.md, docs/bench.png (long: not in make test)
#   make bench-quick  the default model only, one repeat
APT_PACKAGES += cmake g++ valgrind
TEST_DEPS += llamacpp
BENCH_ARGS ?=

.PHONY: llamacpp bench bench-quick

##@ Beside llama.cpp

llamacpp: $(STAMP) $(STAMP_PATHS) ## build llama.cpp and our driver (cached; a few minutes the first time)
	@$(PY) -m nanollm_host.llamacpp status >/dev/null 2>&1 || $(PY) -m nanollm_host.llamacpp build

bench: $(STAMP) $(STAMP_PATHS) data llamacpp native ## side-by-side benchmark -> docs/bench.md, docs/bench.png (long)
	$(PY) host_tools/harness/bench.py $(BENCH_ARGS)

bench-quick: $(STAMP) $(STAMP_PATHS) data llamacpp native ## the benchmark on the default model only, one repeat
	$(PY) host_tools/harness/bench.py --quick $(BENCH_ARGS)
