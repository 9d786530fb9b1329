/* nanollm integer kernels, plain C99. See nanollm_kernels.h and kernels_py.py. */
#include "nanollm_kernels.h"
#include "nanollm_tables.h" /* generated from lib/nanollm/tables.py: NK_EXP2, NK_GELU */
#include "nanollm_blocks.h" /* rd16, f16_exp, f16_man */

#define X16_BITS 13
#define LOG2E_Q13 11819
#define SOFTMAX_CUTOFF (32 << 12)

/* the per-block scale helpers run once per 32 MACs: inline them even at -Os */
#if defined(__GNUC__)
#define NK_INLINE static inline __attribute__((always_inline))
#else
#define NK_INLINE static inline
#endif

/* Python's v >> s for any s >= 0 (sign fill past 31). */
static inline int32_t asr(int32_t v, int32_t s) {
    if (s > 31) {
        s = 31;
    }
    return v >> s; /* gcc: arithmetic shift */
}

/* v << s, wrapping like a store into a 32-bit array item. */
static inline int32_t shl(int32_t v, int32_t s) {
    if (s > 31) {
        return 0;
    }
    return (int32_t)((uint32_t)v << s);
}

/* kernels_py.shr: right by s, or left by -s */
static inline int32_t shr(int32_t v, int32_t s) {
    return s >= 0 ? asr(v, s) : shl(v, -s);
}

static inline int32_t bitlen(uint32_t v) {
    int32_t n = 0;
    while (v >= 256) {
        v >>= 8;
        n += 8;
    }
    while (v) {
        v >>= 1;
        n += 1;
    }
    return n;
}

/* floor division for d > 0 */
static inline int32_t floordiv(int32_t a, int32_t d) {
    int32_t q = a / d;
    if ((a % d) != 0 && a < 0) {
        q -= 1;
    }
    return q;
}

/* acc = a0 * 2**13 + a1, 0 <= a1 < 2**13 (kernels_py._acc_block) */
NK_INLINE void acc_block(int32_t *a0, int32_t *a1, int32_t s, int32_t m, int32_t k) {
    int32_t r;
    if (k == 0) {
        r = 0;
    } else if (k <= 13) {
        r = ((s & ((1 << k) - 1)) * m) >> k;
        s >>= k;
    } else if (k <= 24) {
        r = (((s >> (k - 13)) & 8191) * m) >> 13;
        s >>= k;
    } else {
        return;
    }
    int32_t lo = *a1 + (s & 8191) * m + r;
    *a0 += (s >> 13) * m + (lo >> 13);
    *a1 = lo & 8191;
}

static inline int32_t acc_out(int32_t a0, int32_t a1, int32_t r) {
    if (r >= 13) {
        return asr(a0, r - 13);
    }
    return (int32_t)((uint32_t)shl(a0, 13 - r) + (uint32_t)shr(a1, r));
}

static int32_t row_exp(const uint8_t *row, int32_t nb, int32_t bsize, int32_t off) {
    int32_t emax = 1;
    for (int32_t b = 0; b < nb; b++) {
        int32_t e = f16_exp(rd16(row + b * bsize + off));
        if (e > emax) {
            emax = e;
        }
    }
    return emax;
}

int32_t nk_to_x16(const int32_t *src, int32_t n, int16_t *dst) {
    uint32_t m = 0;
    for (int32_t i = 0; i < n; i++) {
        int32_t v = src[i];
        uint32_t a = v < 0 ? 0u - (uint32_t)v : (uint32_t)v;
        if (a > m) {
            m = a;
        }
    }
    if (m == 0) {
        for (int32_t i = 0; i < n; i++) {
            dst[i] = 0;
        }
        return 0;
    }
    int32_t sh = bitlen(m) - X16_BITS;
    if (sh > 0) {
        /* (v + 2**(sh-1)) >> sh without overflow: floor part plus the rounding bit */
        for (int32_t i = 0; i < n; i++) {
            int32_t v = src[i];
            dst[i] = (int16_t)((v >> sh) + ((v >> (sh - 1)) & 1));
        }
    } else {
        int32_t ls = -sh;
        for (int32_t i = 0; i < n; i++) {
            dst[i] = (int16_t)(src[i] << ls); /* |src| < 2**13 here: no overflow */
        }
    }
    return sh;
}

/* The cores whose q8_0 kernel takes four rows at a time (below); the others, x64 and wasm
 * among them, run the plain loop. */
#if defined(__ARM_ARCH_6M__) || defined(__ARM_FEATURE_DSP) || defined(__riscv) || defined(__ARM_ARCH_7M__)
#define NK_Q8_FOUR_ROWS 1
#endif

#if defined(NK_Q8_FOUR_ROWS)
/* row_exp for q8_0 rows: the exponent field is bits 2-6 of each scale's high byte, so
 * only that byte is read and compared (the field itself: max(1, e) >> 0 as row_exp's). */
static int32_t row_exp_q8(const uint8_t *p, int32_t nb) {
    uint32_t emax = 1 << 2;
    for (const uint8_t *end = p + nb * 34; p < end; p += 34) {
        uint32_t e = p[1] & 0x7C;
        if (e > emax) {
            emax = e;
        }
    }
    return (int32_t)(emax >> 2);
}
#endif

#if defined(__ARM_ARCH_6M__)
/* Cortex-M0/M0+ (armv6m): the block dot in assembly, four rows at a time.
 *
 * s[i] = sum_j (int8)q[i*rb + j] * x[j], j = 0..31, i = 0..3 (rb = 0 gives four copies
 * of row 0). Thumb-1 has ldrsb/ldrsh only with register+register addresses, so one
 * index register k walks the 32 columns and serves the four row pointers; x[j] is
 * loaded with an immediate offset (ldrh) and sign-extended once for the four rows.
 * Per column: ldrh, sxth, adds k, and per row ldrsb, muls, add: 15 instructions for
 * 4 multiply-accumulates. The four sums live in r8-r11 (add takes high registers).
 * Every product is below 2**21 and every sum below 2**26: no overflow, so the sums
 * equal the C's. */
void nk_dot4_q8_armv6m(const uint8_t *q, int32_t rb, const int16_t *x, int32_t *s);
__asm__(
    "   .pushsection .text.nk_dot4_q8_armv6m,\"ax\",%progbits\n"
    "   .syntax unified\n"
    "   .balign 2\n"
    "   .global nk_dot4_q8_armv6m\n"
    "   .hidden nk_dot4_q8_armv6m\n"
    "   .type nk_dot4_q8_armv6m, %function\n"
    "   .thumb_func\n"
    "nk_dot4_q8_armv6m:\n"              /* r0 = q, r1 = rb, r2 = x, r3 = s */
    "   push {r4-r7, lr}\n"
    "   mov r4, r8\n"
    "   mov r5, r9\n"
    "   mov r6, r10\n"
    "   mov r7, r11\n"
    "   push {r3-r7}\n"                 /* s, then the caller's r8-r11 */
    "   adds r3, r0, r1\n"              /* row pointers r0, r3, r4, r5 */
    "   adds r4, r3, r1\n"
    "   adds r5, r4, r1\n"
    "   movs r1, #0\n"                  /* k */
    "   mov r8, r1\n"
    "   mov r9, r1\n"
    "   mov r10, r1\n"
    "   mov r11, r1\n"
    "   .irp j, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31\n"
    "   ldrh r6, [r2, #(2 * \\j)]\n"
    "   sxth r6, r6\n"                  /* x[j] */
    "   ldrsb r7, [r0, r1]\n"
    "   muls r7, r6\n"
    "   add r8, r7\n"
    "   ldrsb r7, [r3, r1]\n"
    "   muls r7, r6\n"
    "   add r9, r7\n"
    "   ldrsb r7, [r4, r1]\n"
    "   muls r7, r6\n"
    "   add r10, r7\n"
    "   ldrsb r7, [r5, r1]\n"
    "   muls r7, r6\n"
    "   add r11, r7\n"
    "   adds r1, #1\n"
    "   .endr\n"
    "   pop {r3}\n"
    "   mov r4, r8\n"
    "   mov r5, r9\n"
    "   mov r6, r10\n"
    "   mov r7, r11\n"
    "   stmia r3!, {r4-r7}\n"
    "   pop {r4-r7}\n"
    "   mov r8, r4\n"
    "   mov r9, r5\n"
    "   mov r10, r6\n"
    "   mov r11, r7\n"
    "   pop {r4-r7, pc}\n"
    "   .size nk_dot4_q8_armv6m, . - nk_dot4_q8_armv6m\n"
    "   .popsection\n");

