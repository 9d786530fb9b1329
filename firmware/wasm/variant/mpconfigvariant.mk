# Built with Debian's Emscripten 3.1.6 (see firmware/wasm/README.md for why each flag).
JSFLAGS += -s ALLOW_MEMORY_GROWTH
# an ES module: the page's worker imports it (3.1.6 does not infer this from .mjs)
JSFLAGS += -s EXPORT_ES6=1
# link-time optimisation (wasm-opt) and no runtime assertions: about 1.7x faster than -O0
JSFLAGS += -O2
# asyncio only: Debian's MicroPython source has no micropython-lib
FROZEN_MANIFEST ?= variants/manifest.py
