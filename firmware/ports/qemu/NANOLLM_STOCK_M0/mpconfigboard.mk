# A stand-in for a board running stock MicroPython firmware: the emulated Cortex-M0 of
# NANOLLM_MICROBIT (its flash filesystem, viper for armv6m) but nothing of nanollm in the
# firmware (no frozen runtime, no nanollm_native built in) and the heap of a board
# profile, so the runtime is installed and runs as a user's copy would (make hwtest-stock).
#   make -C ports/qemu BOARD=MICROBIT BOARD_DIR=<repo>/firmware/ports/qemu/NANOLLM_STOCK_M0 \
#        NANOLLM_QEMU_HEAP=<bytes>
NANOLLM_BASE := $(BOARD_DIR)/../NANOLLM_MICROBIT
include $(TOP)/ports/qemu/boards/MICROBIT/mpconfigboard.mk

NANOLLM_QEMU_HEAP ?= 196608
MICROPY_HEAP_SIZE := $(NANOLLM_QEMU_HEAP)
MICROPY_VFS_LFS2 := 1
FROZEN_MANIFEST := $(BOARD_DIR)/manifest.py

CFLAGS += -DMICROPY_EMIT_THUMB=1 -DMICROPY_EMIT_THUMB_ARMV7M=0 -DMICROPY_EMIT_INLINE_THUMB=1
CFLAGS += -DNANOLLM_FLASH_SIZE=2097152
CFLAGS += -include $(NANOLLM_BASE)/nanollm_board.h

SRC_C += $(NANOLLM_BASE)/nanollm_board.c
LDSCRIPT = $(NANOLLM_BASE)/nanollm_nrf51.ld
