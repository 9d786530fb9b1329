# nanollm_native as a user C module, for ports built with make (unix, qemu, ...):
#   make -C ports/unix USER_C_MODULES=<repo>/firmware
# (make-based ports take the directory that holds this module's folder.) The same source
# as the dynamic module (Makefile here); the kernels are in the folder above.
NANOLLM_NATIVE_DIR := $(USERMOD_DIR)
NANOLLM_FW_DIR := $(abspath $(USERMOD_DIR)/..)
NANOLLM_GEN_DIR := $(BUILD)/nanollm_gen

# The GELU/exp2 tables header, from lib/nanollm/tables.py (the bytes the Python kernels
# use); the generator only rewrites it when its text changes.
NANOLLM_GEN_OUT := $(shell $(PYTHON) $(NANOLLM_FW_DIR)/make_tables_h.py $(NANOLLM_GEN_DIR) && echo ok)
ifneq ($(NANOLLM_GEN_OUT),ok)
$(error nanollm_native: generating the kernel tables failed (firmware/make_tables_h.py))
endif

SRC_USERMOD_C += $(NANOLLM_NATIVE_DIR)/nanollm_native.c
SRC_USERMOD_LIB_C += $(NANOLLM_FW_DIR)/nanollm_kernels.c $(NANOLLM_FW_DIR)/nanollm_simd.c \
	$(NANOLLM_FW_DIR)/nanollm_sample.c
CFLAGS_USERMOD += -I$(NANOLLM_FW_DIR) -I$(NANOLLM_GEN_DIR)
