"""nanollm's shared host-side code: the library the commands in host_tools/ and the
harnesses in host_tools/harness/ are built from.

    gguf_model   read/write GGUF and Hugging Face GPT-2 checkpoints with numpy
    quants       ggml's block quantizers (q8_0, q4_0, q4_1; q4_K in quants_k) in numpy
    kernel_spec  the numpy statement of every integer kernel (the spec the runtimes meet)
    reference    an independent float64 forward pass of GPT-2
    llamacpp     build and drive llama.cpp beside us
    paths        where things are in the repository
    tools        where the external programs are (micropython, mpy-cross, qemu, ...)
    boards       the board profiles in boards/
    board_io     talking to a MicroPython board over mpremote
    testmodels   the models tests and harnesses make

It is importable from any script under host_tools/ because `make setup` puts host_tools/
and lib/ on the venv's path (a .pth file): the one bootstrap, instead of path insertions.
"""
