# nanollm's emulated RISC-V board (the ESP32-C3/C6's rv32imc .mpy architecture):
# MicroPython's qemu port, board VIRT_RV32 (qemu machine virt, 32-bit). Built by
# `make firmware-qemu-rv32` (mk/firmware_emulated.mk):
#   make -C ports/qemu BOARD=VIRT_RV32 BOARD_DIR=<repo>/firmware/ports/qemu/NANOLLM_VIRT_RV32
# As stock as it gets: the port's own configuration (viper and native code for RV32, so
# rv32imc .mpy native modules load), no nanollm_native built in, nothing of nanollm
# frozen. Added: a LittleFS filesystem in RAM the firmware does not use (0x81000000,
# 2 MB, an ESP32-C3's filesystem partition), mounted at / at every boot (../ramfs), and a
# heap of NANOLLM_QEMU_HEAP bytes (default 256 KB).
include $(TOP)/ports/qemu/boards/VIRT_RV32/mpconfigboard.mk

NANOLLM_QEMU_HEAP ?= 262144
MICROPY_HEAP_SIZE := $(NANOLLM_QEMU_HEAP)
MICROPY_VFS_LFS2 := 1
FROZEN_MANIFEST := $(BOARD_DIR)/../ramfs/manifest.py
CFLAGS += -DNANOLLM_FS_BASE=0x81000000 -DNANOLLM_FS_SIZE=0x200000
CFLAGS += -include $(BOARD_DIR)/../ramfs/nanollm_ramfs.h
SRC_C += $(BOARD_DIR)/../ramfs/nanollm_ramfs.c

# Debian 12's riscv64-unknown-elf GCC 12 has rv32imac/ilp32 libraries (libgcc, picolibc),
# but picks them only for -march=rv32imac exactly: with the port's rv32imac_zicsr it links
# the 64-bit ones and fails. ISA spec 2.2 has Zicsr inside "i", as the port's startup needs.
RV32_ARCH := rv32imac
AFLAGS += -misa-spec=2.2
CFLAGS += -misa-spec=2.2
LDFLAGS += -misa-spec=2.2
