# Board profiles (boards/*.json), on-device tests over mpremote, the memory planner and
# the emulated-board benchmark. See docs/boards.md.
#   make hwtest DEVICE=/dev/ttyACM0 [BOARD=rp2040] [K=pattern]   tests/device on a real board
#   make hwtest-unix                                             ... on the unix port behind a PTY
#   make hwtest-qemu                                             ... on the emulated Cortex-M0
#   make plan [MODEL=...] [BOARD=rp2040|all] [CTX=n]              will MODEL fit BOARD?
#   make mcu-bench                                               instructions per token on the emulated M0

APT_PACKAGES += socat qemu-system-arm
# the emulated board's firmware is built before the tests when its recipe is present
ifneq ($(wildcard mk/firmware.mk),)
TEST_DEPS += firmware-qemu
endif

BOARD ?= rp2040
DEVICE ?=
K ?=
CTX ?=

.PHONY: hwtest hwtest-unix hwtest-qemu plan mcu-bench

##@ Boards

hwtest: $(STAMP) $(STAMP_PATHS) ## the device tests on a real board: DEVICE=/dev/ttyACM0 [BOARD=] [K=]
	@test -n "$(DEVICE)" || { echo "usage: make hwtest DEVICE=/dev/ttyACM0 [BOARD=name] [K=pattern]"; exit 2; }
	$(PY) host_tools/harness/devtest.py --device $(DEVICE) $(if $(filter command line,$(origin BOARD)),--board $(BOARD)) $(if $(K),-k $(K))

hwtest-unix: $(STAMP) $(STAMP_PATHS) ## the device tests on the unix port behind a PTY
	$(PY) host_tools/harness/devtest.py --emulate unix --heap 512k $(if $(K),-k $(K))

hwtest-qemu: $(STAMP) $(STAMP_PATHS) firmware-qemu native-all ## the device tests on the emulated Cortex-M0
	$(PY) host_tools/harness/devtest.py --emulate qemu --board qemu-m0 $(if $(K),-k $(K))

plan: $(STAMP) $(STAMP_PATHS) ## will MODEL fit BOARD (rp2040 | all)? [CTX=n]
	$(PY) host_tools/plan.py $(MODEL) --board $(BOARD) $(if $(CTX),--ctx $(CTX))

mcu-bench: $(STAMP) $(STAMP_PATHS) firmware-qemu ## instructions per token, per MAC and per stage on the emulated M0 (in place, streamed, in RAM) -> docs/boards.md
	$(PY) host_tools/harness/mcu_bench.py --out docs/boards.md
