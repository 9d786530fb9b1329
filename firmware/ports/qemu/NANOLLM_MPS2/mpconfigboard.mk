# nanollm's emulated Cortex-M3 and Cortex-M4 boards: MicroPython's qemu port, board
# MPS2_AN385 (qemu machine mps2-an385, Cortex-M3), or the same firmware compiled for the
# Cortex-M4 with its single-precision FPU (NANOLLM_CPU=cortex-m4), run on qemu's mps2-an386
# (the AN385 memory map with a Cortex-M4). Built by `make firmware-qemu-m3|m4` (mk/firmware_emulated.mk):
#   make -C ports/qemu BOARD=MPS2_AN385 BOARD_DIR=<repo>/firmware/ports/qemu/NANOLLM_MPS2 [NANOLLM_CPU=cortex-m4]
# As stock as it gets: the port's own configuration (viper and native code for the CPU,
# so armv7m / armv7emsp .mpy native modules load), no nanollm_native built in, nothing of
# nanollm frozen. Added: a LittleFS filesystem in the machine's 16 MB PSRAM (0x21000000),
# which the firmware does not use, mounted at / at every boot (../ramfs), and a heap of
# NANOLLM_QEMU_HEAP bytes (default 460 KB, an RP2350's free heap after boot).
NANOLLM_CPU ?= cortex-m3

ifeq ($(NANOLLM_CPU),cortex-m4)
QEMU_MACHINE = mps2-an386
CFLAGS += -mthumb -mcpu=cortex-m4 -mfpu=fpv4-sp-d16 -mfloat-abi=hard
CFLAGS += -DMICROPY_HW_MCU_NAME='"Cortex-M4"'
MPY_CROSS_FLAGS += -march=armv7emsp
# the RP2350's port (rp2) mounts its LittleFS with progsize=256 (ports/rp2/modules/_boot.py)
CFLAGS += -DNANOLLM_FS_PROGSIZE=256
# the FPU is off at reset: our vector table's reset handler turns it on first
SRC_C += $(BOARD_DIR)/fpu_reset.c
else ifeq ($(NANOLLM_CPU),cortex-m3)
QEMU_MACHINE = mps2-an385
CFLAGS += -mthumb -mcpu=cortex-m3 -mfloat-abi=soft
CFLAGS += -DMICROPY_HW_MCU_NAME='"Cortex-M3"'
MPY_CROSS_FLAGS += -march=armv7m
else
$(error NANOLLM_CPU must be cortex-m3 or cortex-m4)
endif
QEMU_ARCH = arm
LDSCRIPT = $(BOARD_DIR)/mps2_nanollm.ld
CFLAGS += -DQEMU_SOC_MPS2
SRC_BOARD_O = shared/runtime/gchelper_native.o shared/runtime/gchelper_thumb2.o

NANOLLM_QEMU_HEAP ?= 471040
MICROPY_HEAP_SIZE := $(NANOLLM_QEMU_HEAP)
MICROPY_VFS_LFS2 := 1
FROZEN_MANIFEST := $(BOARD_DIR)/../ramfs/manifest.py
CFLAGS += -DNANOLLM_FS_BASE=0x21000000 -DNANOLLM_FS_SIZE=0x300000
CFLAGS += -include $(BOARD_DIR)/../ramfs/nanollm_ramfs.h
SRC_C += $(BOARD_DIR)/../ramfs/nanollm_ramfs.c
