# Frozen into the nanollm qemu board: the boot script that mounts the flash filesystem.
freeze("$(BOARD_DIR)", "_nanollm_boot.py")
# The runtime itself, frozen: its bytecode and viper machine code stay in flash instead of
# taking ~80 KB of the 190 KB heap (a real board's firmware can do the same).
package("nanollm", base_path="$(BOARD_DIR)/../../../../lib")
