/* SIMD forms of the quantized matrix-vector kernels (x64: SSE2 and AVX2), bit-identical
 * to the plain C ones in nanollm_kernels.c and so to lib/nanollm/kernels_py.py.
 *
 * Why exact integer SIMD gives the same bits:
 *   - a block's dot product s = sum q[j] * x[j]: the int8 (or 4-bit) weights are widened
 *     to int16 and multiplied with the int16 inputs by pmaddwd, which adds pairs of
 *     products in int32. |q| <= 128 and |x| <= 2**15, so a pair is below 2**23 and the 32
 *     products of a block below 2**27: every sum is exact, in any order.
 *   - the block scales: kernels_py._acc_block adds c = floor(floor(s / 2**k1) * m / 2**k2)
 *     per block (k the block's exponent below the row's largest, k1 = max(k - 13, 0),
 *     k2 = min(k, 13), nothing for k > 24) into two 32-bit words, so that a Cortex-M0 gets
 *     the exact sum. |c| < 2**38; here the sum is kept in int64, which holds it exactly,
 *     and the final shift into Q16 is applied to that int64 as acc_out applies it to the
 *     two words (tests/mpy/native_cases.py holds every level to kernels_py).
 *
 * A dynamic native module is compiled once for every x64 machine, so it cannot assume
 * more than the baseline (SSE2). The AVX2 functions are compiled for AVX2 alone with a
 * function attribute (the rest of the module stays baseline), and cpuid chooses at the
 * first call: AVX2 when the CPU has it and the OS saves its registers, else SSE2.
 * nk_simd_set() switches level, for tests and benchmarks. Off x64 only level 0 exists.
 */
#include "nanollm_kernels.h"
#include "nanollm_blocks.h"

/* level + 1 of the kernels in use; 0 until the first call has asked the CPU. Not static,
 * and zero-initialised: a dynamic native module reaches writable data only through its
 * global offset table (tools/mpy_ld.py refuses static and initialised data). */
int32_t nk_simd_sel;

#if NK_X64

#include <immintrin.h>

#define NK_AVX2 __attribute__((target("avx2")))
#define NK_AVX2_INLINE static inline __attribute__((target("avx2"), always_inline))

static void cpuid(uint32_t leaf, uint32_t r[4]) {
    __asm__ volatile ("cpuid" : "=a" (r[0]), "=b" (r[1]), "=c" (r[2]), "=d" (r[3]) : "a" (leaf), "c" (0));
}

int32_t nk_simd_best(void) {
    uint32_t r[4];
    cpuid(0, r);
    uint32_t max_leaf = r[0];
    cpuid(1, r);
    /* AVX needs the CPU (ECX bit 28) and the OS saving the ymm registers: OSXSAVE (bit 27)
     * and XCR0's SSE and AVX state bits */
    if ((r[2] & (1u << 27)) && (r[2] & (1u << 28)) && max_leaf >= 7) {
        uint32_t lo, hi;
        __asm__ volatile ("xgetbv" : "=a" (lo), "=d" (hi) : "c" (0));
        (void)hi;
        cpuid(7, r);
        if ((lo & 6) == 6 && (r[1] & (1u << 5))) { /* leaf 7 EBX bit 5: AVX2 */
            return NK_SIMD_AVX2;
        }
    }
    return NK_SIMD_SSE2; /* every x86-64 CPU has SSE2 */
}

/* ------------------------------------------------------------ scalar parts (int64) */

/* one block's term c (see the top of this file), exactly */
static inline int64_t block_term(int32_t s, uint32_t h, int32_t emax) {
    int32_t k = emax - f16_exp(h);
    if (k > 24) {
        return 0;
    }
    int32_t k1 = k > 13 ? k - 13 : 0;
    int32_t k2 = k < 13 ? k : 13;
    return ((int64_t)(s >> k1) * f16_man(h)) >> k2;
}

