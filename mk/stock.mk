# Stand-ins for boards on stock MicroPython firmware (issue 11): the emulated Cortex-M0 with
# nothing of nanollm in its firmware (no frozen runtime, no nanollm_native built in) and the
# heap of a board profile. The runtime is installed as a user would (a make dist folder),
# then tests/device runs there unchanged.
#   make firmware-qemu-stock   build/firmware/qemu-stock-{rp2040,esp32}/firmware.elf
#   make hwtest-stock          the device tests on both: rp2040's heap with .mpy and the armv6m
#                              native module; esp32's heap with viper .mpy only

# MICROPY_HEAP_SIZE that leaves gc.mem_free() after boot at the profile's free heap (the
# heap less the collector's tables and what boot keeps, LittleFS's 1 KB caches among them),
# measured: 199744 gives 192400 bytes free after boot, 115776 gives 110352
STOCK_HEAP_rp2040 := 199744
STOCK_HEAP_esp32 := 115776
STOCK_BOARD := firmware/ports/qemu/NANOLLM_STOCK_M0
STOCK_FIRMWARES := $(foreach b,rp2040 esp32,$(FW_OUT)/qemu-stock-$(b)/firmware.elf)

.PHONY: firmware-qemu-stock hwtest-stock

firmware-qemu-stock: $(STOCK_FIRMWARES) ## emulated M0 stand-ins for stock firmware (rp2040 and esp32 heaps)

$(FW_OUT)/qemu-stock-%/firmware.elf: $(FW_SRC_STAMP) $(FW_MPY_CROSS) $(wildcard $(STOCK_BOARD)/*) \
		$(wildcard $(FW_QEMU_BOARD)/*) mk/stock.mk $(FW_OUT)/no-micropython-lib/README.md
	@echo "building the stock stand-in for $* (qemu port, no nanollm in the firmware, heap $(STOCK_HEAP_$*))"
	@# from scratch: the port's objects do not depend on the heap size it is given
	rm -rf $(FW_OUT)/qemu-stock-$*/obj
	$(FW_ENV) $(MAKE) -s -j$(FW_JOBS) -C $(FW_MPY)/ports/qemu BOARD=MICROBIT \
		BOARD_DIR=$(abspath $(STOCK_BOARD)) BUILD=$(abspath $(FW_OUT)/qemu-stock-$*/obj) \
		NANOLLM_QEMU_HEAP=$(STOCK_HEAP_$*) MPY_LIB_DIR=$(abspath $(FW_OUT)/no-micropython-lib) \
		PYTHON=$(abspath $(FW_PY))
	cp $(FW_OUT)/qemu-stock-$*/obj/firmware.elf $@.tmp && mv $@.tmp $@

hwtest-stock: $(STAMP) $(STAMP_PATHS) firmware-qemu-stock native-all ## tests/device on both stock stand-ins
	$(PY) host_tools/harness/stock.py

# tests/test_stock.py runs the rp2040 stand-in in the test suite
TEST_DEPS += firmware-qemu-stock
