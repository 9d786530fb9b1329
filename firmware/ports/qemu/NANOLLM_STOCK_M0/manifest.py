# Frozen into the stock stand-in: only the boot script that mounts the flash filesystem
# (a stock board has its filesystem from the firmware too). The runtime is copied over.
freeze("$(BOARD_DIR)/../NANOLLM_MICROBIT", "_nanollm_boot.py")