/* kernels_py._acc_out on the exact sum a: floor(a / 2**r), or a * 2**-r, as an int32 item */
static inline int32_t acc_out64(int64_t a, int32_t r) {
    if (r >= 0) {
        return (int32_t)(uint32_t)(uint64_t)(a >> (r > 63 ? 63 : r));
    }
    if (r <= -32) {
        return 0; /* every bit shifted past the 32 an item keeps */
    }
    return (int32_t)(uint32_t)((uint64_t)a << -r);
}

static int32_t row_emax(const uint8_t *row, int32_t nb, int32_t bs, int32_t off) {
    int32_t emax = 1;
    for (int32_t b = 0; b < nb; b++) {
        int32_t e = f16_exp(rd16(row + b * bs + off));
        emax = e > emax ? e : emax;
    }
    return emax;
}

/* The block layouts (ggml): bytes per block, where the quants start. q4_1's second scale
 * (the offset m) sits at byte 2 and is summed against sum(x) separately. */
#define BS_Q8_0 34
#define BS_Q4_0 18
#define BS_Q4_1 20

/* ------------------------------------------------------------ SSE2 */

/* int8 lanes sign-extended to int16: the byte duplicated into both halves, shifted back */
static inline __m128i widen_lo_i8(__m128i v) {
    return _mm_srai_epi16(_mm_unpacklo_epi8(v, v), 8);
}

static inline __m128i widen_hi_i8(__m128i v) {
    return _mm_srai_epi16(_mm_unpackhi_epi8(v, v), 8);
}

static inline __m128i ld128(const void *p) {
    return _mm_loadu_si128((const __m128i *)p);
}

static inline int32_t hsum4(__m128i v) {
    v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0x4E)); /* + the other 64-bit half */
    v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0xB1)); /* + the neighbour */
    return _mm_cvtsi128_si32(v);
}

/* the block sums of one block, as four int32 lanes to be added: q8_0, q4_0, q4_1 (d part);
 * x points at the block's 32 inputs */
static inline __m128i dot_q8_0_sse2(const uint8_t *q, const int16_t *x) {
    __m128i a = ld128(q), b = ld128(q + 16);
    __m128i p = _mm_add_epi32(_mm_madd_epi16(widen_lo_i8(a), ld128(x)), _mm_madd_epi16(widen_hi_i8(a), ld128(x + 8)));
    p = _mm_add_epi32(p, _mm_madd_epi16(widen_lo_i8(b), ld128(x + 16)));
    return _mm_add_epi32(p, _mm_madd_epi16(widen_hi_i8(b), ld128(x + 24)));
}

/* byte j holds element j (low nibble) and element j + 16 (high nibble) */
static inline __m128i dot_nibbles_sse2(const uint8_t *q, const int16_t *x, int32_t bias) {
    const __m128i m4 = _mm_set1_epi8(15), zero = _mm_setzero_si128(), c = _mm_set1_epi16((int16_t)bias);
    __m128i v = ld128(q);
    __m128i lo = _mm_and_si128(v, m4), hi = _mm_and_si128(_mm_srli_epi16(v, 4), m4);
    /* nibbles 0..15 widened with zeros, minus the bias (8 for q4_0, 0 for q4_1) */
    __m128i p = _mm_madd_epi16(_mm_sub_epi16(_mm_unpacklo_epi8(lo, zero), c), ld128(x));
    p = _mm_add_epi32(p, _mm_madd_epi16(_mm_sub_epi16(_mm_unpackhi_epi8(lo, zero), c), ld128(x + 8)));
    p = _mm_add_epi32(p, _mm_madd_epi16(_mm_sub_epi16(_mm_unpacklo_epi8(hi, zero), c), ld128(x + 16)));
    return _mm_add_epi32(p, _mm_madd_epi16(_mm_sub_epi16(_mm_unpackhi_epi8(hi, zero), c), ld128(x + 24)));
}

