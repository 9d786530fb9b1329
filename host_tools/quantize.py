#!/usr/bin/env python3
"""Re-store the weights of a GPT-2 GGUF file as another type (q8_0, q4_0, q4_1, q4_K, f16, f32).

  python host_tools/quantize.py model-f32.gguf model-q8_0.gguf q8_0
  python host_tools/quantize.py model-f32.gguf model-q4_0.gguf 2
  python host_tools/quantize.py model-f32.gguf model-q4_K.gguf q4_K --fallback q4_0
  python host_tools/quantize.py gpt2-Q4_K_M.gguf gpt2-q4_K.gguf q4_K    # a llama.cpp K-quant file

TYPE is a name or a ggml file type number: 7=q8_0 2=q4_0 3=q4_1 14=q4_K 1=f16 0=f32.
As in llama.cpp, only 2-D matrices (embeddings included) are quantized; norms and biases stay
f32, and a matrix whose rows are not a multiple of 32 stays f32. q4_K stores super-blocks of
256: a matrix whose rows are not a multiple of 256 is stored as --fallback (default q8_0;
llama.cpp picks q5_0, which nanollm does not run), and the table says so for that tensor.
The quantizers are our own numpy ones (nanollm_host/quants.py, quants_k.py), byte-identical
to ggml's reference quantizers. An input that is already quantized is dequantized to f32
first, so its rounding errors carry over (a tensor already stored as TYPE, or as the
fallback where it applies, is copied unchanged); inputs may hold any of the types above and
llama.cpp's q2_K, q3_K, q5_K, q6_K, q5_0 and q5_1 (read with the gguf package's dequantizers).
Prints a table of the tensors and the sizes before and after.
"""
import argparse
import os
import sys

from nanollm_host import gguf_model as gm
from nanollm_host.gguf_model import quantize_file


def print_table(rows, size_in, size_out, log=print):
    wn = max(len(r["name"]) for r in rows)
    ws = max(len("x".join(str(d) for d in r["shape"])) for r in rows)
    log("%-*s  %-*s  %-13s  %10s  %10s" % (wn, "tensor", ws, "shape", "type", "bytes in", "bytes out"))
    for r in rows:
        note = "  (copied as stored)" if r.get("kept") else ""
        if r["note"]:
            kept = "kept f32" if r["type"] == "f32" else "stored as %s" % r["type"]
            note = "  (%s: %s)" % (kept, r["note"])
        log("%-*s  %-*s  %-13s  %10d  %10d%s"
            % (wn, r["name"], ws, "x".join(str(d) for d in r["shape"]),
               "%s -> %s" % (r["type_in"], r["type"]), r["nbytes_in"], r["nbytes"], note))
    t_in = sum(r["nbytes_in"] for r in rows)
    t_out = sum(r["nbytes"] for r in rows)
    log("tensor data: %s -> %s (%.1f %%)" % (gm.format_bytes(t_in), gm.format_bytes(t_out), 100.0 * t_out / max(t_in, 1)))
    log("file size:   %s -> %s (%d -> %d bytes)" % (gm.format_bytes(size_in), gm.format_bytes(size_out), size_in, size_out))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="quantize.py", description=__doc__.split("\n\n")[0],
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:]),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", help="GGUF file to read (one of ours: architecture gpt2)")
    ap.add_argument("output", help="GGUF file to write (replaced only on success)")
    ap.add_argument("type", help="q8_0, q4_0, q4_1, q4_K, f16, f32 or ggml file type 7, 2, 3, 14, 1, 0")
    ap.add_argument("--fallback", default=gm.DEFAULT_FALLBACK, metavar="TYPE",
                    help="q4_K only: the type of matrices whose rows are not a multiple of 256 "
                         "(default %(default)s)")
    ap.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    a = ap.parse_args(argv)
    say = (lambda s: None) if a.quiet else print
    qtype = gm.parse_outtype(a.type)  # check before reading anything
    fallback = gm.parse_outtype(a.fallback)
    if fallback == "q4_K":
        raise gm.ToolError("--fallback q4_K: the fallback is for rows q4_K cannot store; choose q8_0, q4_0, q4_1, f16 or f32")
    if os.path.abspath(a.input) == os.path.abspath(a.output):
        say("note: output replaces the input file")
    rows = quantize_file(a.input, a.output, qtype, log=say, fallback=fallback)
    print_table(rows, os.path.getsize(a.input) if os.path.exists(a.input) else 0,
                os.path.getsize(a.output), log=say)
    return 0


if __name__ == "__main__":
    sys.exit(gm.run_tool(main, prog="quantize.py"))
