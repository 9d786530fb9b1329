# nanollm's emulated Cortex-M0 board: MicroPython's qemu port, MICROBIT machine (nRF51,
# armv6m), with the emulated flash enlarged to 2 MB (+ the ROMFS partition) and SRAM to 256 KB on the qemu
# command line. Built by `make firmware-qemu` (mk/firmware.mk):
#   make -C ports/qemu BOARD=MICROBIT BOARD_DIR=<repo>/firmware/ports/qemu/NANOLLM_MICROBIT \
#        USER_C_MODULES=<repo>/firmware
# Differences from the stock MICROBIT board:
#   - viper and native code for armv6m (MICROPY_EMIT_THUMB, no ARMv7-M instructions), so
#     @micropython.viper works and armv6m .mpy native modules load;
#   - a LittleFS filesystem in the emulated flash after the firmware image (4 KB blocks,
#     about 1.7 MB; a Pico's is 1.4 MB), mounted at / at every boot as the rp2 port mounts
#     its own (formatted when it does not mount: qemu starts with blank flash);
#   - a larger heap (NANOLLM_QEMU_HEAP bytes), since the filesystem is not in RAM;
#   - a ROMFS partition of NANOLLM_ROMFS_BYTES after the first 2 MB of flash (the qemu
#     command line gives flash-size = 2 MB + that), mounted at /rom when it holds an image.
include $(TOP)/ports/qemu/boards/MICROBIT/mpconfigboard.mk

NANOLLM_QEMU_HEAP ?= 196608
MICROPY_HEAP_SIZE := $(NANOLLM_QEMU_HEAP)
MICROPY_VFS_LFS2 := 1
FROZEN_MANIFEST := $(BOARD_DIR)/manifest.py

CFLAGS += -DMICROPY_EMIT_THUMB=1 -DMICROPY_EMIT_THUMB_ARMV7M=0 -DMICROPY_EMIT_INLINE_THUMB=1
CFLAGS += -DNANOLLM_FLASH_SIZE=2097152
NANOLLM_ROMFS_BYTES ?= 1048576
CFLAGS += -DNANOLLM_ROMFS_BYTES=$(NANOLLM_ROMFS_BYTES)
CFLAGS += -include $(BOARD_DIR)/nanollm_board.h

SRC_C += $(BOARD_DIR)/nanollm_board.c
LDSCRIPT = $(BOARD_DIR)/nanollm_nrf51.ld