/* sum of a block's 32 inputs (q4_1's offset part) */
static inline __m128i sum_x_sse2(const int16_t *x) {
    const __m128i one = _mm_set1_epi16(1);
    __m128i p = _mm_add_epi32(_mm_madd_epi16(ld128(x), one), _mm_madd_epi16(ld128(x + 8), one));
    return _mm_add_epi32(p, _mm_add_epi32(_mm_madd_epi16(ld128(x + 16), one), _mm_madd_epi16(ld128(x + 24), one)));
}

/* wtype is a constant in each caller (matvec_sse2 below): one specialised loop per type */
static inline __attribute__((always_inline)) void matvec_sse2_t(int32_t wtype, const uint8_t *w, int32_t n_rows,
                                                               int32_t n_cols, const int16_t *x, int32_t shx,
                                                               int32_t *out) {
    int32_t nb = n_cols >> 5;
    int32_t bs = wtype == 8 ? BS_Q8_0 : wtype == 2 ? BS_Q4_0 : BS_Q4_1;
    for (int32_t r = 0; r < n_rows; r++) {
        const uint8_t *row = w + (size_t)r * nb * bs;
        int32_t ed = row_emax(row, nb, bs, 0);
        int32_t em = wtype == 3 ? row_emax(row, nb, bs, 2) : 1;
        int64_t ad = 0, am = 0;
        for (int32_t b = 0; b < nb; b++) {
            const uint8_t *p = row + b * bs;
            const int16_t *xb = x + (b << 5);
            if (wtype == 8) {
                ad += block_term(hsum4(dot_q8_0_sse2(p + 2, xb)), rd16(p), ed);
            } else if (wtype == 2) {
                ad += block_term(hsum4(dot_nibbles_sse2(p + 2, xb, 8)), rd16(p), ed);
            } else {
                ad += block_term(hsum4(dot_nibbles_sse2(p + 4, xb, 0)), rd16(p), ed);
                am += block_term(hsum4(sum_x_sse2(xb)), rd16(p + 2), em);
            }
        }
        int32_t v = acc_out64(ad, 25 - ed - shx);
        if (wtype == 3) {
            v = (int32_t)((uint32_t)v + (uint32_t)acc_out64(am, 25 - em - shx));
        }
        out[r] = v;
    }
}

static void matvec_sse2(int32_t wtype, const uint8_t *w, int32_t n_rows, int32_t n_cols,
                        const int16_t *x, int32_t shx, int32_t *out) {
    if (wtype == 8) {
        matvec_sse2_t(8, w, n_rows, n_cols, x, shx, out);
    } else if (wtype == 2) {
        matvec_sse2_t(2, w, n_rows, n_cols, x, shx, out);
    } else {
        matvec_sse2_t(3, w, n_rows, n_cols, x, shx, out);
    }
}

/* ------------------------------------------------------------ AVX2 */

NK_AVX2_INLINE __m256i ld256(const void *p) {
    return _mm256_loadu_si256((const __m256i *)p);
}

/* a block's products as eight int32 lanes to be added (as the SSE2 ones above) */
NK_AVX2_INLINE __m256i dot_q8_0_avx2(const uint8_t *q, const int16_t *x) {
    __m256i a = _mm256_cvtepi8_epi16(ld128(q)), b = _mm256_cvtepi8_epi16(ld128(q + 16));
    return _mm256_add_epi32(_mm256_madd_epi16(a, ld256(x)), _mm256_madd_epi16(b, ld256(x + 16)));
}

/* q4's nibbles as they are (0..15): byte j holds element j (low) and element j + 16 (high) */
NK_AVX2_INLINE __m256i dot_nibbles_avx2(const uint8_t *q, const int16_t *x) {
    const __m128i m4 = _mm_set1_epi8(15);
    __m128i v = ld128(q);
    __m256i lo = _mm256_cvtepu8_epi16(_mm_and_si128(v, m4));
    __m256i hi = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(v, 4), m4));
    return _mm256_add_epi32(_mm256_madd_epi16(lo, ld256(x)), _mm256_madd_epi16(hi, ld256(x + 16)));
}

