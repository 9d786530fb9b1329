# nanollm_native: the integer kernels as a MicroPython dynamic native module (.mpy), built
# with MicroPython's own natmod pipeline (py/dynruntime.mk + tools/mpy_ld.py) from the
# MicroPython 1.25 source `make firmware-sources` fetches. See firmware/README.md.
#   make native                  build/natmod/nanollm_native_x64.mpy
#   make native ARCH=armv6m      ... _armv6m.mpy    RP2040 (Cortex-M0+)
#   make native ARCH=armv7m      ... _armv7m.mpy    Cortex-M3
#   make native ARCH=armv7emsp   ... _armv7emsp.mpy RP2350, Cortex-M4F/M33 (DSP extension)
#   make native ARCH=rv32imc     ... _rv32imc.mpy   ESP32-C3/C6 (RISC-V)
#   make native-all              all of them

NATIVE_ARCHS := x64 armv6m armv7m armv7emsp rv32imc
NATIVE_ARCH ?= $(or $(ARCH),x64)
NATIVE_DIR := build/natmod
NATIVE_MPY := $(NATIVE_DIR)/nanollm_native_$(NATIVE_ARCH).mpy
NATIVE_PY ?= $(if $(wildcard $(PY)),$(abspath $(PY)),python3)
# the fetched MicroPython source (its recipe is in mk/firmware.mk)
NATIVE_MPY_SRC := .cache/micropython-1.25/micropython
NATIVE_SRCS := $(wildcard firmware/nanollm_native/*.c firmware/nanollm_native/Makefile) \
	firmware/nanollm_kernels.c firmware/nanollm_kernels.h firmware/nanollm_simd.c firmware/nanollm_sample.c \
	firmware/nanollm_blocks.h firmware/make_tables_h.py lib/nanollm/tables.py

ifeq ($(filter $(NATIVE_ARCH),$(NATIVE_ARCHS)),)
$(error ARCH must be one of: $(NATIVE_ARCHS))
endif

.PHONY: native native-all native-clean

##@ Native kernels (C)

native: $(NATIVE_MPY) ## the native module as a .mpy: ARCH=x64 (default), armv6m, armv7m, armv7emsp, rv32imc

native-all: $(foreach a,$(NATIVE_ARCHS),$(NATIVE_DIR)/nanollm_native_$(a).mpy) ## the native module for every architecture

# py/dynruntime.mk works in the module's folder; objects go to build/natmod/ARCH/
$(NATIVE_DIR)/nanollm_native_%.mpy: $(NATIVE_SRCS) | $(NATIVE_MPY_SRC)/py/mpconfig.h $(STAMP)
	@echo "building nanollm_native for $* (py/dynruntime.mk, tools/mpy_ld.py)"
	$(MAKE) -s -C firmware/nanollm_native ARCH=$* MPY_DIR=$(abspath $(NATIVE_MPY_SRC)) \
		BUILD=$(abspath $(NATIVE_DIR)/$*/obj) PYTHON=$(NATIVE_PY) \
		$(abspath $(NATIVE_DIR)/$*/obj/nanollm_native.native.mpy) >/dev/null
	cp $(NATIVE_DIR)/$*/obj/nanollm_native.native.mpy $@.tmp && mv $@.tmp $@

native-clean: ## remove build/natmod
	rm -rf $(NATIVE_DIR)

# The native module for every board architecture is built before the test suite: each
# .mpy is loaded and run on its architecture (x64 here, the others on emulated boards).
APT_PACKAGES += binutils gcc-arm-none-eabi libnewlib-arm-none-eabi \
	gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf
TEST_DEPS += native-all
