// nanollm qemu board (MICROBIT machine): raw access to the emulated nRF51 flash for the
// filesystem, and the boot hook that mounts it.
//
// Module nanollm_board:
//   PAGE_SIZE                 flash page (erase unit) in bytes
//   fs_pages()                (first page, page count) of the flash after the firmware
//   flash_read(addr, buf)     copy flash bytes at addr into buf
//   flash_write(addr, buf)    program buf at addr (word-aligned, erased flash)
//   flash_erase(addr)         erase the page at addr (page-aligned)
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

static uint32_t fs_first_page(void) {
    uint32_t end = (uint32_t)&_sidata + ((uint32_t)&_edata - (uint32_t)&_sdata);
    return (end + PAGE_SIZE - 1) / PAGE_SIZE;
}

static void nvmc_wait(void) {
    while (!(NVMC_READY & 1)) {
    }
}

static void check_range(uint32_t addr, size_t len, uint32_t align) {
    uint32_t lo = fs_first_page() * PAGE_SIZE;
    if (addr < lo || addr + len > NANOLLM_FLASH_SIZE || addr + len < addr || (addr & (align - 1))) {
        mp_raise_ValueError(MP_ERROR_TEXT("nanollm_board: flash address out of the filesystem area or unaligned"));
    }
}

static mp_obj_t board_fs_pages(void) {
    uint32_t first = fs_first_page();
    mp_obj_t t[2] = {
        MP_OBJ_NEW_SMALL_INT(first),
        MP_OBJ_NEW_SMALL_INT(NANOLLM_FLASH_SIZE / PAGE_SIZE - first),
    };
    return mp_obj_new_tuple(2, t);
}
static MP_DEFINE_CONST_FUN_OBJ_0(board_fs_pages_obj, board_fs_pages);

static mp_obj_t board_flash_read(mp_obj_t addr_in, mp_obj_t buf_in) {
    uint32_t addr = mp_obj_get_int_truncated(addr_in);
    mp_buffer_info_t bi;
    mp_get_buffer_raise(buf_in, &bi, MP_BUFFER_WRITE);
    check_range(addr, bi.len, 1);
    memcpy(bi.buf, (const void *)addr, bi.len);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(board_flash_read_obj, board_flash_read);

static mp_obj_t board_flash_write(mp_obj_t addr_in, mp_obj_t buf_in) {
    uint32_t addr = mp_obj_get_int_truncated(addr_in);
    mp_buffer_info_t bi;
    mp_get_buffer_raise(buf_in, &bi, MP_BUFFER_READ);
    if (bi.len & 3) {
        mp_raise_ValueError(MP_ERROR_TEXT("nanollm_board: flash writes are whole words"));
    }
    check_range(addr, bi.len, 4);
    const uint8_t *src = bi.buf;
    NVMC_CONFIG = NVMC_CONFIG_WEN;
    nvmc_wait();
    for (size_t i = 0; i < bi.len; i += 4) {
        uint32_t w;
        memcpy(&w, src + i, 4);
        *(volatile uint32_t *)(addr + i) = w;
        nvmc_wait();
    }
    NVMC_CONFIG = NVMC_CONFIG_REN;
    nvmc_wait();
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(board_flash_write_obj, board_flash_write);

static mp_obj_t board_flash_erase(mp_obj_t addr_in) {
    uint32_t addr = mp_obj_get_int_truncated(addr_in);
    check_range(addr, PAGE_SIZE, PAGE_SIZE);
    NVMC_CONFIG = NVMC_CONFIG_EEN;
    nvmc_wait();
    NVMC_ERASEPAGE = addr;
    nvmc_wait();
    NVMC_CONFIG = NVMC_CONFIG_REN;
    nvmc_wait();
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(board_flash_erase_obj, board_flash_erase);

// memory-mapped flash, read where it is: VfsRom files over it have the buffer protocol
static mp_obj_t board_romfs(void) {
    return mp_obj_new_memoryview('B', NANOLLM_ROMFS_BYTES, (void *)NANOLLM_ROMFS_BASE);
}
static MP_DEFINE_CONST_FUN_OBJ_0(board_romfs_obj, board_romfs);

static const mp_rom_map_elem_t board_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_nanollm_board) },
    { MP_ROM_QSTR(MP_QSTR_PAGE_SIZE), MP_ROM_INT(PAGE_SIZE) },
    { MP_ROM_QSTR(MP_QSTR_fs_pages), MP_ROM_PTR(&board_fs_pages_obj) },
    { MP_ROM_QSTR(MP_QSTR_flash_read), MP_ROM_PTR(&board_flash_read_obj) },
    { MP_ROM_QSTR(MP_QSTR_flash_write), MP_ROM_PTR(&board_flash_write_obj) },
    { MP_ROM_QSTR(MP_QSTR_flash_erase), MP_ROM_PTR(&board_flash_erase_obj) },
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