NK_AVX2_INLINE __m256i sum_x_avx2(const int16_t *x) {
    const __m256i one = _mm256_set1_epi16(1);
    return _mm256_add_epi32(_mm256_madd_epi16(ld256(x), one), _mm256_madd_epi16(ld256(x + 16), one));
}

NK_AVX2_INLINE int32_t hsum8(__m256i v) {
    return hsum4(_mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1)));
}

/* floor(p / 2**k) per int64 lane, 0 <= k <= 13, |p| < 2**38: AVX2 has no arithmetic 64-bit
 * shift, so shift p + 2**50 (positive) logically and take 2**(50 - k) back off */
NK_AVX2_INLINE __m256i floor_shift64(__m256i p, __m256i k) {
    const __m256i bias = _mm256_set1_epi64x((int64_t)1 << 50);
    return _mm256_sub_epi64(_mm256_srlv_epi64(_mm256_add_epi64(p, bias), k), _mm256_srlv_epi64(bias, k));
}

/* acc (four int64 lanes) += the terms c of eight blocks: s their dot products, h their fp16
 * scale bits (low 16 bits of each lane), emax the row's largest exponent (in every lane) */
NK_AVX2_INLINE __m256i acc_terms8(__m256i acc, __m256i s, __m256i h, __m256i emax) {
    const __m256i zero = _mm256_setzero_si256(), c13 = _mm256_set1_epi32(13);
    __m256i er = _mm256_and_si256(_mm256_srli_epi32(h, 10), _mm256_set1_epi32(31));
    __m256i e = _mm256_max_epi32(er, _mm256_set1_epi32(1));
    /* mantissa with the implicit bit of a normal number, then the sign */
    __m256i m = _mm256_or_si256(_mm256_and_si256(h, _mm256_set1_epi32(1023)),
                                _mm256_and_si256(_mm256_cmpgt_epi32(er, zero), _mm256_set1_epi32(1024)));
    __m256i neg = _mm256_srai_epi32(_mm256_slli_epi32(h, 16), 31);
    m = _mm256_sub_epi32(_mm256_xor_si256(m, neg), neg);
    __m256i k = _mm256_sub_epi32(emax, e);
    m = _mm256_andnot_si256(_mm256_cmpgt_epi32(k, _mm256_set1_epi32(24)), m); /* k > 24: nothing */
    __m256i k1 = _mm256_max_epi32(_mm256_sub_epi32(k, c13), zero);
    __m256i k2 = _mm256_min_epi32(k, c13);
    __m256i t = _mm256_srav_epi32(s, k1);
    /* t * m exactly, in int64: the even lanes, then the odd ones moved down */
    __m256i pe = _mm256_mul_epi32(t, m);
    __m256i po = _mm256_mul_epi32(_mm256_srli_epi64(t, 32), _mm256_srli_epi64(m, 32));
    __m256i k2e = _mm256_and_si256(k2, _mm256_set1_epi64x(0xFFFFFFFF));
    __m256i k2o = _mm256_srli_epi64(k2, 32);
    return _mm256_add_epi64(acc, _mm256_add_epi64(floor_shift64(pe, k2e), floor_shift64(po, k2o)));
}

NK_AVX2_INLINE int64_t hsum64x4(__m256i v) {
    __m128i a = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    a = _mm_add_epi64(a, _mm_unpackhi_epi64(a, a));
    return _mm_cvtsi128_si64(a);
}

/* offsets of eight consecutive blocks' scales, for the gathers */
NK_AVX2_INLINE __m256i block_offsets(int32_t bs) {
    return _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(bs));
}

/* the 32 bits at p + idx[i] per lane (a scale and the byte after it; callers use the low 16) */
NK_AVX2_INLINE __m256i gather(const uint8_t *p, __m256i idx) {
    return _mm256_i32gather_epi32((const int *)(const void *)p, idx, 1);
}

