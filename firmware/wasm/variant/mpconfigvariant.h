// nanollm's variant of MicroPython's webassembly port: the pyscript variant's features
// (everything the npm package has) with nanollm_native built in as a user C module.
#define MICROPY_CONFIG_ROM_LEVEL                (MICROPY_CONFIG_ROM_LEVEL_FULL_FEATURES)
// the heap grows in chunks as the model needs it (a 30 MB model fits without a huge start)
#define MICROPY_GC_SPLIT_HEAP                   (1)
#define MICROPY_GC_SPLIT_HEAP_AUTO              (1)
