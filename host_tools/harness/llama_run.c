/* llama_run: the smallest llama.cpp driver nanollm needs for comparisons and benchmarks.
 *
 * Evaluates a prompt given as token ids (so both runtimes see the same tokens), then
 * continues it greedily (argmax, lowest id on ties), timing the prompt and generation
 * separately. Optionally writes the logits of every evaluated position as raw float32.
 *
 *   llama_run MODEL.gguf -p 1,2,3 -n 32 [-t THREADS] [-c CTX] [--kv-f32] [-l LOGITS.f32]
 *             [--one-by-one] [--tokenize TEXT]
 *
 * Prints one JSON object on stdout:
 *   {"n_vocab":..., "prompt":[...], "tokens":[...], "prompt_ms":..., "gen_ms":..., "n_gen":...,
 *    "threads":..., "load_ms":..., "system_info": "CPU : SSE3 = 1 | ... AVX2 = 1 | ..."}
 * (system_info: llama.cpp's own account of the instruction sets its CPU backend was built with)
 * --tokenize TEXT prints llama.cpp's own token ids for TEXT (no BOS) in "tokenized" and exits
 * after loading the vocabulary. Built by host_tools/nanollm_host/llamacpp.py against the static libllama.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llama.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int quiet_log_level = 1;

static void log_cb(enum ggml_log_level level, const char *text, void *user) {
    (void)user;
    if (level == GGML_LOG_LEVEL_ERROR || !quiet_log_level) fputs(text, stderr);
}

static void usage(void) {
    fputs("usage: llama_run MODEL.gguf -p ID,ID,... [-n N] [-t THREADS] [-c CTX] [--kv-f32]\n"
          "                 [-l LOGITS.f32] [--one-by-one] [--tokenize TEXT] [-v]\n"
          "  -p IDS        prompt token ids, comma separated (required unless --tokenize)\n"
          "  -n N          tokens to generate greedily (default 32)\n"
          "  -t THREADS    CPU threads (default 1)\n"
          "  -c CTX        context size (default: prompt + N)\n"
          "  --kv-f32      keep the KV cache in f32 (default f16, llama.cpp's default)\n"
          "  -l FILE       write float32 logits of every position (prompt and generated)\n"
          "  --one-by-one  evaluate the prompt one token per call (like a token-at-a-time runtime)\n"
          "  --tokenize T  print llama.cpp's token ids for text T and exit\n"
          "  -v            show llama.cpp's log\n", stderr);
}

static int parse_ids(const char *s, llama_token **out) {
    int cap = 16, n = 0;
    llama_token *v = malloc(cap * sizeof *v);
    while (*s) {
        char *end;
        long x = strtol(s, &end, 10);
        if (end == s) { free(v); return -1; }
        if (n == cap) { cap *= 2; v = realloc(v, cap * sizeof *v); }
        v[n++] = (llama_token)x;
        s = end;
        if (*s == ',') s++;
        else if (*s) { free(v); return -1; }
    }
    *out = v;
    return n;
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++) if (x[i] > x[best]) best = i;
    return best;
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *ids = NULL, *logits_path = NULL, *text = NULL;
    int n_gen = 32, threads = 1, n_ctx = 0, kv_f32 = 0, one_by_one = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(); return 0; }
        else if (!strcmp(a, "-p") && more) ids = argv[++i];
        else if (!strcmp(a, "-n") && more) n_gen = atoi(argv[++i]);
        else if (!strcmp(a, "-t") && more) threads = atoi(argv[++i]);
        else if (!strcmp(a, "-c") && more) n_ctx = atoi(argv[++i]);
        else if (!strcmp(a, "-l") && more) logits_path = argv[++i];
        else if (!strcmp(a, "--tokenize") && more) text = argv[++i];
        else if (!strcmp(a, "--kv-f32")) kv_f32 = 1;
        else if (!strcmp(a, "--one-by-one")) one_by_one = 1;
        else if (!strcmp(a, "-v")) quiet_log_level = 0;
        else if (a[0] != '-' && !model_path) model_path = a;
        else { fprintf(stderr, "llama_run: bad argument %s\n", a); usage(); return 2; }
    }
    if (!model_path || (!ids && !text) || n_gen < 0 || threads < 1) { usage(); return 2; }

    llama_log_set(log_cb, NULL);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    if (text) mp.vocab_only = 1;
    double t0 = now_ms();
    struct llama_model *model = llama_model_load_from_file(model_path, mp);
    if (!model) { fprintf(stderr, "llama_run: llama.cpp could not load %s\n", model_path); return 1; }
    double load_ms = now_ms() - t0;
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    int n_vocab = llama_vocab_n_tokens(vocab);

    if (text) {
        int len = (int)strlen(text);
        int n = -llama_tokenize(vocab, text, len, NULL, 0, 0, 0);
        llama_token *tok = malloc((n > 0 ? n : 1) * sizeof *tok);
        if (n > 0 && llama_tokenize(vocab, text, len, tok, n, 0, 0) < 0) { fputs("llama_run: tokenize failed\n", stderr); return 1; }
        printf("{\"n_vocab\": %d, \"tokenized\": [", n_vocab);
        for (int i = 0; i < n; i++) printf(i ? ", %d" : "%d", tok[i]);
        printf("]}\n");
        free(tok);
        llama_model_free(model);
        return 0;
    }

    llama_token *prompt;
    int n_prompt = parse_ids(ids, &prompt);
    if (n_prompt < 1) { fprintf(stderr, "llama_run: -p needs comma-separated token ids\n"); return 2; }
    for (int i = 0; i < n_prompt; i++)
        if (prompt[i] < 0 || prompt[i] >= n_vocab) { fprintf(stderr, "llama_run: token %d outside the vocabulary (0..%d)\n", prompt[i], n_vocab - 1); return 2; }

    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = n_ctx > 0 ? n_ctx : n_prompt + n_gen + 1;
    cp.n_batch = n_prompt > 1 ? n_prompt : 1;
    cp.n_ubatch = cp.n_batch;
    cp.n_threads = threads;
    cp.n_threads_batch = threads;
    cp.no_perf = 0;
    if (kv_f32) { cp.type_k = GGML_TYPE_F32; cp.type_v = GGML_TYPE_F32; }
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx) { fprintf(stderr, "llama_run: could not create a context of %u tokens\n", cp.n_ctx); return 1; }

    FILE *lf = NULL;
    if (logits_path && !(lf = fopen(logits_path, "wb"))) { fprintf(stderr, "llama_run: cannot write %s\n", logits_path); return 1; }

    struct llama_batch batch = llama_batch_init(n_prompt, 0, 1);
    int last = -1;
    double tp = now_ms();
    int step = one_by_one ? 1 : n_prompt;
    for (int s = 0; s < n_prompt; s += step) {
        int m = s + step <= n_prompt ? step : n_prompt - s;
        batch.n_tokens = m;
        for (int i = 0; i < m; i++) {
            batch.token[i] = prompt[s + i];
            batch.pos[i] = s + i;
            batch.n_seq_id[i] = 1;
            batch.seq_id[i][0] = 0;
            batch.logits[i] = lf != NULL || s + i == n_prompt - 1;
        }
        if (llama_decode(ctx, batch)) { fprintf(stderr, "llama_run: prompt decode failed\n"); return 1; }
        if (lf)
            for (int i = 0; i < m; i++) fwrite(llama_get_logits_ith(ctx, i), sizeof(float), n_vocab, lf);
    }
    last = argmax(llama_get_logits_ith(ctx, -1), n_vocab);
    double prompt_ms = now_ms() - tp;

    llama_token *out = malloc((n_gen + 1) * sizeof *out);
    double tg = now_ms();
    int n_out = 0;
    for (int k = 0; k < n_gen; k++) {
        out[n_out++] = last;
        if (k == n_gen - 1) break;  /* the last token needs no forward pass */
        batch.n_tokens = 1;
        batch.token[0] = last;
        batch.pos[0] = n_prompt + k;
        batch.n_seq_id[0] = 1;
        batch.seq_id[0][0] = 0;
        batch.logits[0] = 1;
        if (llama_decode(ctx, batch)) { fprintf(stderr, "llama_run: decode failed at %d\n", n_prompt + k); return 1; }
        const float *lg = llama_get_logits_ith(ctx, 0);
        if (lf) fwrite(lg, sizeof(float), n_vocab, lf);
        last = argmax(lg, n_vocab);
    }
    double gen_ms = now_ms() - tg;
    if (lf && fclose(lf)) { fprintf(stderr, "llama_run: writing %s failed\n", logits_path); return 1; }

    printf("{\"n_vocab\": %d, \"threads\": %d, \"load_ms\": %.3f, \"prompt_ms\": %.3f, \"n_prompt\": %d, "
           "\"gen_ms\": %.3f, \"n_gen_evals\": %d, \"prompt\": [",
           n_vocab, threads, load_ms, prompt_ms, n_prompt, gen_ms, n_gen > 0 ? n_gen - 1 : 0);
    for (int i = 0; i < n_prompt; i++) printf(i ? ", %d" : "%d", prompt[i]);
    printf("], \"tokens\": [");
    for (int i = 0; i < n_out; i++) printf(i ? ", %d" : "%d", out[i]);
    printf("], \"system_info\": \"");
    for (const char *c = llama_print_system_info(); *c; c++)  /* a JSON string: no quotes, no controls */
        if (*c != '"' && *c != '\\' && (unsigned char)*c >= 32) putchar(*c);
    printf("\"}\n");

    llama_batch_free(batch);
    llama_free(ctx);
    llama_model_free(model);
    free(prompt);
    free(out);
    return 0;
}