NK_AVX2_INLINE int32_t row_emax_avx2(const uint8_t *row, int32_t nb, int32_t bs, int32_t off, __m256i idx) {
    __m256i mx = _mm256_set1_epi32(1);
    int32_t b = 0;
    for (; b + 8 <= nb; b += 8) {
        __m256i e = _mm256_and_si256(_mm256_srli_epi32(gather(row + b * bs + off, idx), 10), _mm256_set1_epi32(31));
        mx = _mm256_max_epi32(mx, e);
    }
    __m128i m = _mm_max_epi32(_mm256_castsi256_si128(mx), _mm256_extracti128_si256(mx, 1));
    m = _mm_max_epi32(m, _mm_shuffle_epi32(m, 0x4E));
    m = _mm_max_epi32(m, _mm_shuffle_epi32(m, 0xB1));
    int32_t emax = _mm_cvtsi128_si32(m);
    int32_t rest = row_emax(row + b * bs, nb - b, bs, off);
    return rest > emax ? rest : emax;
}

/* the weights . x products of one block: q8_0, or q4's unsigned nibbles (the 8 q4_0
 * subtracts from each is taken off the block sum: sum (q - 8) x = sum q x - 8 sum x) */
NK_AVX2_INLINE __m256i dot_block(int32_t wtype, const uint8_t *q, const int16_t *x) {
    return wtype == 8 ? dot_q8_0_avx2(q, x) : dot_nibbles_avx2(q, x);
}

/* the block sums of eight consecutive blocks, reduced pairwise as they are made */
NK_AVX2_INLINE __m256i block_sums8(int32_t wtype, const uint8_t *q, int32_t bs, const int16_t *x) {
    __m256i a = _mm256_hadd_epi32(dot_block(wtype, q, x), dot_block(wtype, q + bs, x + 32));
    __m256i b = _mm256_hadd_epi32(dot_block(wtype, q + 2 * bs, x + 64), dot_block(wtype, q + 3 * bs, x + 96));
    __m256i ab = _mm256_hadd_epi32(a, b); /* blocks 0-3: low lanes' sums | high lanes' sums */
    a = _mm256_hadd_epi32(dot_block(wtype, q + 4 * bs, x + 128), dot_block(wtype, q + 5 * bs, x + 160));
    b = _mm256_hadd_epi32(dot_block(wtype, q + 6 * bs, x + 192), dot_block(wtype, q + 7 * bs, x + 224));
    __m256i cd = _mm256_hadd_epi32(a, b); /* blocks 4-7 likewise */
    return _mm256_add_epi32(_mm256_permute2x128_si256(ab, cd, 0x20), _mm256_permute2x128_si256(ab, cd, 0x31));
}

/* q4 rows need sum(x) per block (q4_0: times 8), the same for every row: made once per call */
#define MAX_BLOCKS 2048 /* n_cols up to 65536 (the loader's limit on the feed-forward width) */

/* one kernel for the three block types; wtype is a constant in each caller below, so the
 * compiler makes three specialised loops */
