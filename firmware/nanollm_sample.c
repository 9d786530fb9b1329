/* The sampler's scans over the vocabulary (lib/nanollm/sampling.py), in C: what
 * kernels_py.argmax_q, top_k_q, weights_q, top_p_q and draw_q compute, read that file for
 * the rules. A 50,257-token vocabulary makes these loops as long as a matrix row count:
 * in bytecode they cost more than the whole forward pass of the C kernels. */
#include "nanollm_kernels.h"

int32_t nk_argmax_q(const int32_t *lg, int32_t n) {
    int32_t best = 0;
    int32_t bv = lg[0];
    for (int32_t i = 1; i < n; i++) {
        if (lg[i] > bv) {
            bv = lg[i];
            best = i;
        }
    }
    return best;
}

int32_t nk_top_k_q(const int32_t *lg, int32_t n, int32_t k, int32_t *top) {
    int32_t cnt = 0, tv = 0;
    for (int32_t i = 0; i < n; i++) {
        int32_t v = lg[i], j;
        if (cnt < k) {
            j = cnt++;
        } else if (v > tv) {
            j = k - 1;
        } else {
            continue; /* the common case once the list is full: one compare per token */
        }
        while (j > 0 && lg[top[j - 1]] < v) {
            top[j] = top[j - 1];
            j--;
        }
        top[j] = i;
        if (cnt == k) {
            tv = lg[top[k - 1]];
        }
    }
    return cnt;
}

int32_t nk_weights_q(const int32_t *lg, int32_t n, int32_t bv, int32_t inv_t_q10, int32_t cutoff,
                     int32_t p_shift, int32_t *p) {
    int32_t total = 0;
    for (int32_t i = 0; i < n; i++) {
        int64_t d = (int64_t)bv - lg[i]; /* >= 0 (bv is the largest); 64 bits: any two int32 */
        int32_t w = 0;
        if (d < cutoff) {
            w = nk_exp_neg_q12((int32_t)(((d >> 4) * inv_t_q10) >> 10)) >> p_shift;
        }
        p[i] = w;
        total += w;
    }
    return total;
}

int32_t nk_top_p_q(int32_t *p, int32_t n, int32_t want, int32_t hi) {
    int32_t lo = 1;
    while (lo < hi) {
        int32_t mid = (int32_t)(((int64_t)lo + hi + 1) >> 1);
        int64_t mass = 0;
        for (int32_t i = 0; i < n; i++) {
            if (p[i] >= mid) {
                mass += p[i];
            }
        }
        if (mass >= want) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    int32_t total = 0;
    for (int32_t i = 0; i < n; i++) {
        if (p[i] < lo) {
            p[i] = 0;
        }
        total += p[i];
    }
    return total;
}

int32_t nk_draw_q(const int32_t *p, int32_t n, int32_t r) {
    for (int32_t i = 0; i < n; i++) {
        r -= p[i];
        if (r < 0) {
            return i;
        }
    }
    return -1;
}
