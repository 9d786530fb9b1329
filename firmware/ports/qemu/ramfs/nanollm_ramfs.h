// Included into every C file of the nanollm emulated boards that keep their filesystem in
// RAM (NANOLLM_MPS2, NANOLLM_VIRT_RV32): the boot hook that mounts it.
#ifndef NANOLLM_RAMFS_H
#define NANOLLM_RAMFS_H

// mp_init() calls this last: it mounts the filesystem (see _nanollm_ramfs.py).
void nanollm_ramfs_init(void);
#define MICROPY_PORT_INIT_FUNC nanollm_ramfs_init()

#endif