/* Blocks whose dot products are made (four rows at a time) before their scales are applied
 * (one row at a time, with the row's state in registers): 8 x 4 sums on the stack. */
#define NK_CHUNK 8

/* acc_block over the blocks of one row from p up to pend (34 bytes apart), in assembly:
 * block b's dot product is s[4 * b]; st = {a0, a1, emax} of the row, updated. The pair
 * (a0, a1) means a0 * 2**13 + a1 as in acc_block, but the carry out of a1 is taken once,
 * at the end, not per block: each block adds the same integer to that sum as acc_block
 * does, and |a1| grows by less than 2**25 per block (NK_CHUNK of them at most per call),
 * so nothing overflows and the pair stored back is acc_block's, bit for bit.
 * Per block with the row's largest exponent (k = 0): 26 instructions, the C took 45-50:
 * the row's state stays in registers (a0 in r8, the end in r9, 1024 in r10). */
void nk_scale_row_armv6m(const uint8_t *p, const uint8_t *pend, const int32_t *s, int32_t *st);
__asm__(
    "   .pushsection .text.nk_scale_row_armv6m,\"ax\",%progbits\n"
    "   .syntax unified\n"
    "   .balign 2\n"
    "   .global nk_scale_row_armv6m\n"
    "   .hidden nk_scale_row_armv6m\n"
    "   .type nk_scale_row_armv6m, %function\n"
    "   .thumb_func\n"
    "nk_scale_row_armv6m:\n"            /* r0 = p, r1 = pend, r2 = s, r3 = st */
    "   push {r4-r7, lr}\n"
    "   mov r4, r8\n"
    "   mov r5, r9\n"
    "   mov r6, r10\n"
    "   push {r3-r6}\n"                 /* st, then the caller's r8-r10 */
    "   mov r9, r1\n"                   /* pend */
    "   movs r1, #1\n"
    "   lsls r1, r1, #10\n"
    "   mov r10, r1\n"                  /* the implicit mantissa bit */
    "   ldr r1, [r3, #0]\n"
    "   mov r8, r1\n"                   /* a0 */
    "   ldr r5, [r3, #8]\n"             /* emax */
    "   ldr r3, [r3, #4]\n"             /* a1 */
    "   cmp r0, r9\n"
    "   beq 9f\n"
    "1: ldrb r6, [r0, #1]\n"
    "   ldrb r1, [r0, #0]\n"
    "   lsls r6, r6, #8\n"
    "   orrs r6, r1\n"                  /* h: the block's fp16 scale */
    "   ldr r7, [r2, #0]\n"             /* v: its dot product */
    "   adds r2, #16\n"
    "   adds r0, #34\n"
    "   lsls r4, r6, #17\n"
    "   lsrs r4, r4, #27\n"             /* e = (h >> 10) & 31 */
    "   beq 5f\n"
    "   lsls r1, r6, #22\n"
    "   lsrs r1, r1, #22\n"
    "   add r1, r10\n"                  /* m = (h & 1023) | 1024 */
    "2: lsls r6, r6, #16\n"             /* N = the sign bit */
    "   bpl 3f\n"
    "   negs r1, r1\n"
    "3: subs r4, r5, r4\n"              /* k = emax - e */
    "   bne 6f\n"
    "4: lsls r6, r7, #19\n"
    "   lsrs r6, r6, #19\n"
    "   muls r6, r1\n"
    "   adds r3, r3, r6\n"              /* a1 += (v & 8191) * m */
    "   asrs r7, r7, #13\n"
    "   muls r7, r1\n"
    "   add r8, r7\n"                   /* a0 += (v >> 13) * m */
    "8: cmp r0, r9\n"
    "   bne 1b\n"
    "9: pop {r0}\n"                     /* st */
    "   asrs r1, r3, #13\n"
    "   add r1, r8\n"
    "   str r1, [r0, #0]\n"             /* a0 + the carry out of a1 */
    "   lsls r3, r3, #19\n"
    "   lsrs r3, r3, #19\n"
    "   str r3, [r0, #4]\n"             /* a1 & 8191 */
    "   pop {r4-r6}\n"
    "   mov r8, r4\n"
    "   mov r9, r5\n"
    "   mov r10, r6\n"
    "   pop {r4-r7, pc}\n"
    "5: movs r4, #1\n"                  /* subnormal: exponent 1, no implicit bit */
    "   lsls r1, r6, #22\n"
    "   lsrs r1, r1, #22\n"
    "   b 2b\n"
    "6: cmp r4, #13\n"
    "   bgt 7f\n"
    "   movs r6, #1\n"                  /* 1 <= k <= 13 */
    "   lsls r6, r4\n"
    "   subs r6, #1\n"
    "   ands r6, r7\n"
    "   muls r6, r1\n"
    "   asrs r6, r4\n"
    "   adds r3, r3, r6\n"              /* a1 += ((v & (2**k - 1)) * m) >> k */
    "   asrs r7, r4\n"                  /* v >>= k */
    "   b 4b\n"
    "7: cmp r4, #24\n"
    "   bgt 8b\n"                       /* below 2**-24 of the row's largest block: nothing */
    "   subs r4, #13\n"                 /* 14 <= k <= 24 */
    "   asrs r7, r4\n"                  /* u = v >> (k - 13) */
    "   lsls r6, r7, #19\n"
    "   lsrs r6, r6, #19\n"
    "   muls r6, r1\n"
    "   asrs r6, r6, #13\n"
    "   adds r3, r3, r6\n"              /* a1 += ((u & 8191) * m) >> 13 */
    "   asrs r7, r7, #13\n"             /* v >>= k */
    "   b 4b\n"
    "   .size nk_scale_row_armv6m, . - nk_scale_row_armv6m\n"
    "   .popsection\n");

void nk_matvec_q8_0(const uint8_t *w, int32_t n_rows, int32_t n_cols,
                    const int16_t *x, int32_t shx, int32_t *out) {
    int32_t nb = n_cols >> 5;
    int32_t rb = nb * 34;
    int32_t r = 0;
    int32_t s[4 * NK_CHUNK];
    while (r < n_rows) {
        /* four rows at a time; the last n_rows % 4 one at a time (rb 0: row 0 four times) */
        int32_t g = n_rows - r >= 4 ? 4 : 1;
        int32_t step = g == 4 ? rb : 0;
        const uint8_t *row = w + r * rb;
        int32_t st[12]; /* a0, a1, emax of each row */
        for (int32_t i = 0; i < g; i++) {
            st[3 * i] = 0;
            st[3 * i + 1] = 0;
            st[3 * i + 2] = row_exp_q8(row + i * rb, nb);
        }
        for (int32_t b0 = 0; b0 < nb; b0 += NK_CHUNK) {
            int32_t n = nb - b0 < NK_CHUNK ? nb - b0 : NK_CHUNK;
            const uint8_t *p = row + b0 * 34;
            for (int32_t b = 0; b < n; b++) {
                nk_dot4_q8_armv6m(p + b * 34 + 2, step, x + ((b0 + b) << 5), s + 4 * b);
            }
            for (int32_t i = 0; i < g; i++) {
                nk_scale_row_armv6m(p + i * rb, p + i * rb + n * 34, s + i, st + 3 * i);
            }
        }
        for (int32_t i = 0; i < g; i++) {
            out[r + i] = acc_out(st[3 * i], st[3 * i + 1], 25 - st[3 * i + 2] - shx);
        }
        r += g;
    }
}
#elif defined(NK_Q8_FOUR_ROWS)
/* Cortex-M3/M4/M7/M33 and RISC-V (rv32imc): four rows at a time, in two passes over each
 * chunk of blocks (as the armv6m code above): the block dots of the four rows into s[]
 * (dots4_q8), then the block scales of one row at a time applied to them
 * (nk_q8_scale_rows), the row's state in registers. */

/* blocks per chunk (s[] takes 16 bytes a block on the stack); a row of up to this many
 * blocks finds its largest exponent while its scales are applied (nk_q8_scale_rows) */
#define NK_Q8_CHUNK 24

