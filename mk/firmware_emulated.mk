# Emulated boards beside the Cortex-M0 (mk/firmware.mk): MicroPython 1.25's qemu port as
# stock firmware (no native module built in, nothing of nanollm frozen) plus a filesystem,
# one per native-module architecture. See firmware/README.md, docs/boards.md.
#   make firmware-qemu-m3     build/firmware/qemu-m3/firmware.elf    Cortex-M3 (mps2-an385), armv7m
#   make firmware-qemu-m4     build/firmware/qemu-m4/firmware.elf    Cortex-M4F (mps2-an386), armv7emsp
#   make firmware-qemu-rv32   build/firmware/qemu-rv32/firmware.elf  RISC-V (virt), rv32imc
#   make hwtest-emulated      the device tests on every emulated board, one line per board
#   make core-bench           instructions per q8_0 MAC and per token on every emulated core -> docs/boards.md
# Each build takes about a minute on 2 cores and is skipped when up to date.

APT_PACKAGES += qemu-system-arm qemu-system-misc gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf
EMU_BOARDS := qemu-m0 qemu-m3 qemu-m4 qemu-rv32
EMU_BOARD_DIR := firmware/ports/qemu
EMU_COMMON_SRCS := $(wildcard $(EMU_BOARD_DIR)/ramfs/*) mk/firmware_emulated.mk
TEST_DEPS += firmware-qemu-m3 firmware-qemu-m4 firmware-qemu-rv32

.PHONY: firmware-qemu-m3 firmware-qemu-m4 firmware-qemu-rv32 firmware-emulated hwtest-emulated core-bench

##@ Emulated boards (stock MicroPython 1.25 qemu port + a filesystem)

firmware-qemu-m3: $(FW_OUT)/qemu-m3/firmware.elf ## Cortex-M3 board (qemu mps2-an385, armv7m)
firmware-qemu-m4: $(FW_OUT)/qemu-m4/firmware.elf ## Cortex-M4F board (qemu mps2-an386, armv7emsp)
firmware-qemu-rv32: $(FW_OUT)/qemu-rv32/firmware.elf ## RISC-V board (qemu virt, rv32imc)
firmware-emulated: firmware-qemu firmware-qemu-m3 firmware-qemu-m4 firmware-qemu-rv32 ## every emulated board's firmware

# $(1) board, $(2) MicroPython board it derives from, $(3) our board folder, $(4) extra make variables
define emu_firmware
$(FW_OUT)/$(1)/firmware.elf: $(FW_SRC_STAMP) $(FW_MPY_CROSS) $(EMU_COMMON_SRCS) $(wildcard $(EMU_BOARD_DIR)/$(3)/*) \
		$(FW_OUT)/no-micropython-lib/README.md
	@echo "building the qemu port for $(1) (board $(3), without nanollm_native)"
	$(call fw_objs_fresh,$(EMU_BOARD_DIR)/$(3)/mpconfigboard.mk,$(FW_OUT)/$(1)/obj)
	$(FW_ENV) $(MAKE) -s -j$(FW_JOBS) -C $(FW_MPY)/ports/qemu BOARD=$(2) $(4) \
		BOARD_DIR=$(abspath $(EMU_BOARD_DIR)/$(3)) BUILD=$(abspath $(FW_OUT)/$(1)/obj) \
		MPY_LIB_DIR=$(abspath $(FW_OUT)/no-micropython-lib) PYTHON=$(abspath $(FW_PY)) >/dev/null
	$(call fw_objs_built,$(EMU_BOARD_DIR)/$(3)/mpconfigboard.mk,$(FW_OUT)/$(1)/obj)
	cp $(FW_OUT)/$(1)/obj/firmware.elf $$@.tmp && mv $$@.tmp $$@
endef
$(eval $(call emu_firmware,qemu-m3,MPS2_AN385,NANOLLM_MPS2,NANOLLM_CPU=cortex-m3))
$(eval $(call emu_firmware,qemu-m4,MPS2_AN385,NANOLLM_MPS2,NANOLLM_CPU=cortex-m4))
$(eval $(call emu_firmware,qemu-rv32,VIRT_RV32,NANOLLM_VIRT_RV32,))

hwtest-emulated: $(STAMP) $(STAMP_PATHS) firmware-emulated native-all ## the device tests on every emulated board in turn [K=pattern]
	$(PY) host_tools/harness/hwtest_emulated.py $(if $(K),-k $(K))

core-bench: $(STAMP) $(STAMP_PATHS) firmware-emulated native-all ## instructions per q8_0 MAC and per token on every emulated core -> docs/boards.md
	$(PY) host_tools/harness/core_bench.py --out docs/boards.md
