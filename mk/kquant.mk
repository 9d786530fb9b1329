# K-quants (issue 17): a trained GPT-2 whose rows are whole q4_K super-blocks (width 256,
# ffn 1024), and the held-out NLL of each weight type on it under MicroPython.
#   make model-k256     train it once into .cache/k256 (34 min measured on two busy cores)
#   make kquant-nll     the NLL table per weight type -> docs/kquants.md

K256_DIR := .cache/k256
K256_F32 := $(K256_DIR)/model-f32.gguf

.PHONY: model-k256 kquant-nll

##@ K-quants

model-k256: $(K256_F32) ## a 256-wide trained GPT-2 for q4_K (cached in .cache/k256)

$(K256_F32): | $(STAMP) $(STAMP_PATHS) data
	OPENBLAS_NUM_THREADS=1 $(PY) host_tools/train.py --corpus .cache/corpus/tinyshakespeare.txt \
		--out $(K256_DIR)/run --overwrite --layers 2 --embd 256 --heads 4 --ctx 64 --vocab 512 \
		--steps 1200 --batch 16 --threads 1 --val-every 200 --gguf $@ --outtype f32

kquant-nll: $(K256_F32) $(STAMP) $(STAMP_PATHS) ## held-out NLL per weight type on the 256-wide model -> docs/kquants.md
	$(PY) host_tools/harness/kquant_nll.py $(K256_F32) --out docs/kquants.md
