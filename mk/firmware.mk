# MicroPython 1.25 firmware with nanollm_native built in (see firmware/README.md):
#   make firmware-unix   build/firmware/unix/micropython   unix port (x64) + the module
#   make firmware-qemu   build/firmware/qemu/firmware.elf   emulated Cortex-M0 board (qemu microbit)
#   make firmware-rp2    build/firmware/rp2/firmware.uf2    Raspberry Pi Pico (RP2040), with a
#                        640 KB ROMFS partition (firmware/ports/rp2/nanollm_romfs.h)
#   make firmware        all three
#   make picotool        .cache/micropython-1.25/picotool-2.1.1 (host tool the rp2 build needs)
#   make qemu-repl       run the emulated board with its REPL on this terminal
#   make romfs           build/romfs/romfs.img: the package as .mpy + the default model, for a
#                        board's ROMFS partition (mpremote romfs deploy; the qemu board at boot)
# Sources come from Debian (host_tools/fetch/fetch_micropython.py) into .cache/micropython-1.25/;
# every build is skipped when its output is newer than everything it is made from.
APT_PACKAGES += dpkg-dev pkg-config libffi-dev cmake gcc-arm-none-eabi libnewlib-arm-none-eabi \
	libstdc++-arm-none-eabi-newlib qemu-system-arm
# the Pico firmware too (about 4 minutes from scratch on 2 cores): its test checks the UF2
TEST_DEPS += firmware-unix firmware-qemu firmware-rp2

FW_PY ?= $(if $(wildcard $(PY)),$(PY),python3)
FW_CACHE := .cache/micropython-1.25
FW_MPY := $(FW_CACHE)/micropython
FW_SRC_STAMP := $(FW_MPY)/py/mpconfig.h
FW_RP2_STAMP := $(FW_CACHE)/pico-sdk/pico_sdk_init.cmake $(FW_CACHE)/tinyusb/src/tusb.h \
	$(FW_CACHE)/mbedtls/library/aes.c
FW_OUT := build/firmware
FW_JOBS ?= $(shell nproc 2>/dev/null || echo 2)
# a fixed version string (the tree is not a git checkout of MicroPython)
FW_ENV := MICROPY_GIT_TAG=v1.25.0 MICROPY_GIT_HASH=debian-1.25.0+ds-1
FW_MODULE_SRCS := firmware/nanollm_native/nanollm_native.c firmware/nanollm_native/micropython.mk \
	firmware/nanollm_native/micropython.cmake firmware/nanollm_kernels.c firmware/nanollm_kernels.h \
	firmware/nanollm_simd.c firmware/nanollm_sample.c firmware/nanollm_blocks.h \
	firmware/make_tables_h.py lib/nanollm/tables.py