#if defined(__ARM_FEATURE_DSP)
/* Cortex-M4/M7/M33 (armv7e-m, armv8-m mainline with the DSP extension: the armv7emsp
 * module and firmware for those cores): SMLAD, two 16x16 multiply-accumulates in one
 * instruction, four rows at a time, in assembly.
 *
 * s[4*b + i] = sum_j (int8)q[i*rb + 34*b + j] * x[32*b + j], j = 0..31, i = 0..3, for the
 * n >= 1 blocks b (rb = 0 gives four copies of row 0). A word of four quants b0..b3 gives
 * (b0, b2) with SXTB16 and (b1, b3) with SXTB16 after a rotation by 8; the matching inputs
 * (x0, x2) and (x1, x3) are packed from two words of x (one LDRD) with PKHBT/PKHTB once for
 * the four rows. Per four columns: the load and two packs shared, then per row one load,
 * two SXTB16 and two SMLAD: 23 instructions for 16 multiply-accumulates. One pointer walks
 * the quants of row 0 (post-indexed); rows 1-3 are read at rb, 2 rb and 3 rb from it
 * (register offsets), which leaves a register to count the blocks: 4 instructions a block
 * of four rows besides. Products are below 2**21 and sums below 2**26, so SMLAD's 32-bit
 * sums equal the C's (no wrap, no saturation involved). The quants are 2-byte aligned at
 * best (the word loads rely on the core's unaligned LDR); x must be 4-byte aligned (LDRD).
 * Registers: r0 the quants, r4 rb, r5 3 rb, r6 the blocks left, r2 x, r3 s, r7-r10 the
 * sums, r11 (x0, x2), lr (x1, x3), r12 the quants' word, r1 one half of it sign-extended. */
void nk_dots4_q8_dsp(const uint8_t *q, int32_t rb, const int16_t *x, int32_t *s, int32_t n);
__asm__(
    "   .pushsection .text.nk_dots4_q8_dsp,\"ax\",%progbits\n"
    "   .syntax unified\n"
    "   .balign 2\n"
    "   .global nk_dots4_q8_dsp\n"
    "   .hidden nk_dots4_q8_dsp\n"
    "   .type nk_dots4_q8_dsp, %function\n"
    "   .thumb_func\n"
    /* one row's four columns j..j+3 from the word in r12: acc += (b0, b2).(x0, x2) +
     * (b1, b3).(x1, x3); the block's first columns (j = 0) set acc instead */
    "   .macro nk_dsp_mac acc, j\n"
    "   sxtb16 r1, r12\n"
    "   .if \\j\n"
    "   smlad \\acc, r1, r11, \\acc\n"
    "   .else\n"
    "   smuad \\acc, r1, r11\n"
    "   .endif\n"
    "   sxtb16 r1, r12, ror #8\n"
    "   smlad \\acc, r1, lr, \\acc\n"
    "   .endm\n"
    "nk_dots4_q8_dsp:\n"
    "   push {r4-r11, lr}\n"
    "   ldr r6, [sp, #36]\n"                  /* n */
    "   mov r4, r1\n"
    "   add r5, r1, r1, lsl #1\n"
    "1:\n"
    "   .irp j, 0, 4, 8, 12, 16, 20, 24, 28\n"
    "   ldrd r11, r12, [r2], #8\n"            /* (x0, x1), (x2, x3) */
    "   pkhtb lr, r12, r11, asr #16\n"         /* (x1, x3) */
    "   pkhbt r11, r11, r12, lsl #16\n"        /* (x0, x2) */
    "   ldr r12, [r0, r4]\n"
    "   nk_dsp_mac r8, \\j\n"
    "   ldr r12, [r0, r4, lsl #1]\n"
    "   nk_dsp_mac r9, \\j\n"
    "   ldr r12, [r0, r5]\n"
    "   nk_dsp_mac r10, \\j\n"
    "   ldr r12, [r0], #4\n"
    "   nk_dsp_mac r7, \\j\n"
    "   .endr\n"
    "   adds r0, #2\n"                         /* past the next block's scale */
    "   stmia r3!, {r7-r10}\n"
    "   subs r6, #1\n"
    "   bne 1b\n"
    "   pop {r4-r11, pc}\n"
    "   .purgem nk_dsp_mac\n"
    "   .size nk_dots4_q8_dsp, . - nk_dots4_q8_dsp\n"
    "   .popsection\n");

static void dots4_q8(const uint8_t *q, int32_t rb, const int16_t *x, int32_t *s, int32_t n) {
    if (((uintptr_t)x & 3) == 0) {
        nk_dots4_q8_dsp(q, rb, x, s, n);
        return;
    }
    /* x only 2-byte aligned (a slice of an array): each block's inputs copied for LDRD */
    union { int32_t w[16]; int16_t h[32]; } xa;
    for (int32_t b = 0; b < n; b++) {
        for (int32_t j = 0; j < 32; j++) {
            xa.h[j] = x[32 * b + j];
        }
        nk_dots4_q8_dsp(q + 34 * b, rb, xa.h, s + 4 * b, 1);
    }
}
#elif defined(__riscv)
/* RISC-V (rv32imc: ESP32-C3/C6): no SIMD, but registers enough for four rows at a time, so
 * that each x[j] is loaded once for the four: per column one lh, then per row lb, mul, add
 * (13 instructions for 4 MACs, against 16 one row at a time), the 32 columns unrolled so
 * that every load takes a constant offset, the block's first column setting the sums.
 * 11 instructions a block of four rows besides (the sums stored, the pointers moved).
 * s[4*b + i] as nk_dots4_q8_dsp. Registers: a0 a5 a6 a7 the rows, a2 x, a3 s, a1 its end,
 * t3-t6 the sums, t0 x[j], t1 t2 a quant and its product. */
void nk_dots4_q8_rv(const uint8_t *q, int32_t rb, const int16_t *x, int32_t *s, int32_t n);
__asm__(
    "   .pushsection .text.nk_dots4_q8_rv,\"ax\",@progbits\n"
    "   .balign 2\n"
    "   .global nk_dots4_q8_rv\n"
    "   .hidden nk_dots4_q8_rv\n"
    "   .type nk_dots4_q8_rv, @function\n"
    "   .macro nk_rv_mac acc, q, tmp, j\n"
    "   lb \\tmp, \\j(\\q)\n"
    "   .if \\j\n"
    "   mul \\tmp, \\tmp, t0\n"
    "   add \\acc, \\acc, \\tmp\n"
    "   .else\n"
    "   mul \\acc, \\tmp, t0\n"
    "   .endif\n"
    "   .endm\n"
    "nk_dots4_q8_rv:\n"
    "   add a5, a0, a1\n"
    "   add a6, a5, a1\n"
    "   add a7, a6, a1\n"
    "   slli a1, a4, 4\n"
    "   add a1, a1, a3\n"                      /* s + 4 n */
    "1:\n"
    "   .irp j, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31\n"
    "   lh t0, (2 * \\j)(a2)\n"
    "   nk_rv_mac t3, a0, t1, \\j\n"
    "   nk_rv_mac t4, a5, t2, \\j\n"
    "   nk_rv_mac t5, a6, t1, \\j\n"
    "   nk_rv_mac t6, a7, t2, \\j\n"
    "   .endr\n"
    "   sw t3, 0(a3)\n"
    "   sw t4, 4(a3)\n"
    "   sw t5, 8(a3)\n"
    "   sw t6, 12(a3)\n"
    "   addi a0, a0, 34\n"
    "   addi a5, a5, 34\n"
    "   addi a6, a6, 34\n"
    "   addi a7, a7, 34\n"
    "   addi a2, a2, 64\n"
    "   addi a3, a3, 16\n"
    "   bne a3, a1, 1b\n"
    "   ret\n"
    "   .purgem nk_rv_mac\n"
    "   .size nk_dots4_q8_rv, . - nk_dots4_q8_rv\n"
    "   .popsection\n");
#define dots4_q8 nk_dots4_q8_rv
#else
/* The Cortex-M3 (armv7m): no SIMD, but registers enough for four rows at a time, so that
 * each x[j] is loaded once for the four: per column one ldrsh, then per row ldrsb and mla,
 * the 32 columns written out by a macro so that every load takes a constant offset from
 * its row's pointer (as a loop, GCC's -Os kept six induction variables). Same sums as
 * dot_q8. */
