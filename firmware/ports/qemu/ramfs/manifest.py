# Frozen into nanollm's RAM-filesystem boards: only the boot script that mounts the
# filesystem. The runtime and the native module are copied to the board, as onto a
# stock firmware.
freeze("$(BOARD_DIR)/../ramfs", "_nanollm_ramfs.py")
