/* nanollm_native: the integer kernels of firmware/nanollm_kernels.c as a MicroPython module.
 *
 * One source, two builds:
 *   - a dynamic native module (.mpy), made by MicroPython's own natmod pipeline
 *     (py/dynruntime.mk + tools/mpy_ld.py, see Makefile in this folder): MicroPython's
 *     runtime API is reached through the table the loader hands to native code, and
 *     py/dynruntime.h maps the usual names (mp_obj_get_int, mp_raise_ValueError, ...) onto it;
 *   - a user C module built into the firmware (micropython.mk, micropython.cmake).
 * The argument checks below are written once and compiled into both; only the module's
 * registration differs (the end of this file).
 *
 * Every function takes the arguments of its namesake in lib/nanollm/kernels_py.py, and
 * PROVIDES is the tuple of their names. Arguments are checked before a kernel runs:
 * bytes-like buffers for weights and the KV cache, array('h') for x16 vectors, array('i')
 * for Q16 vectors, writable where the kernel writes, long enough for every index touched,
 * integers within 32 bits; otherwise TypeError or ValueError with a message.
 */
#include <stdint.h>

#ifdef MICROPY_ENABLE_DYNRUNTIME
#include "py/dynruntime.h"
#else
#include "py/binary.h"
#include "py/obj.h"
#include "py/runtime.h"
#endif

#include "nanollm_kernels.h"

/* ------------------------------------------------------------ argument checks */

__attribute__((noreturn)) static void raise_not_32_bits(void) {
    mp_raise_ValueError(MP_ERROR_TEXT("nanollm_native: integer argument does not fit 32 bits"));
}

static int32_t arg_int(mp_obj_t o) {
    if (!mp_obj_is_small_int(o)) {
        /* A big int (on a 32-bit port every value from 2**30 up), or not an int at all.
         * mp_obj_get_int raises TypeError for a non-int; for a big int it truncates in a
         * dynamic module and raises OverflowError in the firmware, so the range is checked
         * here, the same way in both. Only bad input and values near 2**31 come this way:
         * the model's calls pass small ints, so a decode step still allocates nothing. */
        mp_int_t v = mp_obj_get_int(o);
        if (mp_obj_is_true(mp_binary_op(MP_BINARY_OP_LESS, o, mp_obj_new_int(-2147483647 - 1)))
            || mp_obj_is_true(mp_binary_op(MP_BINARY_OP_MORE, o, mp_obj_new_int(2147483647)))) {
            raise_not_32_bits();
        }
        return (int32_t)v;
    }
    mp_int_t v = MP_OBJ_SMALL_INT_VALUE(o);
    if ((int64_t)v != (int32_t)v) { /* 64-bit ports: small ints reach 2**62 */
        raise_not_32_bits();
    }
    return (int32_t)v;
}

static int32_t arg_nonneg(mp_obj_t o, mp_rom_error_text_t msg) {
    int32_t v = arg_int(o);
    if (v < 0) {
        mp_raise_ValueError(msg);
    }
    return v;
}

#define B_BYTES 1
#define B_I16 2
#define B_I32 4

/* the buffer's item count, after checking its item type and writability */
static size_t arg_buf(mp_obj_t o, int kind, mp_uint_t flags, mp_buffer_info_t *bi) {
    if (!mp_get_buffer(o, bi, flags)) {
        mp_raise_TypeError(flags == MP_BUFFER_READ
            ? MP_ERROR_TEXT("nanollm_native: expected a buffer (bytes, bytearray, array)")
            : MP_ERROR_TEXT("nanollm_native: expected a writable buffer (bytearray, array)"));
    }
    int tc = bi->typecode;
    if (kind == B_BYTES) {
        if (tc != 'B' && tc != 'b' && tc != BYTEARRAY_TYPECODE) {
            mp_raise_TypeError(MP_ERROR_TEXT("nanollm_native: expected bytes, bytearray or array('b'/'B')"));
        }
        return bi->len;
    }
    if (kind == B_I16) {
        if (tc != 'h') {
            mp_raise_TypeError(MP_ERROR_TEXT("nanollm_native: expected array('h')"));
        }
        return bi->len / 2;
    }
    if (tc != 'i' && !(tc == 'l' && sizeof(long) == 4)) {
        mp_raise_TypeError(MP_ERROR_TEXT("nanollm_native: expected array('i')"));
    }
    return bi->len / 4;
}

