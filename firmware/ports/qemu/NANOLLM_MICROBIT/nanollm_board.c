// nanollm qemu board (MICROBIT machine): raw access to the emulated nRF51 flash for the
// filesystem, and the boot hook that mounts it.
//
// Module nanollm_board:
//   Flash()                   block device over the flash after the firmware image (4 KB
//                             blocks), for vfs.mount: readblocks, writeblocks, ioctl
//   romfs()                   the ROMFS partition's bytes in place (a memoryview over flash)
//   ROMFS_BASE, ROMFS_BYTES   where that partition is (after the first NANOLLM_FLASH_SIZE
//                             bytes, so the LittleFS area is what it was without one)
#include <string.h>

#include "py/runtime.h"
#include "py/nlr.h"
#include "py/mphal.h"

#define NRF_NVMC_BASE 0x4001E000u
#define NVMC_READY (*(volatile uint32_t *)(NRF_NVMC_BASE + 0x400))
#define NVMC_CONFIG (*(volatile uint32_t *)(NRF_NVMC_BASE + 0x504))
#define NVMC_ERASEPAGE (*(volatile uint32_t *)(NRF_NVMC_BASE + 0x508))
#define NVMC_CONFIG_REN 0u
#define NVMC_CONFIG_WEN 1u
#define NVMC_CONFIG_EEN 2u
#define PAGE_SIZE 1024u

#ifndef NANOLLM_FLASH_SIZE
#define NANOLLM_FLASH_SIZE (256 * 1024)
#endif
// The ROMFS partition: flash the qemu command line adds after NANOLLM_FLASH_SIZE
// (nrf51-soc.flash-size = NANOLLM_FLASH_SIZE + NANOLLM_ROMFS_BYTES). Never written by the
// firmware: the image is placed there before boot (`make romfs`, the emulator's loader).
#ifndef NANOLLM_ROMFS_BYTES
#define NANOLLM_ROMFS_BYTES (1024 * 1024)
#endif
#define NANOLLM_ROMFS_BASE NANOLLM_FLASH_SIZE

// from the linker script: the flash image ends at _sidata + the size of .data
extern uint32_t _sidata, _sdata, _edata;

// The filesystem's blocks are 4 KB, four flash pages each: a real RP2040's filesystem uses
// 4 KB blocks (its flash's erase sector), and LittleFS's cost per byte read falls with the
// block size (it looks a file's block up from the end of the file at every block it
// enters), so 1 KB blocks would make the stand-in slower than the board it stands in for.
#define FS_BLOCK_SIZE (4 * PAGE_SIZE)

// the filesystem's first byte: the first whole block after the flash image
static uint32_t fs_first_byte(void) {
    uint32_t end = (uint32_t)&_sidata + ((uint32_t)&_edata - (uint32_t)&_sdata);
    return (end + FS_BLOCK_SIZE - 1) / FS_BLOCK_SIZE * FS_BLOCK_SIZE;
}

static void nvmc_wait(void) {
    while (!(NVMC_READY & 1)) {
    }
}

static void check_range(uint32_t addr, size_t len, uint32_t align) {
    uint32_t lo = fs_first_byte();
    if (addr < lo || addr + len > NANOLLM_FLASH_SIZE || addr + len < addr || (addr & (align - 1))) {
        mp_raise_ValueError(MP_ERROR_TEXT("nanollm_board: flash address out of the filesystem area or unaligned"));
    }
}

// The filesystem's block device, in C as a real board's is (rp2.Flash, esp32.Partition):
// LittleFS calls readblocks for every piece of a file it reads, so a streamed model's
// weights pass through here on every token, and a block device in Python code would cost
// the emulated board a bytecode call per piece that a real board does not pay.

typedef struct _board_flash_obj_t {
    mp_obj_base_t base;
} board_flash_obj_t;

static uint32_t flash_block_count(void) {
    return (NANOLLM_FLASH_SIZE - fs_first_byte()) / FS_BLOCK_SIZE;
}

// the flash address of byte off of block n, checked to lie in the filesystem's area
static uint32_t flash_block_addr(mp_obj_t n_in, mp_int_t off, size_t len, uint32_t align) {
    mp_int_t n = mp_obj_get_int(n_in);
    if (n < 0 || (uint32_t)n >= flash_block_count() || off < 0) {
        mp_raise_ValueError(MP_ERROR_TEXT("nanollm_board: block out of the filesystem area"));
    }
    uint32_t addr = fs_first_byte() + (uint32_t)n * FS_BLOCK_SIZE + (uint32_t)off;
    check_range(addr, len, align);
    return addr;
}

// erase the block at addr: its four flash pages
static void flash_erase_block(uint32_t addr) {
    check_range(addr, FS_BLOCK_SIZE, FS_BLOCK_SIZE);
    for (uint32_t page = addr; page < addr + FS_BLOCK_SIZE; page += PAGE_SIZE) {
        NVMC_CONFIG = NVMC_CONFIG_EEN;
        nvmc_wait();
        NVMC_ERASEPAGE = page;
        nvmc_wait();
    }
    NVMC_CONFIG = NVMC_CONFIG_REN;
    nvmc_wait();
}

static void flash_program(uint32_t addr, const uint8_t *src, size_t len) {
    NVMC_CONFIG = NVMC_CONFIG_WEN;
    nvmc_wait();
    for (size_t i = 0; i < len; i += 4) {
        uint32_t w;
        memcpy(&w, src + i, 4);
        *(volatile uint32_t *)(addr + i) = w;
        nvmc_wait();
    }
    NVMC_CONFIG = NVMC_CONFIG_REN;
    nvmc_wait();
}

static const board_flash_obj_t board_flash_obj;

