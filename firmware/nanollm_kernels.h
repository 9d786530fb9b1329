/* nanollm integer kernels in plain C99: no MicroPython types.
 *
 * Each function computes exactly what its namesake in lib/nanollm/kernels_py.py
 * computes (read that file for the formats and bounds); the tests hold them to it
 * bit for bit. All arithmetic is 32-bit, as on a Cortex-M0: the Python states that
 * every intermediate stays below 2**31 in magnitude. Shifts go through helpers that
 * give Python's floor semantics and wrap like a 32-bit store where the Python result
 * would not fit an array('i') item anyway.
 *
 * Buffers: w/kc/vc/ks/vs/dst8 are bytes, x/q16 are int16, everything Q16 is int32.
 * Callers (the natmod binding) have already checked every length.
 */
#ifndef NANOLLM_KERNELS_H
#define NANOLLM_KERNELS_H

#include <stdint.h>

int32_t nk_to_x16(const int32_t *src, int32_t n, int16_t *dst);
void nk_matvec_q8_0(const uint8_t *w, int32_t n_rows, int32_t n_cols,
                    const int16_t *x, int32_t shx, int32_t *out);
void nk_matvec_q4_0(const uint8_t *w, int32_t n_rows, int32_t n_cols,
                    const int16_t *x, int32_t shx, int32_t *out);
void nk_matvec_q4_1(const uint8_t *w, int32_t n_rows, int32_t n_cols,
                    const int16_t *x, int32_t shx, int32_t *out);
/* ggml's q4_K: super-blocks of 256 elements in 144 bytes (n_cols a multiple of 256) */
void nk_matvec_q4_K(const uint8_t *w, int32_t n_rows, int32_t n_cols,
                    const int16_t *x, int32_t shx, int32_t *out);
/* wtype 8 q8_0, 2 q4_0, 3 q4_1, 12 q4_K; 0 f32 and 1 f16: n_cols numbers rounded to Q16 */
void nk_dequant_row_q(const uint8_t *w, int32_t wtype, int32_t n_cols, int32_t *out);
void nk_add_q(int32_t *dst, const int32_t *src, int32_t n);
int32_t nk_isqrt(int32_t v);
void nk_layernorm_q(const int32_t *x, int32_t n, const int32_t *g, const int32_t *b,
                    int32_t *out, int32_t eps_q32);
void nk_gelu_q(int32_t *buf, int32_t n);
void nk_kv_store(const int32_t *src, int32_t n, uint8_t *dst, uint8_t *sc2);
/* kc/vc/ks/vs are whole caches; out points at the head's first output (out[ho]). */
void nk_attend_head(const int32_t *q, int32_t hd, const uint8_t *kc, const uint8_t *ks,
                    const uint8_t *vc, const uint8_t *vs, int32_t n_pos, int32_t stride,
                    int32_t ho, int32_t n_head, int32_t h, int32_t c_isq,
                    int32_t *scores, int16_t *q16, int32_t *out);

/* The sampler's scans over the vocabulary (nanollm_sample.c; kernels_py.argmax_q ...).
 * lg: Q16 logits, p: token weights (>= 0, summing below 2**30), top: token indices. */
int32_t nk_exp_neg_q12(int32_t u12); /* 0 <= u12 < 2**18 */
int32_t nk_argmax_q(const int32_t *lg, int32_t n);
int32_t nk_top_k_q(const int32_t *lg, int32_t n, int32_t k, int32_t *top);
int32_t nk_weights_q(const int32_t *lg, int32_t n, int32_t bv, int32_t inv_t_q10, int32_t cutoff,
                     int32_t p_shift, int32_t *p);
int32_t nk_top_p_q(int32_t *p, int32_t n, int32_t want, int32_t hi);
int32_t nk_draw_q(const int32_t *p, int32_t n, int32_t r);

/* The SIMD level of the matvec kernels (nanollm_simd.c): x64 has SSE2 and AVX2 forms,
 * chosen by cpuid at the first call; tests and benchmarks switch with nk_simd_set
 * (0 .. nk_simd_best()). Elsewhere the level is always NK_SIMD_NONE. */
#define NK_SIMD_NONE 0
#define NK_SIMD_SSE2 1
#define NK_SIMD_AVX2 2
int32_t nk_simd_best(void);
int32_t nk_simd_level(void);
void nk_simd_set(int32_t level);

#if defined(__x86_64__)
#define NK_X64 1
/* the matvec of block type wtype (8 q8_0, 2 q4_0, 3 q4_1) at the SIMD level in use;
 * returns 0 (and does nothing) at level 0 */
int nk_simd_matvec(int32_t wtype, const uint8_t *w, int32_t n_rows, int32_t n_cols,
                   const int16_t *x, int32_t shx, int32_t *out);
#else
#define NK_X64 0
#endif

#endif
