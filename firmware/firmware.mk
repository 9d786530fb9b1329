# nanollm_native: the q8 integer kernels as a MicroPython dynamic native module.
# Included by the top Makefile. `make native` builds build/natmod/nanollm_native_x64.mpy
# with the host gcc and binutils only (see firmware/README.md).

NATIVE_ARCH ?= x64
NATIVE_DIR := build/natmod
NATIVE_GEN := $(NATIVE_DIR)/gen
NATIVE_OBJDIR := $(NATIVE_DIR)/$(NATIVE_ARCH)
NATIVE_MPY := $(NATIVE_DIR)/nanollm_native_$(NATIVE_ARCH).mpy
NATIVE_PY ?= $(if $(wildcard $(PY)),$(PY),python3)
NATIVE_CC ?= gcc
NATIVE_CFLAGS := -std=c99 -O2 -Wall -Wextra -Werror -fPIE -fvisibility=hidden -ffreestanding \
	-fno-stack-protector -fno-asynchronous-unwind-tables -fno-tree-loop-distribute-patterns \
	-fno-jump-tables -mno-red-zone -fno-common -ffunction-sections -I firmware -I $(NATIVE_GEN)
NATIVE_HDRS := $(NATIVE_GEN)/nanollm_tables.h $(NATIVE_GEN)/nanollm_native_qstrs.h \
	firmware/nanollm_kernels.h
NATIVE_OBJS := $(NATIVE_OBJDIR)/nanollm_native.o $(NATIVE_OBJDIR)/nanollm_kernels.o

.PHONY: native native-clean

native: $(NATIVE_MPY)

$(NATIVE_GEN)/nanollm_tables.h $(NATIVE_GEN)/nanollm_native_qstrs.h &: firmware/natmod/mpy_link.py lib/nanollm/tables.py
	$(NATIVE_PY) firmware/natmod/mpy_link.py gen $(NATIVE_GEN)

$(NATIVE_OBJDIR)/%.o: firmware/%.c $(NATIVE_HDRS)
	@mkdir -p $(NATIVE_OBJDIR)
	$(NATIVE_CC) $(NATIVE_CFLAGS) -c -o $@ $<

$(NATIVE_OBJDIR)/%.o: firmware/natmod/%.c $(NATIVE_HDRS)
	@mkdir -p $(NATIVE_OBJDIR)
	$(NATIVE_CC) $(NATIVE_CFLAGS) -c -o $@ $<

$(NATIVE_MPY): $(NATIVE_OBJS) firmware/natmod/x64.ld firmware/natmod/mpy_link.py
	ld -static -nostdlib --no-warn-rwx-segments -T firmware/natmod/x64.ld -o $(NATIVE_OBJDIR)/nanollm_native.elf $(NATIVE_OBJS)
	$(NATIVE_PY) firmware/natmod/mpy_link.py link $(NATIVE_OBJDIR)/nanollm_native.elf $@ $(NATIVE_OBJS)

native-clean:
	rm -rf $(NATIVE_DIR)