// Flash(): the one filesystem area of this board
static mp_obj_t board_flash_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 0, 0, false);
    return MP_OBJ_FROM_PTR(&board_flash_obj);
}

// readblocks(n, buf[, off]): copy from block n (at byte off of it) into buf
static mp_obj_t board_flash_readblocks(size_t n_args, const mp_obj_t *args) {
    mp_buffer_info_t bi;
    mp_get_buffer_raise(args[2], &bi, MP_BUFFER_WRITE);
    mp_int_t off = n_args > 3 ? mp_obj_get_int(args[3]) : 0;
    memcpy(bi.buf, (const void *)flash_block_addr(args[1], off, bi.len, 1), bi.len);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(board_flash_readblocks_obj, 3, 4, board_flash_readblocks);

// writeblocks(n, buf[, off]): with off (LittleFS), program erased flash; without it
// (whole blocks, the simple protocol), erase the blocks first
static mp_obj_t board_flash_writeblocks(size_t n_args, const mp_obj_t *args) {
    mp_buffer_info_t bi;
    mp_get_buffer_raise(args[2], &bi, MP_BUFFER_READ);
    if (bi.len & 3) {
        mp_raise_ValueError(MP_ERROR_TEXT("nanollm_board: flash writes are whole words"));
    }
    mp_int_t off = n_args > 3 ? mp_obj_get_int(args[3]) : 0;
    uint32_t addr = flash_block_addr(args[1], off, bi.len, 4);
    if (n_args == 3) {
        if (off != 0 || bi.len % FS_BLOCK_SIZE) {
            mp_raise_ValueError(MP_ERROR_TEXT("nanollm_board: writeblocks without an offset takes whole blocks"));
        }
        for (uint32_t block = addr; block < addr + bi.len; block += FS_BLOCK_SIZE) {
            flash_erase_block(block);
        }
    }
    flash_program(addr, bi.buf, bi.len);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(board_flash_writeblocks_obj, 3, 4, board_flash_writeblocks);

// ioctl(op, arg): the block device protocol's operations (MicroPython's vfs docs)
static mp_obj_t board_flash_ioctl(mp_obj_t self_in, mp_obj_t op_in, mp_obj_t arg_in) {
    switch (mp_obj_get_int(op_in)) {
        case 1: // init
        case 2: // deinit
        case 3: // sync
            return MP_OBJ_NEW_SMALL_INT(0);
        case 4: // block count
            return MP_OBJ_NEW_SMALL_INT(flash_block_count());
        case 5: // block size
            return MP_OBJ_NEW_SMALL_INT(FS_BLOCK_SIZE);
        case 6: // erase one block
            flash_erase_block(flash_block_addr(arg_in, 0, FS_BLOCK_SIZE, FS_BLOCK_SIZE));
            return MP_OBJ_NEW_SMALL_INT(0);
        default:
            return mp_const_none;
    }
}
static MP_DEFINE_CONST_FUN_OBJ_3(board_flash_ioctl_obj, board_flash_ioctl);

static const mp_rom_map_elem_t board_flash_locals_table[] = {
    { MP_ROM_QSTR(MP_QSTR_readblocks), MP_ROM_PTR(&board_flash_readblocks_obj) },
    { MP_ROM_QSTR(MP_QSTR_writeblocks), MP_ROM_PTR(&board_flash_writeblocks_obj) },
    { MP_ROM_QSTR(MP_QSTR_ioctl), MP_ROM_PTR(&board_flash_ioctl_obj) },
};
static MP_DEFINE_CONST_DICT(board_flash_locals, board_flash_locals_table);

MP_DEFINE_CONST_OBJ_TYPE(
    board_flash_type,
    MP_QSTR_Flash,
    MP_TYPE_FLAG_NONE,
    make_new, board_flash_make_new,
    locals_dict, &board_flash_locals
    );

static const board_flash_obj_t board_flash_obj = { { &board_flash_type } };

// memory-mapped flash, read where it is: VfsRom files over it have the buffer protocol
static mp_obj_t board_romfs(void) {
    return mp_obj_new_memoryview('B', NANOLLM_ROMFS_BYTES, (void *)NANOLLM_ROMFS_BASE);
}
static MP_DEFINE_CONST_FUN_OBJ_0(board_romfs_obj, board_romfs);

static const mp_rom_map_elem_t board_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_nanollm_board) },
    { MP_ROM_QSTR(MP_QSTR_Flash), MP_ROM_PTR(&board_flash_type) },
    { MP_ROM_QSTR(MP_QSTR_romfs), MP_ROM_PTR(&board_romfs_obj) },
    { MP_ROM_QSTR(MP_QSTR_ROMFS_BASE), MP_ROM_INT(NANOLLM_ROMFS_BASE) },
    { MP_ROM_QSTR(MP_QSTR_ROMFS_BYTES), MP_ROM_INT(NANOLLM_ROMFS_BYTES) },
};
static MP_DEFINE_CONST_DICT(board_module_globals, board_module_globals_table);

const mp_obj_module_t nanollm_board_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&board_module_globals,
};
MP_REGISTER_MODULE(MP_QSTR_nanollm_board, nanollm_board_module);

// Called at the end of mp_init(): import the frozen boot module, which mounts the
// filesystem. A failure is reported on the console and the REPL still starts.
void nanollm_board_init(void) {
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        mp_import_name(MP_QSTR__nanollm_boot, mp_const_none, MP_OBJ_NEW_SMALL_INT(0));
        nlr_pop();
    } else {
        mp_printf(&mp_plat_print, "nanollm: filesystem not mounted: ");
        mp_obj_print_exception(&mp_plat_print, MP_OBJ_FROM_PTR(nlr.ret_val));
    }
}

// LittleFS stamps files with the time; this board has no clock.
uint64_t mp_hal_time_ns(void) {
    return 0;
}
