# Frozen into the nanollm qemu board: the boot script that mounts the flash filesystem.
freeze("$(BOARD_DIR)", "_nanollm_boot.py")
