# llama.cpp beside nanollm (host_tools/llamacpp.py, host_tools/bench.py, tests/test_llamacpp.py).
#   make llamacpp   fetch the llama-cpp-python sdist into .cache/llamacpp and build its vendored
#                   llama.cpp (static libllama, -DGGML_NATIVE=OFF) + host_tools/llama_run.c into
#                   build/llama.cpp/ ; skipped when up to date (a stamp holds the inputs)
#   make bench      the side-by-side benchmark -> docs/bench.md, docs/bench.png (long: not in make test)
#   make bench-quick  the default model only, one repeat
APT_PACKAGES += cmake g++ valgrind
TEST_DEPS += llamacpp
BENCH_ARGS ?=

.PHONY: llamacpp bench bench-quick

llamacpp: $(STAMP)
	@$(PY) host_tools/llamacpp.py status >/dev/null 2>&1 || $(PY) host_tools/llamacpp.py build

bench: $(STAMP) data llamacpp native
	$(PY) host_tools/bench.py $(BENCH_ARGS)

bench-quick: $(STAMP) data llamacpp native
	$(PY) host_tools/bench.py --quick $(BENCH_ARGS)