static void need(uint64_t have, uint64_t want, mp_rom_error_text_t msg) {
    if (have < want) {
        mp_raise_ValueError(msg);
    }
}

/* ------------------------------------------------------------ functions */

static mp_obj_t nn_to_x16(size_t n_args, const mp_obj_t *a) {
    mp_buffer_info_t s, d;
    (void)n_args;
    size_t ns = arg_buf(a[0], B_I32, MP_BUFFER_READ, &s);
    int32_t off = arg_nonneg(a[1], MP_ERROR_TEXT("to_x16: off must be >= 0"));
    int32_t n = arg_nonneg(a[2], MP_ERROR_TEXT("to_x16: n must be >= 0"));
    size_t nd = arg_buf(a[3], B_I16, MP_BUFFER_RW, &d);
    need(ns, (uint64_t)off + n, MP_ERROR_TEXT("to_x16: src too short for off + n"));
    need(nd, (uint64_t)n, MP_ERROR_TEXT("to_x16: dst too short for n"));
    return MP_OBJ_NEW_SMALL_INT(nk_to_x16((const int32_t *)s.buf + off, n, (int16_t *)d.buf));
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(nn_to_x16_obj, 4, 4, nn_to_x16);

typedef void (*matvec_fn)(const uint8_t *, int32_t, int32_t, const int16_t *, int32_t, int32_t *);

static mp_obj_t matvec(const mp_obj_t *a, uint32_t bsize, matvec_fn fn) {
    mp_buffer_info_t w, x, o;
    size_t nw = arg_buf(a[0], B_BYTES, MP_BUFFER_READ, &w);
    int32_t n_rows = arg_nonneg(a[1], MP_ERROR_TEXT("matvec: n_rows must be >= 0"));
    int32_t n_cols = arg_nonneg(a[2], MP_ERROR_TEXT("matvec: n_cols must be >= 0"));
    size_t nx = arg_buf(a[3], B_I16, MP_BUFFER_READ, &x);
    int32_t shx = arg_int(a[4]);
    size_t no = arg_buf(a[5], B_I32, MP_BUFFER_RW, &o);
    int32_t out0 = arg_nonneg(a[6], MP_ERROR_TEXT("matvec: out0 must be >= 0"));
    if (shx < -64 || shx > 64) {
        mp_raise_ValueError(MP_ERROR_TEXT("matvec: shx out of range"));
    }
    uint32_t nb = (uint32_t)n_cols >> 5;
    need(nw, (uint64_t)n_rows * nb * bsize, MP_ERROR_TEXT("matvec: w too short for n_rows x n_cols"));
    need(nx, (uint64_t)nb * 32, MP_ERROR_TEXT("matvec: x too short for n_cols"));
    need(no, (uint64_t)out0 + n_rows, MP_ERROR_TEXT("matvec: out too short for out0 + n_rows"));
    fn((const uint8_t *)w.buf, n_rows, n_cols, (const int16_t *)x.buf, shx, (int32_t *)o.buf + out0);
    return mp_const_none;
}

static mp_obj_t nn_matvec_q8_0(size_t n, const mp_obj_t *a) {
    (void)n;
    return matvec(a, 34, nk_matvec_q8_0);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(nn_matvec_q8_0_obj, 7, 7, nn_matvec_q8_0);

static mp_obj_t nn_matvec_q4_0(size_t n, const mp_obj_t *a) {
    (void)n;
    return matvec(a, 18, nk_matvec_q4_0);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(nn_matvec_q4_0_obj, 7, 7, nn_matvec_q4_0);

static mp_obj_t nn_matvec_q4_1(size_t n, const mp_obj_t *a) {
    (void)n;
    return matvec(a, 20, nk_matvec_q4_1);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(nn_matvec_q4_1_obj, 7, 7, nn_matvec_q4_1);

static mp_obj_t nn_matvec_q4_K(size_t n, const mp_obj_t *a) {
    (void)n;
    /* 144 bytes per 256 columns = 18 per 32, as matvec() counts; whole super-blocks only */
    if (arg_int(a[2]) & 255) {
        mp_raise_ValueError(MP_ERROR_TEXT("matvec_q4_K: n_cols must be a multiple of 256"));
    }
    return matvec(a, 18, nk_matvec_q4_K);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(nn_matvec_q4_K_obj, 7, 7, nn_matvec_q4_K);

static mp_obj_t nn_dequant_row_q(size_t n_args, const mp_obj_t *a) {
    mp_buffer_info_t w, o;
    (void)n_args;
    size_t nw = arg_buf(a[0], B_BYTES, MP_BUFFER_READ, &w);
    int32_t wtype = arg_int(a[1]);
    int32_t off = arg_nonneg(a[2], MP_ERROR_TEXT("dequant_row_q: off must be >= 0"));
    int32_t n_cols = arg_nonneg(a[3], MP_ERROR_TEXT("dequant_row_q: n_cols must be >= 0"));
    size_t no = arg_buf(a[4], B_I32, MP_BUFFER_RW, &o);
    if (wtype != 8 && wtype != 2 && wtype != 3 && wtype != 12 && wtype != 0 && wtype != 1) {
        mp_raise_ValueError(MP_ERROR_TEXT("dequant_row_q: wtype must be 8 (q8_0), 2 (q4_0), 3 (q4_1), 12 (q4_K), "
                                          "0 (f32) or 1 (f16)"));
    }
    if (wtype < 2) {
        /* a vector of n_cols numbers of 4 or 2 bytes */
        need(nw, (uint64_t)off + (uint64_t)n_cols * (wtype == 0 ? 4 : 2), MP_ERROR_TEXT("dequant_row_q: w too short"));
        need(no, (uint64_t)n_cols, MP_ERROR_TEXT("dequant_row_q: out too short for n_cols"));
        nk_dequant_row_q((const uint8_t *)w.buf + off, wtype, n_cols, (int32_t *)o.buf);
        return mp_const_none;
    }
    if (wtype == 12 && (n_cols & 255)) {
        mp_raise_ValueError(MP_ERROR_TEXT("dequant_row_q: q4_K rows are whole super-blocks of 256"));
    }
    /* bytes per 32 elements (q4_K: 144 per 256) */
    uint32_t bsize = wtype == 8 ? 34 : wtype == 3 ? 20 : 18;
    uint32_t nb = (uint32_t)n_cols >> 5;
    need(nw, (uint64_t)off + (uint64_t)nb * bsize, MP_ERROR_TEXT("dequant_row_q: w too short"));
    need(no, (uint64_t)nb * 32, MP_ERROR_TEXT("dequant_row_q: out too short for n_cols"));
    nk_dequant_row_q((const uint8_t *)w.buf + off, wtype, n_cols, (int32_t *)o.buf);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(nn_dequant_row_q_obj, 5, 5, nn_dequant_row_q);

static mp_obj_t nn_add_q(mp_obj_t dst, mp_obj_t src, mp_obj_t n_in) {
    mp_buffer_info_t d, s;
    size_t nd = arg_buf(dst, B_I32, MP_BUFFER_RW, &d);
    size_t ns = arg_buf(src, B_I32, MP_BUFFER_READ, &s);
    int32_t n = arg_nonneg(n_in, MP_ERROR_TEXT("add_q: n must be >= 0"));
    need(nd, n, MP_ERROR_TEXT("add_q: dst too short for n"));
    need(ns, n, MP_ERROR_TEXT("add_q: src too short for n"));
    nk_add_q((int32_t *)d.buf, (const int32_t *)s.buf, n);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_3(nn_add_q_obj, nn_add_q);

static mp_obj_t nn_isqrt(mp_obj_t v_in) {
    int32_t v = arg_nonneg(v_in, MP_ERROR_TEXT("isqrt: v must be >= 0"));
    return MP_OBJ_NEW_SMALL_INT(nk_isqrt(v));
}
static MP_DEFINE_CONST_FUN_OBJ_1(nn_isqrt_obj, nn_isqrt);

static mp_obj_t nn_layernorm_q(size_t n_args, const mp_obj_t *a) {
    mp_buffer_info_t x, g, b, o;
    (void)n_args;
    size_t nx = arg_buf(a[0], B_I32, MP_BUFFER_READ, &x);
    int32_t n = arg_nonneg(a[1], MP_ERROR_TEXT("layernorm_q: n must be >= 1"));
    size_t ng = arg_buf(a[2], B_I32, MP_BUFFER_READ, &g);
    size_t nb = arg_buf(a[3], B_I32, MP_BUFFER_READ, &b);
    size_t no = arg_buf(a[4], B_I32, MP_BUFFER_RW, &o);
    int32_t eps = arg_nonneg(a[5], MP_ERROR_TEXT("layernorm_q: eps_q32 must be >= 0"));
    if (n < 1 || n > (1 << 19)) {
        mp_raise_ValueError(MP_ERROR_TEXT("layernorm_q: n must be in 1..2**19"));
    }
    need(nx, n, MP_ERROR_TEXT("layernorm_q: x too short for n"));
    need(ng, n, MP_ERROR_TEXT("layernorm_q: g too short for n"));
    need(nb, n, MP_ERROR_TEXT("layernorm_q: b too short for n"));
    need(no, n, MP_ERROR_TEXT("layernorm_q: out too short for n"));
    nk_layernorm_q((const int32_t *)x.buf, n, (const int32_t *)g.buf, (const int32_t *)b.buf,
        (int32_t *)o.buf, eps);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(nn_layernorm_q_obj, 6, 6, nn_layernorm_q);

static mp_obj_t nn_gelu_q(mp_obj_t buf, mp_obj_t n_in) {
    mp_buffer_info_t bb;
    size_t nb = arg_buf(buf, B_I32, MP_BUFFER_RW, &bb);
    int32_t n = arg_nonneg(n_in, MP_ERROR_TEXT("gelu_q: n must be >= 0"));
    need(nb, n, MP_ERROR_TEXT("gelu_q: buf too short for n"));
    nk_gelu_q((int32_t *)bb.buf, n);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(nn_gelu_q_obj, nn_gelu_q);

static mp_obj_t nn_kv_store(size_t n_args, const mp_obj_t *a) {
    mp_buffer_info_t s, d, sc;
    (void)n_args;
    size_t ns = arg_buf(a[0], B_I32, MP_BUFFER_READ, &s);
    int32_t off = arg_nonneg(a[1], MP_ERROR_TEXT("kv_store: off must be >= 0"));
    int32_t n = arg_nonneg(a[2], MP_ERROR_TEXT("kv_store: n must be >= 0"));
    size_t nd = arg_buf(a[3], B_BYTES, MP_BUFFER_RW, &d);
    int32_t doff = arg_nonneg(a[4], MP_ERROR_TEXT("kv_store: doff must be >= 0"));
    size_t nsc = arg_buf(a[5], B_BYTES, MP_BUFFER_RW, &sc);
    int32_t si = arg_nonneg(a[6], MP_ERROR_TEXT("kv_store: si must be >= 0"));
    need(ns, (uint64_t)off + n, MP_ERROR_TEXT("kv_store: src too short for off + n"));
    need(nd, (uint64_t)doff + n, MP_ERROR_TEXT("kv_store: dst too short for doff + n"));
    need(nsc, 2 * (uint64_t)si + 2, MP_ERROR_TEXT("kv_store: sc too short for entry si"));
    nk_kv_store((const int32_t *)s.buf + off, n, (uint8_t *)d.buf + doff, (uint8_t *)sc.buf + 2 * si);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(nn_kv_store_obj, 7, 7, nn_kv_store);

static mp_obj_t nn_attend_head(size_t n_args, const mp_obj_t *a) {
    mp_buffer_info_t qv, kc, ks, vc, vs, sc, q16, out;
    (void)n_args;
    size_t nqv = arg_buf(a[0], B_I32, MP_BUFFER_READ, &qv);
    int32_t qo = arg_nonneg(a[1], MP_ERROR_TEXT("attend_head: qo must be >= 0"));
    int32_t hd = arg_nonneg(a[2], MP_ERROR_TEXT("attend_head: hd must be >= 1"));
    size_t nkc = arg_buf(a[3], B_BYTES, MP_BUFFER_READ, &kc);
    size_t nks = arg_buf(a[4], B_BYTES, MP_BUFFER_READ, &ks);
    size_t nvc = arg_buf(a[5], B_BYTES, MP_BUFFER_READ, &vc);
    size_t nvs = arg_buf(a[6], B_BYTES, MP_BUFFER_READ, &vs);
    int32_t n_pos = arg_nonneg(a[7], MP_ERROR_TEXT("attend_head: n_pos must be >= 1"));
    int32_t stride = arg_nonneg(a[8], MP_ERROR_TEXT("attend_head: stride must be >= 0"));
    int32_t ho = arg_nonneg(a[9], MP_ERROR_TEXT("attend_head: ho must be >= 0"));
    int32_t n_head = arg_nonneg(a[10], MP_ERROR_TEXT("attend_head: n_head must be >= 1"));
    int32_t h = arg_nonneg(a[11], MP_ERROR_TEXT("attend_head: h must be >= 0"));
    int32_t c_isq = arg_nonneg(a[12], MP_ERROR_TEXT("attend_head: c_isq must be >= 0"));
    size_t nsc = arg_buf(a[13], B_I32, MP_BUFFER_RW, &sc);
    size_t nq16 = arg_buf(a[14], B_I16, MP_BUFFER_RW, &q16);
    size_t nout = arg_buf(a[15], B_I32, MP_BUFFER_RW, &out);
    if (hd < 1 || n_pos < 1 || n_head < 1 || h >= n_head) {
        mp_raise_ValueError(MP_ERROR_TEXT("attend_head: need hd >= 1, n_pos >= 1 and 0 <= h < n_head"));
    }
    if (c_isq >= (1 << 23)) {
        mp_raise_ValueError(MP_ERROR_TEXT("attend_head: c_isq must be < 2**23"));
    }
    uint64_t last = (uint64_t)(n_pos - 1) * stride + ho + hd;
    uint64_t last_s = 2 * ((uint64_t)(n_pos - 1) * n_head + h) + 2;
    need(nqv, (uint64_t)qo + hd, MP_ERROR_TEXT("attend_head: qv too short for qo + hd"));
    need(nkc, last, MP_ERROR_TEXT("attend_head: kc too short for n_pos positions"));
    need(nvc, last, MP_ERROR_TEXT("attend_head: vc too short for n_pos positions"));
    need(nks, last_s, MP_ERROR_TEXT("attend_head: ks too short for n_pos positions"));
    need(nvs, last_s, MP_ERROR_TEXT("attend_head: vs too short for n_pos positions"));
    need(nsc, n_pos, MP_ERROR_TEXT("attend_head: scores too short for n_pos"));
    need(nq16, hd, MP_ERROR_TEXT("attend_head: q16 too short for hd"));
    need(nout, (uint64_t)ho + hd, MP_ERROR_TEXT("attend_head: out too short for ho + hd"));
    nk_attend_head((const int32_t *)qv.buf + qo, hd, kc.buf, ks.buf, vc.buf, vs.buf, n_pos, stride,
        ho, n_head, h, c_isq, (int32_t *)sc.buf, (int16_t *)q16.buf, (int32_t *)out.buf);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(nn_attend_head_obj, 16, 16, nn_attend_head);

/* ---- the sampler's scans (sampling.py): logits and weights in array('i') */

static mp_obj_t nn_argmax_q(mp_obj_t lg_in, mp_obj_t n_in) {
    mp_buffer_info_t lg;
    size_t nl = arg_buf(lg_in, B_I32, MP_BUFFER_READ, &lg);
    int32_t n = arg_nonneg(n_in, MP_ERROR_TEXT("argmax_q: n must be >= 1"));
    if (n < 1) {
        mp_raise_ValueError(MP_ERROR_TEXT("argmax_q: n must be >= 1"));
    }
    need(nl, n, MP_ERROR_TEXT("argmax_q: lg too short for n"));
    return MP_OBJ_NEW_SMALL_INT(nk_argmax_q((const int32_t *)lg.buf, n));
}
static MP_DEFINE_CONST_FUN_OBJ_2(nn_argmax_q_obj, nn_argmax_q);

static mp_obj_t nn_top_k_q(size_t n_args, const mp_obj_t *a) {
    mp_buffer_info_t lg, top;
    (void)n_args;
    size_t nl = arg_buf(a[0], B_I32, MP_BUFFER_READ, &lg);
    int32_t n = arg_nonneg(a[1], MP_ERROR_TEXT("top_k_q: n must be >= 0"));
    int32_t k = arg_nonneg(a[2], MP_ERROR_TEXT("top_k_q: k must be >= 1"));
    size_t nt = arg_buf(a[3], B_I32, MP_BUFFER_RW, &top);
    if (k < 1) {
        mp_raise_ValueError(MP_ERROR_TEXT("top_k_q: k must be >= 1"));
    }
    need(nl, n, MP_ERROR_TEXT("top_k_q: lg too short for n"));
    need(nt, k, MP_ERROR_TEXT("top_k_q: top too short for k"));
    return MP_OBJ_NEW_SMALL_INT(nk_top_k_q((const int32_t *)lg.buf, n, k, (int32_t *)top.buf));
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(nn_top_k_q_obj, 4, 4, nn_top_k_q);

static mp_obj_t nn_weights_q(size_t n_args, const mp_obj_t *a) {
    mp_buffer_info_t lg, p;
    (void)n_args;
    size_t nl = arg_buf(a[0], B_I32, MP_BUFFER_READ, &lg);
    int32_t n = arg_nonneg(a[1], MP_ERROR_TEXT("weights_q: n must be >= 0"));
    int32_t bv = arg_int(a[2]);
    int32_t inv_t_q10 = arg_nonneg(a[3], MP_ERROR_TEXT("weights_q: inv_t_q10 must be >= 0"));
    int32_t cutoff = arg_int(a[4]);
    int32_t p_shift = arg_nonneg(a[5], MP_ERROR_TEXT("weights_q: p_shift must be in 0..31"));
    size_t np = arg_buf(a[6], B_I32, MP_BUFFER_RW, &p);
    if (p_shift > 31) {
        mp_raise_ValueError(MP_ERROR_TEXT("weights_q: p_shift must be in 0..31"));
    }
    need(nl, n, MP_ERROR_TEXT("weights_q: lg too short for n"));
    need(np, n, MP_ERROR_TEXT("weights_q: p too short for n"));
    return mp_obj_new_int(nk_weights_q((const int32_t *)lg.buf, n, bv, inv_t_q10, cutoff, p_shift,
        (int32_t *)p.buf));
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(nn_weights_q_obj, 7, 7, nn_weights_q);

static mp_obj_t nn_top_p_q(size_t n_args, const mp_obj_t *a) {
    mp_buffer_info_t p;
    (void)n_args;
    size_t np = arg_buf(a[0], B_I32, MP_BUFFER_RW, &p);
    int32_t n = arg_nonneg(a[1], MP_ERROR_TEXT("top_p_q: n must be >= 0"));
    int32_t want = arg_int(a[2]);
    int32_t hi = arg_int(a[3]);
    need(np, n, MP_ERROR_TEXT("top_p_q: p too short for n"));
    return mp_obj_new_int(nk_top_p_q((int32_t *)p.buf, n, want, hi));
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(nn_top_p_q_obj, 4, 4, nn_top_p_q);

static mp_obj_t nn_draw_q(mp_obj_t p_in, mp_obj_t n_in, mp_obj_t r_in) {
    mp_buffer_info_t p;
    size_t np = arg_buf(p_in, B_I32, MP_BUFFER_READ, &p);
    int32_t n = arg_nonneg(n_in, MP_ERROR_TEXT("draw_q: n must be >= 0"));
    int32_t r = arg_int(r_in);
    need(np, n, MP_ERROR_TEXT("draw_q: p too short for n"));
    return MP_OBJ_NEW_SMALL_INT(nk_draw_q((const int32_t *)p.buf, n, r));
}
static MP_DEFINE_CONST_FUN_OBJ_3(nn_draw_q_obj, nn_draw_q);

/* simd_level(): the SIMD level the matvec kernels use (0 plain C, 1 SSE2, 2 AVX2; at import
 * the best this CPU has, 0 off x64). simd_level(n): use level n (tests, benchmarks), at
 * most the best; returns the level used before. Not a kernel, so not in PROVIDES. */
static mp_obj_t nn_simd_level(size_t n_args, const mp_obj_t *a) {
    int32_t old = nk_simd_level();
    if (n_args == 1) {
        int32_t level = arg_int(a[0]);
        if (level < 0 || level > nk_simd_best()) {
            mp_raise_ValueError(MP_ERROR_TEXT("simd_level: this CPU runs levels 0 up to simd_level() at import"));
        }
        nk_simd_set(level);
    }
    return MP_OBJ_NEW_SMALL_INT(old);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(nn_simd_level_obj, 0, 1, nn_simd_level);

/* ------------------------------------------------------------ module */

/* The functions, in PROVIDES order: (qstr, function object). mpy_ld.py finds the qstrs a
 * dynamic module needs by scanning this source for their names, so they are spelt out. */
#define NN_FUNCTIONS(F) \
    F(MP_QSTR_to_x16, nn_to_x16_obj) \
    F(MP_QSTR_matvec_q8_0, nn_matvec_q8_0_obj) \
    F(MP_QSTR_matvec_q4_0, nn_matvec_q4_0_obj) \
    F(MP_QSTR_matvec_q4_1, nn_matvec_q4_1_obj) \
    F(MP_QSTR_matvec_q4_K, nn_matvec_q4_K_obj) \
    F(MP_QSTR_add_q, nn_add_q_obj) \
    F(MP_QSTR_gelu_q, nn_gelu_q_obj) \
    F(MP_QSTR_layernorm_q, nn_layernorm_q_obj) \
    F(MP_QSTR_kv_store, nn_kv_store_obj) \
    F(MP_QSTR_attend_head, nn_attend_head_obj) \
    F(MP_QSTR_dequant_row_q, nn_dequant_row_q_obj) \
    F(MP_QSTR_isqrt, nn_isqrt_obj) \
    F(MP_QSTR_argmax_q, nn_argmax_q_obj) \
    F(MP_QSTR_top_k_q, nn_top_k_q_obj) \
    F(MP_QSTR_weights_q, nn_weights_q_obj) \
    F(MP_QSTR_top_p_q, nn_top_p_q_obj) \
    F(MP_QSTR_draw_q, nn_draw_q_obj)

#define NN_COUNT(q, obj) +1
#define NN_N_FUNCTIONS (0 NN_FUNCTIONS(NN_COUNT))

#ifdef MICROPY_ENABLE_DYNRUNTIME

/* The module's top-level code: the loader runs it once, at import. */
#define NN_STORE(q, obj) mp_store_global(q, MP_OBJ_FROM_PTR(&obj));
#define NN_NAME(q, obj) MP_OBJ_NEW_QSTR(q),

mp_obj_t mpy_init(mp_obj_fun_bc_t *self, size_t n_args, size_t n_kw, mp_obj_t *args) {
    MP_DYNRUNTIME_INIT_ENTRY
    NN_FUNCTIONS(NN_STORE)
    mp_store_global(MP_QSTR_simd_level, MP_OBJ_FROM_PTR(&nn_simd_level_obj));
    mp_obj_t names[] = { NN_FUNCTIONS(NN_NAME) };
    mp_store_global(MP_QSTR_PROVIDES, mp_obj_new_tuple(NN_N_FUNCTIONS, names));
    MP_DYNRUNTIME_INIT_EXIT
}

#else

#define NN_ROM_NAME(q, obj) MP_ROM_QSTR(q),
#define NN_ROM_ENTRY(q, obj) { MP_ROM_QSTR(q), MP_ROM_PTR(&obj) },

static const mp_rom_obj_tuple_t nn_provides_obj = {
    {&mp_type_tuple},
    NN_N_FUNCTIONS,
    { NN_FUNCTIONS(NN_ROM_NAME) },
};

static const mp_rom_map_elem_t nn_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_nanollm_native) },
    { MP_ROM_QSTR(MP_QSTR_PROVIDES), MP_ROM_PTR(&nn_provides_obj) },
    NN_FUNCTIONS(NN_ROM_ENTRY)
    { MP_ROM_QSTR(MP_QSTR_simd_level), MP_ROM_PTR(&nn_simd_level_obj) },
};
static MP_DEFINE_CONST_DICT(nn_module_globals, nn_module_globals_table);

const mp_obj_module_t nanollm_native_user_cmodule = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&nn_module_globals,
};

MP_REGISTER_MODULE(MP_QSTR_nanollm_native, nanollm_native_user_cmodule);

#endif
