# The default model, its data, the test fixtures and the generated tables.
#   make data       fetch the GPT-2 vocabulary, the corpus and the extra plays into .cache/
#   make model      retrain lib/nanollm/model.gguf from scratch (docs/training.md)
#   make check      the runtime against the numpy reference on MODEL
#   make fixtures   rebuild tests/fixtures (needs torch + transformers; run by hand)
#   make tables     regenerate lib/nanollm/tables.py and unicode_ranges.py
#   make eval-text  held-out loss and the English-word share of MODEL's generated text

# host_tools/eval_text.py scores generated words against Debian's word list
APT_PACKAGES += wamerican

.PHONY: data model check fixtures tables eval-text

##@ Models and data

data: $(STAMP) $(STAMP_PATHS) ## fetch the reference data (GPT-2 vocab, corpus, extra plays) into .cache/
	$(PY) host_tools/fetch/fetch_data.py all

# The default model, retrained from scratch (deterministic for the seed up to float noise;
# 28 minutes on 2 shared cores, about 18 on idle ones). Writes lib/nanollm/model.gguf; see
# docs/training.md. The extra plays are training text only: the held-out split stays
# tinyshakespeare's last tenth.
model: $(STAMP) $(STAMP_PATHS) data ## retrain the default model from scratch (18-30 min on 2 cores)
	OPENBLAS_NUM_THREADS=1 $(PY) host_tools/train.py --corpus .cache/corpus/tinyshakespeare.txt \
		--extra .cache/corpus/shakespeare_plays.txt \
		--out .cache/model_default --overwrite --layers 3 --embd 96 --heads 3 --ctx 128 --vocab 512 \
		--steps 3000 --batch 32 --lr 3e-3 --seed 1337 --val-every 200 \
		--gguf lib/nanollm/model.gguf --outtype q8_0

# How good the model's English is: held-out loss, bits per character, and the share of
# English words the runtime writes at its default settings (host_tools/eval_text.py)
eval-text: $(STAMP) $(STAMP_PATHS) data ## held-out loss and English-word share of MODEL's generated text
	$(PY) host_tools/eval_text.py $(MODEL)

check: $(STAMP) $(STAMP_PATHS) ## compare the runtime with the numpy reference on MODEL
	$(PY) host_tools/check.py $(MODEL)

fixtures: $(STAMP_DEV) $(STAMP_PATHS) ## rebuild tests/fixtures (torch + transformers; run by hand)
	$(PY) host_tools/gen/make_fixtures.py

tables: $(STAMP) $(STAMP_PATHS) ## regenerate lib/nanollm/tables.py and unicode_ranges.py/.bin
	$(PY) host_tools/gen/gen_tables.py
	$(PY) host_tools/gen/gen_unicode_ranges.py
