/* llama_quant: llama.cpp's own quantizers, to hold ours to them byte for byte.
 *
 *   llama_quant rows TYPE N_PER_ROW IN.f32 OUT.bin
 *       float32 rows (little-endian, N_PER_ROW each) through ggml_quantize_chunk with no
 *       importance matrix, as llama-quantize does without --imatrix; TYPE is ggml's type id
 *       (12 = q4_K). Writes the raw blocks.
 *   llama_quant model IN.gguf OUT.gguf FTYPE
 *       llama_model_quantize, llama-quantize's own path (FTYPE: llama_ftype, 15 = Q4_K_M).
 *
 * Built by nanollm_host/llamacpp.py (build_quant) against the static libraries of
 * `make llamacpp`. Prints one line of JSON on success.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml.h"
#include "llama.h"

static int rows(int type, long n_per_row, const char *in, const char *out) {
    FILE *f = fopen(in, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", in);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    long n = size / 4;
    if (n_per_row <= 0 || n % n_per_row) {
        fprintf(stderr, "%ld floats are not whole rows of %ld\n", n, n_per_row);
        fclose(f);
        return 1;
    }
    float *src = malloc(size ? size : 1);
    if (fread(src, 4, n, f) != (size_t)n) {
        fprintf(stderr, "short read on %s\n", in);
        fclose(f);
        return 1;
    }
    fclose(f);
    long nrows = n / n_per_row;
    size_t rs = ggml_row_size((enum ggml_type)type, n_per_row);
    void *dst = malloc(rs * nrows + 1);
    ggml_quantize_init((enum ggml_type)type);
    size_t wrote = ggml_quantize_chunk((enum ggml_type)type, src, dst, 0, nrows, n_per_row, NULL);
    FILE *g = fopen(out, "wb");
    if (!g || fwrite(dst, 1, wrote, g) != wrote) {
        fprintf(stderr, "cannot write %s\n", out);
        return 1;
    }
    fclose(g);
    printf("{\"type\": %d, \"rows\": %ld, \"row_bytes\": %zu, \"bytes\": %zu}\n", type, nrows, rs, wrote);
    free(src);
    free(dst);
    return 0;
}

static int model(const char *in, const char *out, int ftype) {
    llama_backend_init();
    struct llama_model_quantize_params p = llama_model_quantize_default_params();
    p.ftype = (enum llama_ftype)ftype;
    p.nthread = 1;
    uint32_t rc = llama_model_quantize(in, out, &p);
    llama_backend_free();
    if (rc) {
        fprintf(stderr, "llama_model_quantize failed (%u)\n", rc);
        return 1;
    }
    printf("{\"ftype\": %d}\n", ftype);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 6 && !strcmp(argv[1], "rows")) {
        return rows(atoi(argv[2]), atol(argv[3]), argv[4], argv[5]);
    }
    if (argc == 5 && !strcmp(argv[1], "model")) {
        return model(argv[2], argv[3], atoi(argv[4]));
    }
    fprintf(stderr, "usage: llama_quant rows TYPE N_PER_ROW IN.f32 OUT.bin\n"
                    "       llama_quant model IN.gguf OUT.gguf FTYPE\n");
    return 2;
}