static inline void dot4_q8_c(const uint8_t *q, int32_t rb, const int16_t *x, int32_t *s) {
    const int8_t *q0 = (const int8_t *)q, *q1 = q0 + rb, *q2 = q1 + rb, *q3 = q2 + rb;
    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#define NK_COL4(j) { int32_t xj = x[j]; s0 += q0[j] * xj; s1 += q1[j] * xj; s2 += q2[j] * xj; s3 += q3[j] * xj; }
#define NK_COLS8(j) NK_COL4(j) NK_COL4(j + 1) NK_COL4(j + 2) NK_COL4(j + 3) \
    NK_COL4(j + 4) NK_COL4(j + 5) NK_COL4(j + 6) NK_COL4(j + 7)
    NK_COLS8(0) NK_COLS8(8) NK_COLS8(16) NK_COLS8(24)
#undef NK_COLS8
#undef NK_COL4
    s[0] = s0;
    s[1] = s1;
    s[2] = s2;
    s[3] = s3;
}

/* s[4*b + i] for the n blocks b, as nk_dots4_q8_dsp */
static void dots4_q8(const uint8_t *q, int32_t rb, const int16_t *x, int32_t *s, int32_t n) {
    for (int32_t b = 0; b < n; b++) {
        dot4_q8_c(q, rb, x, s);
        q += 34;
        x += 32;
        s += 4;
    }
}
#endif

/* The block scales of g >= 1 rows applied to their dots, in assembly. Row i's n blocks
 * start at p + i*rb (34 bytes apart), block b's dot is s[4*b + i], and st[3*i .. 3*i + 2]
 * is the row's acc_block pair (a0, a1) and its largest exponent emax. Each block is added as
 * acc_block adds it: floor(s * m * 2**(e - emax)), exactly, for e >= emax - 13; the floor of
 * (s >> (emax - e - 13)) * m / 2**13 down to emax - 24; nothing below. The row's sum is held
 * in one 64-bit integer, a0 * 2**13 + a1: the same integer while it is below 2**44, where
 * a0 fits 32 bits. n > 0: the rows start from 0 and the first block's exponent is taken for
 * emax, a later block with a larger one starting the row over with that; n < 0: -n blocks
 * added to the pairs in st, emax given there (the row's largest).
 * A block whose scale is positive, normal and of exponent emax (most of them) takes one
 * subtraction, one compare and a 32x32->64-bit multiply-accumulate: m = h - (emax - 1) * 2**10
 * is then the mantissa with its implicit bit, and any other h gives an m outside
 * [2**10, 2**11). The other blocks take the general step: m (signed) shifted up by
 * 13 - (emax - e) (or s shifted down by the excess over 13), the 64-bit product shifted
 * down by 13: floor(s * m / 2**k) in one formula for every case of acc_block. The block loop
 * is unrolled twice (an odd n enters it at its second half). GCC's -O2 code of the C (one
 * row per call, the other blocks in a C function) took 18 instructions a block on the
 * Cortex-M4 and 19 on RISC-V, against 7 and 12.5 here. */
void nk_q8_scale_rows(const uint8_t *p, int32_t rb, const int32_t *s, int32_t n, int32_t g, int32_t *st);
#if defined(__riscv)
/* the same for rows whose scales are at odd addresses (rv32imc has no unaligned lhu) */
void nk_q8_scale_rows_u(const uint8_t *p, int32_t rb, const int32_t *s, int32_t n, int32_t g, int32_t *st);
/* Registers: a0 the row, a1 rb, a2 its dots, a3 34 n, a4 the rows left, a5 st, a6 1,
 * s4 n < 0; t0 the blocks, t1 their dots, t2 the row's end, t3 (emax - 1) * 2**10,
 * t4/t5 the sum's low and high words, t6 emax; a7 s0-s3 scratch. */
__asm__(
    "   .macro nk_rv_h16 rd, base, off, aligned\n"
    "   .if \\aligned\n"
    "   lhu \\rd, \\off(\\base)\n"
    "   .else\n"
    "   lbu \\rd, \\off(\\base)\n"
    "   lbu s1, (\\off + 1)(\\base)\n"
    "   slli s1, s1, 8\n"
    "   or \\rd, \\rd, s1\n"
    "   .endif\n"
    "   .endm\n"
    /* one block: h at off(t0), its dot at soff(t1); not the common case: to slow */
    "   .macro nk_rv_blk off, soff, slow, aligned\n"
    "   nk_rv_h16 a7, t0, \\off, \\aligned\n"
    "   lw s0, \\soff(t1)\n"
    "   sub a7, a7, t3\n"                     /* m */
    "   srli s1, a7, 10\n"
    "   bne s1, a6, \\slow\n"
    "   mul s1, s0, a7\n"
    "   mulh s2, s0, a7\n"
    "   add t4, t4, s1\n"
    "   sltu s1, t4, s1\n"
    "   add t5, t5, s2\n"
    "   add t5, t5, s1\n"
    "   .endm\n"
    /* the general step for a7 = h - (emax - 1) * 2**10 and s0 = s, then on to ret; a block
     * whose exponent is above emax goes to 30 (the row again) */
    "   .macro nk_rv_general ret\n"
    "   add a7, a7, t3\n"                     /* h */
    "   srli s1, a7, 10\n"
    "   andi s1, s1, 31\n"                    /* e */
    "   andi s2, a7, 1023\n"
    "   beqz s1, .Lsub\\@\n"
    "   ori s2, s2, 1024\n"                   /* the implicit bit */
    ".Lsgn\\@:\n"
    "   slli s3, a7, 16\n"
    "   bgez s3, .Lpos\\@\n"
    "   neg s2, s2\n"                         /* m */
    ".Lpos\\@:\n"
    "   sub s1, t6, s1\n"                     /* k = emax - e */
    "   bltz s1, 30f\n"
    "   li s3, 13\n"
    "   sub s3, s3, s1\n"
    "   bltz s3, .Lbig\\@\n"
    "   sll s2, s2, s3\n"                     /* m * 2**(13 - k) */
    ".Lmul\\@:\n"
    "   mul s1, s0, s2\n"
    "   mulh s3, s0, s2\n"
    "   srli s1, s1, 13\n"
    "   slli s2, s3, 19\n"
    "   or s1, s1, s2\n"
    "   srai s2, s3, 13\n"                    /* the product >> 13 */
    "   add t4, t4, s1\n"
    "   sltu s1, t4, s1\n"
    "   add t5, t5, s2\n"
    "   add t5, t5, s1\n"
    "   j \\ret\n"
    ".Lsub\\@:\n"
    "   li s1, 1\n"                           /* subnormal: exponent 1, no implicit bit */
    "   j .Lsgn\\@\n"
    ".Lbig\\@:\n"                             /* k > 13 */
    "   addi s1, s3, 11\n"
    "   bltz s1, \\ret\n"                     /* k > 24: nothing */
    "   neg s3, s3\n"
    "   sra s0, s0, s3\n"                     /* s >> (k - 13) */
    "   j .Lmul\\@\n"
    "   .endm\n"
    "   .macro nk_rv_scale_rows name, aligned\n"
    "   .pushsection .text.\\name,\"ax\",@progbits\n"
    "   .balign 2\n"
    "   .global \\name\n"
    "   .hidden \\name\n"
    "   .type \\name, @function\n"
    "\\name:\n"
    "   addi sp, sp, -32\n"
    "   sw s0, 28(sp)\n"
    "   sw s1, 24(sp)\n"
    "   sw s2, 20(sp)\n"
    "   sw s3, 16(sp)\n"
    "   sw s4, 12(sp)\n"
    "   srli s4, a3, 31\n"
    "   bgez a3, 1f\n"
    "   neg a3, a3\n"
    "1:\n"
    "   slli t0, a3, 5\n"
    "   slli a3, a3, 1\n"
    "   add a3, a3, t0\n"                     /* 34 n */
    "   li a6, 1\n"
    "2:\n"                                    /* row */
    "   add t2, a0, a3\n"
    "   beqz s4, 3f\n"
    "   lw s0, 0(a5)\n"                       /* carried on: the pair as a 64-bit sum */
    "   lw s1, 4(a5)\n"
    "   lw t6, 8(a5)\n"
    "   slli t4, s0, 13\n"
    "   or t4, t4, s1\n"
    "   srai t5, s0, 19\n"
    "   j 4f\n"
    "3:\n"                                    /* a new row: emax the first block's */
    "   li t4, 0\n"
    "   li t5, 0\n"
    "   nk_rv_h16 a7, a0, 0, \\aligned\n"
    "   srli t6, a7, 10\n"
    "   andi t6, t6, 31\n"
    "   bnez t6, 4f\n"
    "   li t6, 1\n"
    "4:\n"                                    /* (re)start the row */
    "   mv t0, a0\n"
    "   mv t1, a2\n"
    "   addi t3, t6, -1\n"
    "   slli t3, t3, 10\n"
    "   andi s0, a3, 2\n"
    "   beqz s0, 5f\n"
    "   addi t0, t0, -34\n"                   /* n odd: in at the second half */
    "   addi t1, t1, -16\n"
    "   j 6f\n"
    "5:\n"
    "   nk_rv_blk 0, 0, 20f, \\aligned\n"
    "6:\n"
    "   nk_rv_blk 34, 16, 21f, \\aligned\n"
    "7:\n"
    "   addi t0, t0, 68\n"
    "   addi t1, t1, 32\n"
    "   bne t0, t2, 5b\n"
    "   srli s0, t4, 13\n"                    /* the pair: a0, a1 */
    "   slli s1, t5, 19\n"
    "   or s0, s0, s1\n"
    "   slli s1, t4, 19\n"
    "   srli s1, s1, 19\n"
    "   sw s0, 0(a5)\n"
    "   sw s1, 4(a5)\n"
    "   sw t6, 8(a5)\n"
    "   addi a5, a5, 12\n"
    "   add a0, a0, a1\n"
    "   addi a2, a2, 4\n"
    "   addi a4, a4, -1\n"
    "   bnez a4, 2b\n"
    "   lw s0, 28(sp)\n"
    "   lw s1, 24(sp)\n"
    "   lw s2, 20(sp)\n"
    "   lw s3, 16(sp)\n"
    "   lw s4, 12(sp)\n"
    "   addi sp, sp, 32\n"
    "   ret\n"
    "20:\n"
    "   nk_rv_general 6b\n"
    "21:\n"
    "   nk_rv_general 7b\n"
    "30:\n"                                   /* an exponent above emax: the row again */
    "   sub t6, t6, s1\n"
    "   li t4, 0\n"
    "   li t5, 0\n"
    "   j 4b\n"
    "   .size \\name, . - \\name\n"
    "   .popsection\n"
    "   .endm\n"
    "   nk_rv_scale_rows nk_q8_scale_rows, 1\n"
    "   nk_rv_scale_rows nk_q8_scale_rows_u, 0\n"
    "   .purgem nk_rv_scale_rows\n"
    "   .purgem nk_rv_general\n"
    "   .purgem nk_rv_blk\n"
    "   .purgem nk_rv_h16\n");
