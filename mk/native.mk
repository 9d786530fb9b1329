# nanollm_native: the integer kernels as a MicroPython dynamic native module.
# See firmware/README.md.
#   make native                  build/natmod/nanollm_native_x64.mpy (host gcc + binutils)
#   make native ARCH=armv6m      ... _armv6m.mpy    (Cortex-M0/M0+, needs gcc-arm-none-eabi)
#   make native ARCH=armv7emsp   ... _armv7emsp.mpy (Cortex-M4F/M7 single precision)
#   make native-all              every architecture whose compiler is installed

NATIVE_ARCH ?= $(or $(ARCH),x64)
NATIVE_DIR := build/natmod
NATIVE_GEN := $(NATIVE_DIR)/gen
NATIVE_OBJDIR := $(NATIVE_DIR)/$(NATIVE_ARCH)
NATIVE_MPY := $(NATIVE_DIR)/nanollm_native_$(NATIVE_ARCH).mpy
NATIVE_PY ?= $(if $(wildcard $(PY)),$(PY),python3)

ifeq ($(NATIVE_ARCH),x64)
NATIVE_CROSS :=
NATIVE_ARCHFLAGS := -mno-red-zone
else ifeq ($(NATIVE_ARCH),armv6m)
NATIVE_CROSS := arm-none-eabi-
NATIVE_ARCHFLAGS := -mthumb -mcpu=cortex-m0
else ifeq ($(NATIVE_ARCH),armv7emsp)
NATIVE_CROSS := arm-none-eabi-
NATIVE_ARCHFLAGS := -mthumb -mcpu=cortex-m4 -mfpu=fpv4-sp-d16 -mfloat-abi=hard
else
$(error ARCH must be x64, armv6m or armv7emsp)
endif

NATIVE_CC := $(NATIVE_CROSS)gcc
NATIVE_LD := $(NATIVE_CROSS)ld
NATIVE_CFLAGS := -std=c99 -O2 -Wall -Wextra -Werror $(NATIVE_ARCHFLAGS) -fPIE -fvisibility=hidden \
	-ffreestanding -fno-stack-protector -fno-asynchronous-unwind-tables -fno-unwind-tables \
	-fno-tree-loop-distribute-patterns -fno-jump-tables -fno-common -ffunction-sections \
	-I firmware -I $(NATIVE_GEN)
# integer division helpers (Cortex-M0 has no divide instruction); unused on x64
NATIVE_LIBGCC = $(if $(NATIVE_CROSS),$(shell $(NATIVE_CC) $(NATIVE_ARCHFLAGS) -print-libgcc-file-name))
NATIVE_GENHDRS := $(NATIVE_GEN)/nanollm_tables.h $(NATIVE_GEN)/nanollm_native_qstrs.h
NATIVE_OBJS := $(NATIVE_OBJDIR)/nanollm_native.o $(NATIVE_OBJDIR)/nanollm_kernels.o

.PHONY: native native-all native-clean

##@ Native kernels (C)

native: $(NATIVE_MPY) ## the native module as a .mpy: ARCH=x64 (default), armv6m or armv7emsp

native-all: ## the native module for every architecture whose compiler is installed
	$(MAKE) native ARCH=x64
	@if command -v arm-none-eabi-gcc >/dev/null; then \
		$(MAKE) native ARCH=armv6m && $(MAKE) native ARCH=armv7emsp; \
	else echo "gcc-arm-none-eabi not installed: ARM modules skipped"; fi

$(NATIVE_GENHDRS) &: firmware/natmod/mpy_link.py lib/nanollm/tables.py
	$(NATIVE_PY) firmware/natmod/mpy_link.py gen $(NATIVE_GEN)

$(NATIVE_OBJDIR)/%.o: firmware/%.c firmware/nanollm_kernels.h $(NATIVE_GENHDRS)
	@mkdir -p $(NATIVE_OBJDIR)
	$(NATIVE_CC) $(NATIVE_CFLAGS) -c -o $@ $<

$(NATIVE_OBJDIR)/%.o: firmware/natmod/%.c firmware/nanollm_kernels.h $(NATIVE_GENHDRS)
	@mkdir -p $(NATIVE_OBJDIR)
	$(NATIVE_CC) $(NATIVE_CFLAGS) -c -o $@ $<

$(NATIVE_MPY): $(NATIVE_OBJS) firmware/natmod/blob.ld firmware/natmod/mpy_link.py
	$(NATIVE_LD) -static -nostdlib --no-warn-rwx-segments --emit-relocs -T firmware/natmod/blob.ld \
		-o $(NATIVE_OBJDIR)/nanollm_native.elf $(NATIVE_OBJS) $(NATIVE_LIBGCC)
	$(NATIVE_PY) firmware/natmod/mpy_link.py link $(NATIVE_ARCH) $(NATIVE_OBJDIR)/nanollm_native.elf $@ \
		$(NATIVE_CROSS)

native-clean: ## remove build/natmod
	rm -rf $(NATIVE_DIR)

# The x64 build is part of the test suite; the ARM builds are checked to build and link
# when the cross compiler is present (it is installed here).
APT_PACKAGES += binutils gcc-arm-none-eabi libnewlib-arm-none-eabi
TEST_DEPS += native native-arm-if-present

.PHONY: native-arm-if-present
native-arm-if-present:
	@if command -v arm-none-eabi-gcc >/dev/null; then \
		$(MAKE) -s native ARCH=armv6m && $(MAKE) -s native ARCH=armv7emsp; fi
