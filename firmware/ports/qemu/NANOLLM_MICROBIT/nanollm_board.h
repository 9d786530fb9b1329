// Included into every C file of the nanollm qemu board build (-include): boot hook.
#ifndef NANOLLM_BOARD_H
#define NANOLLM_BOARD_H

// mp_init() calls this last: it mounts the flash filesystem (see _nanollm_boot.py).
void nanollm_board_init(void);
#define MICROPY_PORT_INIT_FUNC nanollm_board_init()

#endif