FW_QEMU_BOARD := firmware/ports/qemu/NANOLLM_MICROBIT
FW_QEMU_SRCS := $(wildcard $(FW_QEMU_BOARD)/*) $(wildcard lib/nanollm/*.py lib/nanollm/*.bin)
FW_MPY_CROSS := $(FW_MPY)/mpy-cross/build/mpy-cross
# qemu: the emulated board (see firmware/README.md); SERIAL=pty or tcp:127.0.0.1:PORT,server,nowait
QEMU_FIRMWARE := $(FW_OUT)/qemu/firmware.elf
QEMU_CMD := qemu-system-arm -machine microbit -global nrf51-soc.flash-size=3145728 \
	-global nrf51-soc.sram-size=262144 -nographic -monitor null -semihosting

.PHONY: firmware firmware-unix firmware-qemu firmware-rp2 firmware-sources qemu-repl firmware-clean

##@ Firmware (MicroPython 1.25 with the native module built in)

firmware: firmware-unix firmware-qemu firmware-rp2 ## all three firmwares below
firmware-unix: $(FW_OUT)/unix/micropython ## unix port (x64) + the module -> build/firmware/unix/micropython
firmware-qemu: $(QEMU_FIRMWARE) ## emulated Cortex-M0 board (qemu microbit) -> build/firmware/qemu/firmware.elf
firmware-rp2: $(FW_OUT)/rp2/firmware.uf2 ## Raspberry Pi Pico (RP2040) -> build/firmware/rp2/firmware.uf2
firmware-sources: $(FW_SRC_STAMP) ## fetch MicroPython's source from Debian into .cache/

$(FW_SRC_STAMP):
	$(FW_PY) host_tools/fetch/fetch_micropython.py
	@touch $@

$(FW_RP2_STAMP) &: | $(FW_SRC_STAMP)
	$(FW_PY) host_tools/fetch/fetch_micropython.py --rp2
	@touch $(FW_RP2_STAMP)

$(FW_MPY_CROSS): $(FW_SRC_STAMP)
	@echo "building mpy-cross 1.25"
	$(FW_ENV) $(MAKE) -s -j$(FW_JOBS) -C $(FW_MPY)/mpy-cross
	@touch $@

$(FW_OUT)/unix/micropython: $(FW_SRC_STAMP) $(FW_MPY_CROSS) $(FW_MODULE_SRCS) mk/firmware.mk
	@echo "building the unix port with nanollm_native"
	$(FW_ENV) $(MAKE) -s -j$(FW_JOBS) -C $(FW_MPY)/ports/unix BUILD=$(abspath $(FW_OUT)/unix/obj) \
		USER_C_MODULES=$(abspath firmware) FROZEN_MANIFEST= \
		MICROPY_PY_BTREE=0 MICROPY_PY_SSL=0 MICROPY_PY_FFI=0 PYTHON=$(abspath $(FW_PY))
	cp $(FW_OUT)/unix/obj/micropython $@.tmp && mv $@.tmp $@

# micropython-lib is not in Debian's source; the build only checks that its README exists
$(FW_OUT)/no-micropython-lib/README.md:
	@mkdir -p $(@D)
	echo "nanollm freezes no micropython-lib package" > $@

# MicroPython's port Makefiles do not rebuild objects when compile flags change, so a build
# starts from scratch when the board's mpconfigboard.mk ($(1)) differs from the one its
# objects ($(2)) were built with
define fw_objs_fresh
	@cmp -s $(1) $(2)/mpconfigboard.mk.built || rm -rf $(2)
endef
define fw_objs_built
	cp $(1) $(2)/mpconfigboard.mk.built
endef

$(QEMU_FIRMWARE): $(FW_SRC_STAMP) $(FW_MPY_CROSS) $(FW_MODULE_SRCS) $(FW_QEMU_SRCS) mk/firmware.mk \
		$(FW_OUT)/no-micropython-lib/README.md
	@echo "building the qemu port (board NANOLLM_MICROBIT) with nanollm_native"
	$(call fw_objs_fresh,$(FW_QEMU_BOARD)/mpconfigboard.mk,$(FW_OUT)/qemu/obj)
	$(FW_ENV) $(MAKE) -s -j$(FW_JOBS) -C $(FW_MPY)/ports/qemu BOARD=MICROBIT \
		BOARD_DIR=$(abspath $(FW_QEMU_BOARD)) BUILD=$(abspath $(FW_OUT)/qemu/obj) \
		USER_C_MODULES=$(abspath firmware) MPY_LIB_DIR=$(abspath $(FW_OUT)/no-micropython-lib) \
		PYTHON=$(abspath $(FW_PY))
	$(call fw_objs_built,$(FW_QEMU_BOARD)/mpconfigboard.mk,$(FW_OUT)/qemu/obj)
	cp $(FW_OUT)/qemu/obj/firmware.elf $@.tmp && mv $@.tmp $@

# picotool 2.1.1, which pico-sdk 2.1.1 runs to make the .uf2 (else it clones it from
# GitHub): built for this host from Debian's source package by fetch_micropython.py
FW_PICOTOOL_DIR := $(FW_CACHE)/picotool-2.1.1/picotool
FW_PICOTOOL := $(FW_PICOTOOL_DIR)/picotool
.PHONY: picotool
picotool: $(FW_PICOTOOL) ## the host picotool the rp2 build needs (from Debian's source)

$(FW_PICOTOOL): | $(FW_SRC_STAMP)
	$(FW_PY) host_tools/fetch/fetch_micropython.py --picotool -j$(FW_JOBS)
	@touch $@

$(FW_OUT)/rp2/firmware.uf2: $(FW_SRC_STAMP) $(FW_RP2_STAMP) $(FW_MPY_CROSS) $(FW_MODULE_SRCS) mk/firmware.mk \
		firmware/ports/rp2/nanollm_romfs.h \
		$(FW_OUT)/no-micropython-lib/README.md $(FW_PICOTOOL)
	@echo "building the rp2 port (RPI_PICO) with nanollm_native"
	@# cmake directly: the port's Makefile insists on git submodules; picotool_DIR points
	@# pico-sdk at our picotool (its CMake package), PICOTOOL_FETCH_FROM_GIT_PATH keeps any
	@# fallback inside the cache
	@# the board manifest minus its micropython-lib drivers (onewire, ds18x20, dht, neopixel)
	@mkdir -p $(FW_OUT)/rp2
	printf 'freeze("$$(PORT_DIR)/modules")\ninclude("$$(MPY_DIR)/extmod/asyncio")\n' > $(FW_OUT)/rp2/manifest.py
	@# the board: RPI_PICO's files with a ROMFS partition (firmware/ports/rp2/nanollm_romfs.h)
	rm -rf $(FW_OUT)/rp2/NANOLLM_PICO && cp -r $(FW_MPY)/ports/rp2/boards/RPI_PICO $(FW_OUT)/rp2/NANOLLM_PICO
	printf '\n#include "%s"\n' $(abspath firmware/ports/rp2/nanollm_romfs.h) >> $(FW_OUT)/rp2/NANOLLM_PICO/mpconfigboard.h
	$(FW_ENV) MICROPY_MPYCROSS=$(abspath $(FW_MPY_CROSS)) cmake -S $(FW_MPY)/ports/rp2 -B $(FW_OUT)/rp2/obj \
		-DMICROPY_BOARD=RPI_PICO -DMICROPY_BOARD_DIR=$(abspath $(FW_OUT)/rp2/NANOLLM_PICO) -DPICO_BUILD_DOCS=0 \
		-DUSER_C_MODULES=$(abspath firmware/nanollm_native/micropython.cmake) \
		-DMICROPY_FROZEN_MANIFEST=$(abspath $(FW_OUT)/rp2/manifest.py) \
		-DMICROPY_LIB_DIR=$(abspath $(FW_OUT)/no-micropython-lib) \
		-DPICO_SDK_PATH_OVERRIDE=$(abspath $(FW_CACHE)/pico-sdk) -DMICROPY_MPYCROSS=$(abspath $(FW_MPY_CROSS)) \
		-Dpicotool_DIR=$(abspath $(FW_PICOTOOL_DIR)) \
		-DPICOTOOL_FETCH_FROM_GIT_PATH=$(abspath $(dir $(FW_PICOTOOL_DIR))) \
		-DPython3_EXECUTABLE=$(abspath $(FW_PY)) >/dev/null
	$(FW_ENV) MICROPY_MPYCROSS=$(abspath $(FW_MPY_CROSS)) $(MAKE) -s -j$(FW_JOBS) -C $(FW_OUT)/rp2/obj
	cp $(FW_OUT)/rp2/obj/firmware.elf $(FW_OUT)/rp2/firmware.elf.tmp && mv $(FW_OUT)/rp2/firmware.elf.tmp $(FW_OUT)/rp2/firmware.elf
	cp $(FW_OUT)/rp2/obj/firmware.uf2 $@.tmp && mv $@.tmp $@

.PHONY: romfs
romfs: $(STAMP) $(STAMP_PATHS) ## ROMFS image: lib/nanollm as .mpy (ARCH=armv6m) + the default model -> build/romfs/romfs.img
	$(PY) host_tools/romfs.py $(if $(ARCH),--arch $(ARCH))

qemu-repl: $(QEMU_FIRMWARE) ## the emulated board's REPL on this terminal (Ctrl-A X quits)
	@echo "nanollm qemu board; quit with Ctrl-A X"
	$(QEMU_CMD) -serial mon:stdio -kernel $(QEMU_FIRMWARE)

firmware-clean: ## remove build/firmware
	rm -rf $(FW_OUT)
