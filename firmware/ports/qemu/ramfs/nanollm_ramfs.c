// The filesystem of nanollm's emulated boards other than the micro:bit: a LittleFS in a
// region of the machine's RAM that the firmware does not use (NANOLLM_FS_BASE,
// NANOLLM_FS_SIZE from the board's mpconfigboard.mk). A real board keeps its filesystem
// in flash; RAM outside the firmware plays that part here, and the host can fill it
// before boot (qemu's `-device loader`), as the micro:bit board's flash is.
//
// Module nanollm_ramfs:
//   region()          (base address, size in bytes) of the filesystem's RAM
//   BlockDev()        block device over that region (4 KB blocks), for vfs.mount
//   PROGSIZE          the progsize to mount LittleFS with (NANOLLM_FS_PROGSIZE)
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

// Blocks of 4 KB, as a real board's flash filesystem has (rp2.Flash, esp32.Partition).
#define FS_BLOCK_SIZE 4096
#if NANOLLM_FS_SIZE % FS_BLOCK_SIZE
#error "NANOLLM_FS_SIZE must be a whole number of 4 KB blocks"
#endif
// LittleFS's progsize when mounting, as the port this board stands in for mounts it (its
// caches are 4 x progsize: the cost per byte read and the heap they take follow from it)
#ifndef NANOLLM_FS_PROGSIZE
#define NANOLLM_FS_PROGSIZE 32
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

// the region's bytes at byte off of block n, checked to lie inside it
static uint8_t *ramfs_span(mp_obj_t n_in, mp_int_t off, size_t len) {
    mp_int_t n = mp_obj_get_int(n_in);
    size_t at = (size_t)n * FS_BLOCK_SIZE + (size_t)off;
    if (n < 0 || n >= NANOLLM_FS_SIZE / FS_BLOCK_SIZE || off < 0 || off > FS_BLOCK_SIZE
        || len > NANOLLM_FS_SIZE - at) {
        mp_raise_ValueError(MP_ERROR_TEXT("nanollm_ramfs: outside the filesystem's region"));
    }
    return (uint8_t *)(uintptr_t)NANOLLM_FS_BASE + at;
}

// The filesystem's block device, in C as a real board's is: LittleFS calls readblocks for
// every piece of a file it reads (a streamed model's weights, every token), and a block
// device in Python would cost the emulated board a bytecode call that a board does not pay.
typedef struct _ramfs_bdev_obj_t {
    mp_obj_base_t base;
} ramfs_bdev_obj_t;

static const ramfs_bdev_obj_t ramfs_bdev_obj;

// BlockDev(): the one filesystem region of this board
static mp_obj_t ramfs_bdev_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 0, 0, false);
    return MP_OBJ_FROM_PTR(&ramfs_bdev_obj);
}

// readblocks(n, buf[, off]) and writeblocks(n, buf[, off]): copy block n's bytes (from
// byte off of it) into buf, or buf into them; RAM needs no erase
static mp_obj_t ramfs_bdev_readblocks(size_t n_args, const mp_obj_t *args) {
    mp_buffer_info_t bi;
    mp_get_buffer_raise(args[2], &bi, MP_BUFFER_WRITE);
    mp_int_t off = n_args > 3 ? mp_obj_get_int(args[3]) : 0;
    memcpy(bi.buf, ramfs_span(args[1], off, bi.len), bi.len);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ramfs_bdev_readblocks_obj, 3, 4, ramfs_bdev_readblocks);

static mp_obj_t ramfs_bdev_writeblocks(size_t n_args, const mp_obj_t *args) {
    mp_buffer_info_t bi;
    mp_get_buffer_raise(args[2], &bi, MP_BUFFER_READ);
    mp_int_t off = n_args > 3 ? mp_obj_get_int(args[3]) : 0;
    memcpy(ramfs_span(args[1], off, bi.len), bi.buf, bi.len);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ramfs_bdev_writeblocks_obj, 3, 4, ramfs_bdev_writeblocks);

// ioctl(op, arg): the block device protocol's operations (MicroPython's vfs docs)
static mp_obj_t ramfs_bdev_ioctl(mp_obj_t self_in, mp_obj_t op_in, mp_obj_t arg_in) {
    switch (mp_obj_get_int(op_in)) {
        case 1: // init
        case 2: // deinit
        case 3: // sync
        case 6: // erase a block: nothing to do in RAM
            return MP_OBJ_NEW_SMALL_INT(0);
        case 4: // block count
            return MP_OBJ_NEW_SMALL_INT(NANOLLM_FS_SIZE / FS_BLOCK_SIZE);
        case 5: // block size
            return MP_OBJ_NEW_SMALL_INT(FS_BLOCK_SIZE);
        default:
            return mp_const_none;
    }
}
static MP_DEFINE_CONST_FUN_OBJ_3(ramfs_bdev_ioctl_obj, ramfs_bdev_ioctl);

static const mp_rom_map_elem_t ramfs_bdev_locals_table[] = {
    { MP_ROM_QSTR(MP_QSTR_readblocks), MP_ROM_PTR(&ramfs_bdev_readblocks_obj) },
    { MP_ROM_QSTR(MP_QSTR_writeblocks), MP_ROM_PTR(&ramfs_bdev_writeblocks_obj) },
    { MP_ROM_QSTR(MP_QSTR_ioctl), MP_ROM_PTR(&ramfs_bdev_ioctl_obj) },
};
static MP_DEFINE_CONST_DICT(ramfs_bdev_locals, ramfs_bdev_locals_table);

MP_DEFINE_CONST_OBJ_TYPE(
    ramfs_bdev_type,
    MP_QSTR_BlockDev,
    MP_TYPE_FLAG_NONE,
    make_new, ramfs_bdev_make_new,
    locals_dict, &ramfs_bdev_locals
    );

static const ramfs_bdev_obj_t ramfs_bdev_obj = { { &ramfs_bdev_type } };

static const mp_rom_map_elem_t ramfs_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR_BlockDev), MP_ROM_PTR(&ramfs_bdev_type) },
    { MP_ROM_QSTR(MP_QSTR_PROGSIZE), MP_ROM_INT(NANOLLM_FS_PROGSIZE) },
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