#define Q8_SCALE_ROWS(al) ((al) ? nk_q8_scale_rows : nk_q8_scale_rows_u)
#else
/* Cortex-M3/M4/M7/M33 (Thumb-2; LDRH takes any address). Registers: r4 the blocks, r5
 * their dots, r6 1, r7 (emax - 1) * 2**10, r8 the row's end, r9/r10 the sum's low and high
 * words, r11 emax, r12 st, lr the rows left; r0-r3 scratch. On the stack: rb, 34 n, the
 * row, its dots, n < 0. */
__asm__(
    "   .syntax unified\n"
    /* one block; not the common case: to slow */
    "   .macro nk_v7m_blk slow\n"
    "   ldrh r2, [r4], #34\n"
    "   ldr r3, [r5], #16\n"
    "   subs r2, r2, r7\n"                 /* m */
    "   cmp r6, r2, lsr #10\n"
    "   bne \\slow\n"
    "   smlal r9, r10, r3, r2\n"
    "   .endm\n"
    /* the general step for r2 = h - (emax - 1) * 2**10 and r3 = s, then on to ret; a block
     * whose exponent is above emax goes to 30 (the row again) */
    "   .macro nk_v7m_general ret\n"
    "   add r2, r2, r7\n"                  /* h */
    "   ubfx r1, r2, #0, #10\n"
    "   ubfx r0, r2, #10, #5\n"            /* e */
    "   cbz r0, .Lsub\\@\n"
    "   orr r1, r1, #1024\n"               /* the implicit bit */
    ".Lsgn\\@:\n"
    "   tst r2, #0x8000\n"
    "   it ne\n"
    "   rsbne r1, r1, #0\n"                /* m */
    "   subs r0, r11, r0\n"                /* k = emax - e */
    "   bmi 30f\n"
    "   rsbs r2, r0, #13\n"
    "   bmi .Lbig\\@\n"
    "   lsls r1, r1, r2\n"                 /* m * 2**(13 - k) */
    ".Lmul\\@:\n"
    "   smull r0, r1, r3, r1\n"
    "   lsrs r0, r0, #13\n"
    "   orr r0, r0, r1, lsl #19\n"
    "   asrs r1, r1, #13\n"                /* the product >> 13 */
    "   adds r9, r9, r0\n"
    "   adc r10, r10, r1\n"
    "   b \\ret\n"
    ".Lsub\\@:\n"
    "   movs r0, #1\n"                     /* subnormal: exponent 1, no implicit bit */
    "   b .Lsgn\\@\n"
    ".Lbig\\@:\n"                          /* k > 13 */
    "   cmn r2, #11\n"
    "   blt \\ret\n"                       /* k > 24: nothing */
    "   rsbs r2, r2, #0\n"
    "   asrs r3, r3, r2\n"                 /* s >> (k - 13) */
    "   b .Lmul\\@\n"
    "   .endm\n"
    "   .pushsection .text.nk_q8_scale_rows,\"ax\",%progbits\n"
    "   .balign 2\n"
    "   .global nk_q8_scale_rows\n"
    "   .hidden nk_q8_scale_rows\n"
    "   .type nk_q8_scale_rows, %function\n"
    "   .thumb_func\n"
    "nk_q8_scale_rows:\n"                /* r0 p, r1 rb, r2 s, r3 n, [sp] g, [sp + 4] st */
    "   push {r4-r11, lr}\n"
    "   sub sp, #20\n"
    "   ldr lr, [sp, #56]\n"
    "   ldr r12, [sp, #60]\n"
    "   movs r4, #0\n"
    "   cmp r3, #0\n"
    "   bge 1f\n"
    "   rsbs r3, r3, #0\n"
    "   movs r4, #1\n"
    "1: str r4, [sp, #16]\n"
    "   add r3, r3, r3, lsl #4\n"
    "   lsls r3, r3, #1\n"
    "   strd r1, r3, [sp]\n"              /* rb, 34 n */
    "   strd r0, r2, [sp, #8]\n"          /* the row, its dots */
    "   movs r6, #1\n"
    "2: ldrd r4, r5, [sp, #8]\n"          /* row */
    "   ldr r8, [sp, #4]\n"
    "   add r8, r8, r4\n"
    "   ldr r0, [sp, #16]\n"
    "   cbz r0, 3f\n"
    "   ldrd r0, r1, [r12]\n"             /* carried on: the pair as a 64-bit sum */
    "   orr r9, r1, r0, lsl #13\n"
    "   asr r10, r0, #19\n"
    "   ldr r11, [r12, #8]\n"
    "   b 4f\n"
    "3: mov r9, #0\n"                     /* a new row: emax the first block's */
    "   mov r10, #0\n"
    "   ldrh r2, [r4]\n"
    "   ubfx r11, r2, #10, #5\n"
    "   cmp r11, #1\n"
    "   it lo\n"
    "   movlo r11, #1\n"
    "4: sub r7, r11, #1\n"                /* (re)start the row */
    "   lsl r7, r7, #10\n"
    "   ldr r0, [sp, #4]\n"
    "   tst r0, #2\n"
    "   bne 6f\n"                         /* n odd: in at the second half */
    "5: nk_v7m_blk 20f\n"
    "6: nk_v7m_blk 21f\n"
    "7: cmp r4, r8\n"
    "   bne 5b\n"
    "   lsrs r0, r9, #13\n"               /* the pair: a0, a1 */
    "   orr r0, r0, r10, lsl #19\n"
    "   ubfx r1, r9, #0, #13\n"
    "   strd r0, r1, [r12]\n"
    "   str r11, [r12, #8]\n"
    "   add r12, r12, #12\n"
    "   subs lr, lr, #1\n"
    "   beq 8f\n"
    "   ldrd r0, r1, [sp, #8]\n"
    "   ldr r2, [sp]\n"
    "   add r0, r0, r2\n"
    "   adds r1, #4\n"
    "   strd r0, r1, [sp, #8]\n"
    "   b 2b\n"
    "8: add sp, #20\n"
    "   pop {r4-r11, pc}\n"
    "20: nk_v7m_general 6b\n"
    "21: nk_v7m_general 7b\n"
    "30: sub r11, r11, r0\n"              /* an exponent above emax: the row again */
    "   ldrd r4, r5, [sp, #8]\n"
    "   mov r9, #0\n"
    "   mov r10, #0\n"
    "   b 4b\n"
    "   .size nk_q8_scale_rows, . - nk_q8_scale_rows\n"
    "   .popsection\n"
    "   .purgem nk_v7m_general\n"
    "   .purgem nk_v7m_blk\n");
