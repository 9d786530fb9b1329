/* The fp16 block scales of ggml's quantized blocks, as the integer kernels read them:
 * value = man * 2**(exp - 25) (kernels_py._f16_man, _f16_exp). Shared by the plain C
 * kernels (nanollm_kernels.c) and their SIMD forms (nanollm_simd.c). */
#ifndef NANOLLM_BLOCKS_H
#define NANOLLM_BLOCKS_H

#include <stdint.h>

/* run once per 32 MACs: inline them even at -Os */
#if defined(__GNUC__)
#define NK_BLOCK_INLINE static inline __attribute__((always_inline))
#else
#define NK_BLOCK_INLINE static inline
#endif

NK_BLOCK_INLINE uint32_t rd16(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8);
}

NK_BLOCK_INLINE int32_t f16_exp(uint32_t h) {
    int32_t e = (h >> 10) & 31;
    return e ? e : 1;
}

NK_BLOCK_INLINE int32_t f16_man(uint32_t h) {
    int32_t m = h & 1023;
    if ((h >> 10) & 31) {
        m |= 1024;
    }
    return (h & 0x8000) ? -m : m;
}

#endif