NK_AVX2_INLINE void matvec_avx2(int32_t wtype, const uint8_t *w, int32_t n_rows, int32_t n_cols,
                                const int16_t *x, int32_t shx, int32_t *out) {
    int32_t nb = n_cols >> 5;
    int32_t bs = wtype == 8 ? BS_Q8_0 : wtype == 2 ? BS_Q4_0 : BS_Q4_1;
    int32_t q0 = wtype == 3 ? 4 : 2;
    int32_t sx[MAX_BLOCKS]; /* unused (and dropped) for q8_0 */
    if (wtype != 8) {
        for (int32_t b = 0; b < nb; b++) {
            sx[b] = hsum8(sum_x_avx2(x + (b << 5))) << (wtype == 2 ? 3 : 0);
        }
    }
    __m256i idx = block_offsets(bs);
    for (int32_t r = 0; r < n_rows; r++) {
        const uint8_t *row = w + (size_t)r * nb * bs;
        int32_t ed = row_emax_avx2(row, nb, bs, 0, idx);
        int32_t em = wtype == 3 ? row_emax_avx2(row, nb, bs, 2, idx) : 1;
        __m256i ved = _mm256_set1_epi32(ed), vem = _mm256_set1_epi32(em);
        __m256i accd = _mm256_setzero_si256(), accm = _mm256_setzero_si256();
        int32_t b = 0;
        for (; b + 8 <= nb; b += 8) {
            const uint8_t *p = row + b * bs;
            __m256i s = block_sums8(wtype, p + q0, bs, x + (b << 5));
            if (wtype == 2) {
                s = _mm256_sub_epi32(s, ld256(sx + b));
            }
            accd = acc_terms8(accd, s, gather(p, idx), ved);
            if (wtype == 3) {
                accm = acc_terms8(accm, ld256(sx + b), gather(p + 2, idx), vem);
            }
        }
        int64_t ad = hsum64x4(accd), am = hsum64x4(accm);
        for (; b < nb; b++) { /* the last nb % 8 blocks one at a time */
            const uint8_t *p = row + b * bs;
            int32_t s = hsum8(dot_block(wtype, p + q0, x + (b << 5)));
            ad += block_term(wtype == 2 ? s - sx[b] : s, rd16(p), ed);
            if (wtype == 3) {
                am += block_term(sx[b], rd16(p + 2), em);
            }
        }
        int32_t o = acc_out64(ad, 25 - ed - shx);
        if (wtype == 3) {
            o = (int32_t)((uint32_t)o + (uint32_t)acc_out64(am, 25 - em - shx));
        }
        out[r] = o;
    }
}

NK_AVX2 static void matvec_q8_0_avx2(const uint8_t *w, int32_t n_rows, int32_t n_cols,
                                     const int16_t *x, int32_t shx, int32_t *out) {
    matvec_avx2(8, w, n_rows, n_cols, x, shx, out);
}

NK_AVX2 static void matvec_q4_0_avx2(const uint8_t *w, int32_t n_rows, int32_t n_cols,
                                     const int16_t *x, int32_t shx, int32_t *out) {
    matvec_avx2(2, w, n_rows, n_cols, x, shx, out);
}

NK_AVX2 static void matvec_q4_1_avx2(const uint8_t *w, int32_t n_rows, int32_t n_cols,
                                     const int16_t *x, int32_t shx, int32_t *out) {
    matvec_avx2(3, w, n_rows, n_cols, x, shx, out);
}

int nk_simd_matvec(int32_t wtype, const uint8_t *w, int32_t n_rows, int32_t n_cols,
                   const int16_t *x, int32_t shx, int32_t *out) {
    int32_t level = nk_simd_level();
    if (level == NK_SIMD_AVX2 && (n_cols >> 5) <= MAX_BLOCKS) {
        if (wtype == 8) {
            matvec_q8_0_avx2(w, n_rows, n_cols, x, shx, out);
        } else if (wtype == 2) {
            matvec_q4_0_avx2(w, n_rows, n_cols, x, shx, out);
        } else {
            matvec_q4_1_avx2(w, n_rows, n_cols, x, shx, out);
        }
        return 1;
    }
    if (level == NK_SIMD_SSE2) {
        matvec_sse2(wtype, w, n_rows, n_cols, x, shx, out);
        return 1;
    }
    return 0;
}

#else

int32_t nk_simd_best(void) {
    return NK_SIMD_NONE;
}

#endif

int32_t nk_simd_level(void) {
    if (nk_simd_sel == 0) {
        nk_simd_sel = nk_simd_best() + 1;
    }
    return nk_simd_sel - 1;
}

void nk_simd_set(int32_t level) {
    nk_simd_sel = level + 1;
}