#define Q8_SCALE_ROWS(al) nk_q8_scale_rows
#endif

typedef void (*q8_scale_fn)(const uint8_t *, int32_t, const int32_t *, int32_t, int32_t, int32_t *);

void nk_matvec_q8_0(const uint8_t *w, int32_t n_rows, int32_t n_cols,
                    const int16_t *x, int32_t shx, int32_t *out) {
    int32_t nb = n_cols >> 5;
    int32_t rb = nb * 34;
    int32_t s[4 * NK_Q8_CHUNK];
    int32_t st[12]; /* per row: a0, a1, emax */
    if (nb == 0) {
        for (int32_t r = 0; r < n_rows; r++) {
            out[r] = 0; /* acc_out(0, 0, r) */
        }
        return;
    }
    /* every block's scale has w's alignment: rb and 34 are even */
    q8_scale_fn scale_rows = Q8_SCALE_ROWS(((uintptr_t)w & 1) == 0);
    int32_t r = 0;
    while (r < n_rows) {
        /* four rows at a time (rows r0..r0+3, of which rows r0+k.. are new); the last
         * n_rows % 4 with the rows before them, done again (the same outputs), when there
         * are four; else one at a time (step 0: the dots of row r0 four times) */
        int32_t r0 = r, k = 0, step = rb, g = 4;
        if (n_rows - r < 4) {
            if (n_rows >= 4) {
                r0 = n_rows - 4;
                k = r - r0;
                g = 4 - k;
            } else {
                step = 0;
                g = 1;
            }
        }
        const uint8_t *row = w + r0 * rb;
        const uint8_t *p = row + k * rb;
        if (nb <= NK_Q8_CHUNK) {
            /* the whole row in one chunk: emax found on the way */
            dots4_q8(row + 2, step, x, s, nb);
            scale_rows(p, rb, s + k, nb, g, st);
        } else {
            for (int32_t i = 0; i < g; i++) {
                st[3 * i] = 0;
                st[3 * i + 1] = 0;
                st[3 * i + 2] = row_exp_q8(p + i * rb, nb);
            }
            for (int32_t b0 = 0; b0 < nb; b0 += NK_Q8_CHUNK) {
                int32_t n = nb - b0 < NK_Q8_CHUNK ? nb - b0 : NK_Q8_CHUNK;
                dots4_q8(row + b0 * 34 + 2, step, x + (b0 << 5), s, n);
                scale_rows(p + b0 * 34, rb, s + k, -n, g, st);
            }
        }
        for (int32_t i = 0; i < g; i++) {
            out[r + i] = acc_out(st[3 * i], st[3 * i + 1], 25 - st[3 * i + 2] - shx);
        }
        r += g;
    }
}
#else
/* 32 int8 quants . 32 int16 inputs; |result| <= 2**25 */
static inline int32_t dot_q8(const uint8_t *q, const int16_t *x) {
    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (int32_t j = 0; j < 32; j += 4) {
        s0 += (int8_t)q[j] * x[j];
        s1 += (int8_t)q[j + 1] * x[j + 1];
        s2 += (int8_t)q[j + 2] * x[j + 2];
        s3 += (int8_t)q[j + 3] * x[j + 3];
    }
    return (s0 + s1) + (s2 + s3);
}

void nk_matvec_q8_0(const uint8_t *w, int32_t n_rows, int32_t n_cols,
                    const int16_t *x, int32_t shx, int32_t *out) {
#if NK_X64
    if (nk_simd_matvec(8, w, n_rows, n_cols, x, shx, out)) {
        return;
    }
#endif
    int32_t nb = n_cols >> 5;
    int32_t rb = nb * 34;
    for (int32_t r = 0; r < n_rows; r++) {
        const uint8_t *row = w + r * rb;
        int32_t emax = row_exp(row, nb, 34, 0);
        int32_t a0 = 0, a1 = 0;
        for (int32_t b = 0; b < nb; b++) {
            const uint8_t *p = row + b * 34;
            uint32_t h = rd16(p);
            int32_t s = dot_q8(p + 2, x + (b << 5));
            acc_block(&a0, &a1, s, f16_man(h), emax - f16_exp(h));
        }
        out[r] = acc_out(a0, a1, 25 - emax - shx);
    }
}

#endif

void nk_matvec_q4_0(const uint8_t *w, int32_t n_rows, int32_t n_cols,
                    const int16_t *x, int32_t shx, int32_t *out) {
#if NK_X64
    if (nk_simd_matvec(2, w, n_rows, n_cols, x, shx, out)) {
        return;
    }
#endif
    int32_t nb = n_cols >> 5;
    int32_t rb = nb * 18;
    for (int32_t r = 0; r < n_rows; r++) {
        const uint8_t *row = w + r * rb;
        int32_t emax = row_exp(row, nb, 18, 0);
        int32_t a0 = 0, a1 = 0;
        for (int32_t b = 0; b < nb; b++) {
            const uint8_t *p = row + b * 18;
            uint32_t h = rd16(p);
            const uint8_t *q = p + 2;
            const int16_t *xa = x + (b << 5);
            const int16_t *xb = xa + 16;
            /* sum (lo-8)*xa + (hi-8)*xb = sum lo*xa + hi*xb - 8*sum(xa+xb) */
            int32_t s0 = 0, s1 = 0, sx = 0;
            for (int32_t j = 0; j < 16; j += 2) {
                uint32_t q0 = q[j], q1 = q[j + 1];
                s0 += (int32_t)(q0 & 15) * xa[j] + (int32_t)(q0 >> 4) * xb[j];
                s1 += (int32_t)(q1 & 15) * xa[j + 1] + (int32_t)(q1 >> 4) * xb[j + 1];
                sx += xa[j] + xb[j] + xa[j + 1] + xb[j + 1];
            }
            int32_t s = s0 + s1 - 8 * sx;
            acc_block(&a0, &a1, s, f16_man(h), emax - f16_exp(h));
        }
        out[r] = acc_out(a0, a1, 25 - emax - shx);
    }
}

void nk_matvec_q4_1(const uint8_t *w, int32_t n_rows, int32_t n_cols,
                    const int16_t *x, int32_t shx, int32_t *out) {
#if NK_X64
    if (nk_simd_matvec(3, w, n_rows, n_cols, x, shx, out)) {
        return;
    }
#endif
    int32_t nb = n_cols >> 5;
    int32_t rb = nb * 20;
    for (int32_t r = 0; r < n_rows; r++) {
        const uint8_t *row = w + r * rb;
        int32_t ed = row_exp(row, nb, 20, 0);
        int32_t em = row_exp(row, nb, 20, 2);
        int32_t a0 = 0, a1 = 0, c0 = 0, c1 = 0;
        for (int32_t b = 0; b < nb; b++) {
            const uint8_t *p = row + b * 20;
            uint32_t hd = rd16(p);
            uint32_t hm = rd16(p + 2);
            const uint8_t *q = p + 4;
            const int16_t *xa = x + (b << 5);
            const int16_t *xb = xa + 16;
            int32_t s1 = 0, s2 = 0;
            for (int32_t j = 0; j < 16; j++) {
                uint32_t qq = q[j];
                s1 += (int32_t)(qq & 15) * xa[j] + (int32_t)(qq >> 4) * xb[j];
                s2 += xa[j] + xb[j];
            }
            acc_block(&a0, &a1, s1, f16_man(hd), ed - f16_exp(hd));
            acc_block(&c0, &c1, s2, f16_man(hm), em - f16_exp(hm));
        }
        out[r] = (int32_t)((uint32_t)acc_out(a0, a1, 25 - ed - shx)
                           + (uint32_t)acc_out(c0, c1, 25 - em - shx));
    }
}

/* q4_K's 6-bit scale and min of sub-block j from the 12 packed bytes (kernels_py._k4_sc, _k4_mn) */
NK_INLINE int32_t k4_sc(const uint8_t *s, int32_t j) {
    return j < 4 ? (s[j] & 63) : ((s[j + 4] & 15) | ((s[j - 4] >> 6) << 4));
}

