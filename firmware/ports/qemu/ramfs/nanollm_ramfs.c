// The filesystem of nanollm's emulated boards other than the micro:bit: a LittleFS in a
// region of the machine's RAM that the firmware does not use (NANOLLM_FS_BASE,
// NANOLLM_FS_SIZE from the board's mpconfigboard.mk). A real board keeps its filesystem
// in flash; RAM outside the firmware plays that part here, and the host can fill it
// before boot (qemu's `-device loader`), as the micro:bit board's flash is.
//
// Module nanollm_ramfs:
//   region()          (base address, size in bytes) of the filesystem's RAM
//   read(off, buf)    copy the bytes at region offset off into buf
//   write(off, buf)   copy buf to region offset off
// The frozen _nanollm_ramfs.py mounts it. The copies are C (not memoryview slices, which
// allocate): a model's weights stream from this filesystem during heap-locked decoding.
// Nothing else is added to MicroPython's stock qemu port: no native module built in.
#include <string.h>

#include "py/runtime.h"
#include "py/nlr.h"
#include "py/mphal.h"

#if !defined(NANOLLM_FS_BASE) || !defined(NANOLLM_FS_SIZE)
#error "the board must define NANOLLM_FS_BASE and NANOLLM_FS_SIZE"
#endif

// a function, not constants: an address such as 0x81000000 is not a small int
static mp_obj_t ramfs_region(void) {
    mp_obj_t t[2] = {
        mp_obj_new_int_from_uint(NANOLLM_FS_BASE),
        mp_obj_new_int_from_uint(NANOLLM_FS_SIZE),
    };
    return mp_obj_new_tuple(2, t);
}
static MP_DEFINE_CONST_FUN_OBJ_0(ramfs_region_obj, ramfs_region);

static uint8_t *ramfs_span(mp_obj_t off_in, size_t len) {
    mp_int_t off = mp_obj_get_int(off_in);
    if (off < 0 || (size_t)off > NANOLLM_FS_SIZE || len > NANOLLM_FS_SIZE - (size_t)off) {
        mp_raise_ValueError(MP_ERROR_TEXT("nanollm_ramfs: outside the filesystem's region"));
    }
    return (uint8_t *)(uintptr_t)NANOLLM_FS_BASE + off;
}

static mp_obj_t ramfs_read(mp_obj_t off_in, mp_obj_t buf_in) {
    mp_buffer_info_t bi;
    mp_get_buffer_raise(buf_in, &bi, MP_BUFFER_WRITE);
    memcpy(bi.buf, ramfs_span(off_in, bi.len), bi.len);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(ramfs_read_obj, ramfs_read);

static mp_obj_t ramfs_write(mp_obj_t off_in, mp_obj_t buf_in) {
    mp_buffer_info_t bi;
    mp_get_buffer_raise(buf_in, &bi, MP_BUFFER_READ);
    memcpy(ramfs_span(off_in, bi.len), bi.buf, bi.len);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(ramfs_write_obj, ramfs_write);

static const mp_rom_map_elem_t ramfs_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR_read), MP_ROM_PTR(&ramfs_read_obj) },
    { MP_ROM_QSTR(MP_QSTR_write), MP_ROM_PTR(&ramfs_write_obj) },
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_nanollm_ramfs) },
    { MP_ROM_QSTR(MP_QSTR_region), MP_ROM_PTR(&ramfs_region_obj) },
};
static MP_DEFINE_CONST_DICT(ramfs_module_globals, ramfs_module_globals_table);

const mp_obj_module_t nanollm_ramfs_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&ramfs_module_globals,
};
MP_REGISTER_MODULE(MP_QSTR_nanollm_ramfs, nanollm_ramfs_module);

// Called at the end of mp_init() (every soft reset): import the frozen boot module. A
// failure is reported on the console and the REPL still starts.
void nanollm_ramfs_init(void) {
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        mp_import_name(MP_QSTR__nanollm_ramfs, mp_const_none, MP_OBJ_NEW_SMALL_INT(0));
        nlr_pop();
    } else {
        mp_printf(&mp_plat_print, "nanollm: filesystem not mounted: ");
        mp_obj_print_exception(&mp_plat_print, MP_OBJ_FROM_PTR(nlr.ret_val));
    }
}

// LittleFS stamps files with the time; these boards have no clock.
uint64_t mp_hal_time_ns(void) {
    return 0;
}