NK_INLINE int32_t k4_mn(const uint8_t *s, int32_t j) {
    return j < 4 ? (s[j + 4] & 63) : ((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
}

/* q . x over one q4_K sub-block of 32: the low nibbles of q[0..31], or the high ones */
NK_INLINE int32_t k4_dot_lo(const uint8_t *q, const int16_t *xa) {
    int32_t s = 0;
    for (int32_t i = 0; i < 32; i += 2) {
        s += (int32_t)(q[i] & 15) * xa[i] + (int32_t)(q[i + 1] & 15) * xa[i + 1];
    }
    return s;
}

NK_INLINE int32_t k4_dot_hi(const uint8_t *q, const int16_t *xa) {
    int32_t s = 0;
    for (int32_t i = 0; i < 32; i += 2) {
        s += (int32_t)(q[i] >> 4) * xa[i] + (int32_t)(q[i + 1] >> 4) * xa[i + 1];
    }
    return s;
}

NK_INLINE int32_t sum32(const int16_t *xa) {
    int32_t t = 0;
    for (int32_t i = 0; i < 32; i++) {
        t += xa[i];
    }
    return t;
}

/* rows up to this many sub-blocks (4096 columns) take their input sums from a table made
 * once per call, on the stack (512 bytes); wider ones sum the inputs row by row */
#define K4_XS_MAX 128

void nk_matvec_q4_K(const uint8_t *w, int32_t n_rows, int32_t n_cols,
                    const int16_t *x, int32_t shx, int32_t *out) {
    /* no SIMD form: the plain loop on every target */
    int32_t nb = n_cols >> 8;
    int32_t rb = nb * 144;
    int32_t xs[K4_XS_MAX];
    int32_t have_xs = nb * 8 <= K4_XS_MAX;
    if (have_xs) {
        for (int32_t k = 0; k < nb * 8; k++) {
            xs[k] = sum32(x + 32 * k);
        }
    }
    for (int32_t r = 0; r < n_rows; r++) {
        const uint8_t *row = w + r * rb;
        int32_t ed = row_exp(row, nb, 144, 0);
        int32_t em = row_exp(row, nb, 144, 2);
        int32_t a0 = 0, a1 = 0, c0 = 0, c1 = 0;
        for (int32_t b = 0; b < nb; b++) {
            const uint8_t *p = row + b * 144;
            const int16_t *xb = x + (b << 8);
            int32_t sd = 0, sm = 0;
            /* sub-block j: the low nibbles of bytes 32 (j / 2) .. (the high ones for odd j);
             * one pass per sub-block keeps the loop within the M0's eight low registers */
            for (int32_t j = 0; j < 8; j++) {
                const uint8_t *q = p + 16 + 32 * (j >> 1);
                const int16_t *xa = xb + 32 * j;
                int32_t s = (j & 1) ? k4_dot_hi(q, xa) : k4_dot_lo(q, xa);
                int32_t t = have_xs ? xs[b * 8 + j] : sum32(xa);
                sd += k4_sc(p + 4, j) * s;
                sm += k4_mn(p + 4, j) * t;
            }
            uint32_t hd = rd16(p), hm = rd16(p + 2);
            /* sd's part 2**6 coarser (kernels_py.matvec_q4_K) */
            acc_block(&a0, &a1, sd, f16_man(hd), ed - f16_exp(hd) + 6);
            acc_block(&c0, &c1, -sm, f16_man(hm), em - f16_exp(hm));
        }
        out[r] = (int32_t)((uint32_t)acc_out(a0, a1, 19 - ed - shx)
                           + (uint32_t)acc_out(c0, c1, 25 - em - shx));
    }
}

static void dequant_row_q4_K(const uint8_t *w, int32_t n_cols, int32_t *out) {
    for (int32_t b = 0; b < (n_cols >> 8); b++) {
        const uint8_t *p = w + b * 144;
        uint32_t hd = rd16(p), hm = rd16(p + 2);
        int32_t md = f16_man(hd), mm = f16_man(hm);
        int32_t sd = f16_exp(hd) - 9, sm = f16_exp(hm) - 9;
        for (int32_t j = 0; j < 8; j++) {
            int32_t dj = k4_sc(p + 4, j) * md;
            int32_t mv = shr(k4_mn(p + 4, j) * mm, -sm);
            const uint8_t *q = p + 16 + 32 * (j >> 1);
            int32_t sh = 4 * (j & 1);
            int32_t *o = out + (b << 8) + 32 * j;
            for (int32_t i = 0; i < 32; i++) {
                o[i] = (int32_t)((uint32_t)shr((int32_t)((q[i] >> sh) & 15) * dj, -sd) - (uint32_t)mv);
            }
        }
    }
}

/* round(man * 2**s) to the nearest integer, halves away from zero, negated when sign is
 * set: a float's value in Q16 as the load checks it (model._f32_parts_to_fixed), which
 * refuses files where this would not fit 31 bits. */
static int32_t float_q16(uint32_t sign, uint32_t man, int32_t s) {
    uint32_t v;
    if (s >= 0) {
        v = s < 31 && man < (1u << (31 - s)) ? man << s : 0x7FFFFFFF; /* (too large: refused at load) */
    } else if (s > -25) {
        v = (man + (1u << (-s - 1))) >> -s;
    } else {
        v = 0; /* man < 2**24: from 2**-25 down it rounds to 0 */
    }
    return sign ? -(int32_t)v : (int32_t)v;
}

/* n f32 (wtype 0) or f16 (wtype 1) numbers into Q16: a norm or bias vector per token */
static void float_row_q16(const uint8_t *w, int32_t wtype, int32_t n, int32_t *out) {
    for (int32_t j = 0; j < n; j++) {
        uint32_t sign, e, man;
        int32_t s;
        if (wtype == 0) {
            uint32_t b = (uint32_t)w[4 * j] | ((uint32_t)w[4 * j + 1] << 8) | ((uint32_t)w[4 * j + 2] << 16)
                | ((uint32_t)w[4 * j + 3] << 24);
            sign = b >> 31;
            e = (b >> 23) & 255;
            man = b & 0x7FFFFF;
            s = e ? (int32_t)e - 134 : 1 - 134;
            man |= e ? 0x800000u : 0;
        } else {
            uint32_t h = rd16(w + 2 * j);
            sign = h >> 15;
            e = (h >> 10) & 31;
            man = h & 1023;
            s = e ? (int32_t)e - 9 : 1 - 9;
            man |= e ? 1024u : 0;
        }
        out[j] = float_q16(sign, man, s);
    }
}

void nk_dequant_row_q(const uint8_t *w, int32_t wtype, int32_t n_cols, int32_t *out) {
    if (wtype < 2) {
        float_row_q16(w, wtype, n_cols, out);
        return;
    }
    if (wtype == 12) {
        dequant_row_q4_K(w, n_cols, out);
        return;
    }
    int32_t nb = n_cols >> 5;
    for (int32_t b = 0; b < nb; b++) {
        int32_t *o = out + (b << 5);
        if (wtype == 8) {
            const uint8_t *p = w + b * 34;
            uint32_t h = rd16(p);
            int32_t m = f16_man(h), s = f16_exp(h) - 9;
            for (int32_t j = 0; j < 32; j++) {
                o[j] = shr((int8_t)p[2 + j] * m, -s);
            }
        } else if (wtype == 2) {
            const uint8_t *p = w + b * 18;
            uint32_t h = rd16(p);
            int32_t m = f16_man(h), s = f16_exp(h) - 9;
            for (int32_t j = 0; j < 16; j++) {
                uint32_t q = p[2 + j];
                o[j] = shr(((int32_t)(q & 15) - 8) * m, -s);
                o[16 + j] = shr(((int32_t)(q >> 4) - 8) * m, -s);
            }
        } else {
            const uint8_t *p = w + b * 20;
            uint32_t hd = rd16(p), hm = rd16(p + 2);
            int32_t md = f16_man(hd), mm = f16_man(hm);
            int32_t sd = f16_exp(hd) - 9, sm = f16_exp(hm) - 9;
            int32_t mv = shr(mm, -sm);
            for (int32_t j = 0; j < 16; j++) {
                uint32_t q = p[4 + j];
                o[j] = (int32_t)((uint32_t)shr((int32_t)(q & 15) * md, -sd) + (uint32_t)mv);
                o[16 + j] = (int32_t)((uint32_t)shr((int32_t)(q >> 4) * md, -sd) + (uint32_t)mv);
            }
        }
    }
}

void nk_add_q(int32_t *dst, const int32_t *src, int32_t n) {
    for (int32_t i = 0; i < n; i++) {
        dst[i] = (int32_t)((uint32_t)dst[i] + (uint32_t)src[i]);
    }
}

int32_t nk_isqrt(int32_t v) {
    int32_t r = 0;
    int32_t bit = 1 << 30;
    while (bit > v) {
        bit >>= 2;
    }
    while (bit) {
        if (v >= r + bit) {
            v -= r + bit;
            r = (r >> 1) + bit;
        } else {
            r >>= 1;
        }
        bit >>= 2;
    }
    return r;
}

void nk_layernorm_q(const int32_t *x, int32_t n, const int32_t *g, const int32_t *b,
                    int32_t *out, int32_t eps_q32) {
    int32_t s_hi = 0, s_lo = 0;
    for (int32_t i = 0; i < n; i++) {
        s_hi += x[i] >> 12;
        s_lo += x[i] & 4095;
    }
    int32_t q1 = floordiv(s_hi, n);
    int32_t mean = q1 * 4096 + floordiv((s_hi - q1 * n) * 4096 + s_lo, n);
    uint32_t m = 0;
    for (int32_t i = 0; i < n; i++) {
        int32_t v = x[i] - mean;
        uint32_t a = v < 0 ? 0u - (uint32_t)v : (uint32_t)v;
        if (a > m) {
            m = a;
        }
    }
    if (m == 0) {
        for (int32_t i = 0; i < n; i++) {
            out[i] = b[i];
        }
        return;
    }
    int32_t sh = bitlen(m) - 14; /* centred values scaled to |v| < 2**14, up by <= 2**5 */
    if (sh < -5) {
        sh = -5;
    }
    int32_t ss = 0;
    for (int32_t i = 0; i < n; i++) {
        int32_t v = shr(x[i] - mean, sh);
        ss += (v * v) >> 10;
    }
    int32_t var = ss / n; /* ss >= 0 */
    int32_t eps = asr(eps_q32, 10 + 2 * sh);
    /* a = (var + eps) * 4**e in [2**28, 2**30): the square root keeps >= 14 bits */
    uint32_t a = (uint32_t)var + (uint32_t)eps;
    int32_t e = 0;
    while (a >= (1u << 30)) {
        a >>= 2;
        e -= 1;
    }
    while (a != 0 && a < (1u << 28)) { /* a == 0 would not terminate in the Python */
        a <<= 2;
        e += 1;
    }
    int32_t sd = nk_isqrt((int32_t)a);
    if (sd == 0) {
        sd = 1;
    }
    int32_t bl = bitlen((uint32_t)sd);
    int32_t inv = (int32_t)((1u << (15 + bl)) / (uint32_t)sd);
    int32_t nsh = 6 + bl - e;
    for (int32_t i = 0; i < n; i++) {
        int32_t v = shr(x[i] - mean, sh);
        int32_t z = (v * inv) >> nsh;
        int32_t gi = g[i];
        out[i] = ((z * (gi >> 10)) >> 4) + ((z * (gi & 1023)) >> 14) + b[i];
    }
}

void nk_gelu_q(int32_t *buf, int32_t n) {
    for (int32_t i = 0; i < n; i++) {
        int32_t v = buf[i];
        if (v >= 524288) {
            continue;
        }
        if (v < -524288) {
            buf[i] = 0;
            continue;
        }
        int32_t u = v + 524288;
        int32_t k = u >> 11;
        int32_t f = u & 2047;
        int32_t a = NK_GELU[k];
        buf[i] = a + (((NK_GELU[k + 1] - a) * f) >> 11);
    }
}

void nk_kv_store(const int32_t *src, int32_t n, uint8_t *dst, uint8_t *sc2) {
    uint32_t m = 0;
    for (int32_t i = 0; i < n; i++) {
        int32_t v = src[i];
        uint32_t a = v < 0 ? 0u - (uint32_t)v : (uint32_t)v;
        if (a > m) {
            m = a;
        }
    }
    int32_t t = (int32_t)((m + 126u) / 127u);
    if (t == 0) {
        t = 1;
    }
    int32_t es = bitlen((uint32_t)t) - 8;
    int32_t ms;
    if (es > 0) {
        ms = (t + (1 << es) - 1) >> es;
        if (ms == 256) {
            ms = 128;
            es += 1;
        }
    } else {
        ms = t << -es;
    }
    int32_t inv = (1 << 22) / ms;
    for (int32_t i = 0; i < n; i++) {
        int32_t k = (shr(src[i], es) * inv + (1 << 21)) >> 22;
        if (k > 127) {
            k = 127;
        } else if (k < -127) {
            k = -127;
        }
        dst[i] = (uint8_t)(k & 255);
    }
    sc2[0] = (uint8_t)ms;
    sc2[1] = (uint8_t)(es & 255);
}

int32_t nk_exp_neg_q12(int32_t u12) {
    int32_t e2 = (int32_t)(((int64_t)u12 * LOG2E_Q13) >> 13);
    int32_t ip = e2 >> 12;
    if (ip >= 17) {
        return 0;
    }
    int32_t f = e2 & 4095;
    int32_t i = f >> 4;
    int32_t a = NK_EXP2[i];
    return (a - (((a - NK_EXP2[i + 1]) * (f & 15)) >> 4)) >> ip;
}

void nk_attend_head(const int32_t *q, int32_t hd, const uint8_t *kc, const uint8_t *ks,
                    const uint8_t *vc, const uint8_t *vs, int32_t n_pos, int32_t stride,
                    int32_t ho, int32_t n_head, int32_t h, int32_t c_isq,
                    int32_t *scores, int16_t *q16, int32_t *out) {
    int32_t sq = nk_to_x16(q, hd, q16);
    int32_t smax = -(1 << 30);
    for (int32_t t = 0; t < n_pos; t++) {
        const uint8_t *k = kc + t * stride + ho;
        int32_t dot = 0;
        for (int32_t j = 0; j < hd; j++) {
            dot += q16[j] * (int8_t)k[j];
        }
        int32_t si = 2 * (t * n_head + h);
        int32_t c = (c_isq * ks[si]) >> 8;
        int32_t e = (int8_t)ks[si + 1];
        int32_t t1 = (dot >> 15) * c + (((dot & 32767) * c) >> 15);
        int32_t s = shr(t1, 12 - sq - e);
        scores[t] = s;
        if (s > smax) {
            smax = s;
        }
    }
    int32_t total = 0;
    for (int32_t t = 0; t < n_pos; t++) {
        int32_t u = smax - scores[t];
        int32_t p = 0;
        if (u < SOFTMAX_CUTOFF) {
            int32_t e2 = (u * LOG2E_Q13) >> 13;
            int32_t ip = e2 >> 12;
            if (ip < 17) {
                int32_t f = e2 & 4095;
                int32_t i = f >> 4;
                int32_t a = NK_EXP2[i];
                p = (a - (((a - NK_EXP2[i + 1]) * (f & 15)) >> 4)) >> ip;
            }
        }
        scores[t] = p;
        total += p;
    }
    int32_t bl = bitlen((uint32_t)total);
    int32_t inv = (1 << 29) / (total >> (bl - 16));
    int32_t wsh = bl - 1;
    int32_t emax = -128;
    for (int32_t t = 0; t < n_pos; t++) {
        int32_t e = (int8_t)vs[2 * (t * n_head + h) + 1];
        if (e > emax) {
            emax = e;
        }
    }
    int32_t *o = out + ho;
    for (int32_t j = 0; j < hd; j++) {
        o[j] = 0;
    }
    for (int32_t t = 0; t < n_pos; t++) {
        int32_t si = 2 * (t * n_head + h);
        int32_t wt = (((scores[t] * inv) >> wsh) * vs[si]) >> 8;
        int32_t ds = emax - (int8_t)vs[si + 1];
        const uint8_t *v = vc + t * stride + ho;
        for (int32_t j = 0; j < hd; j++) {
            o[j] += asr(wt * (int8_t)v[j], ds);
        }
    }
    int32_t osh = 6 - emax;
    for (int32_t j = 0; j < hd; j++) {
        o[j] = shr(o[j], osh);
    }
}
